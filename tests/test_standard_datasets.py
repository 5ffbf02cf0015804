"""The standard datasets on their real released files (tests/fixtures/), and what prepare makes of them."""

import json
import mmap
import re
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import scipy.io
from matfiles import write_h5, write_mat73

from hashbench.cli import main
from hashbench.datasets import mirflickr25k, mscoco, nuswide
from hashbench.devkit.conformance import check_dataset
from hashbench.errors import UsageError
from hashbench.harness.runner import load_dataset
from hashbench.ingest.layouts import Protocol, prepare
from hashbench.ingest.prepared import DATA_ENV, load_prepared, prepared_folder
from hashbench.ingest.textfiles import caption_words, read_label_names, read_name_lists

FIXTURES = Path(__file__).parent / "fixtures"
MIR = FIXTURES / "mirflickr25k"


@pytest.fixture
def data_root(tmp_path, monkeypatch):
    root = tmp_path / "data"
    monkeypatch.setenv(DATA_ENV, str(root))
    return root


def mirflickr_folder(root: Path, image_rows: int | None = 20015) -> Path:
    """The real MIRFlickr text files, plus image features (random: for the mechanics, not for scores)."""
    folder = root / "mirflickr25k"
    folder.mkdir(parents=True)
    for name in ("all_tags.txt", "all_labels.txt", "TagList.txt"):
        shutil.copy(MIR / name, folder / name)
    if image_rows:
        features = np.random.default_rng(0).standard_normal((image_rows, 32)).astype(np.float32)
        np.save(folder / "image_features.npy", features)
    return folder


def memory_mapped(array: np.ndarray) -> bool:
    """Whether ``array`` is a view of a memory-mapped file (not a copy in memory)."""
    while array is not None and not isinstance(array, mmap.mmap | np.memmap):
        array = getattr(array, "base", None)
    return array is not None


# --- the real files parse with the documented counts ---------------------------------------------------------------


def test_mirflickr_text_files_give_20015_items_24_labels_and_the_1386_tag_vocabulary():
    layout = mirflickr25k.read_text_layout(MIR)
    assert layout.labels.shape == (20015, 24) and layout.text.shape == (20015, 1386)
    assert layout.keep.all()  # every item has a label and a tag of the vocabulary
    assert layout.text.nnz / 20015 == pytest.approx(4.6, abs=0.05)
    tags = read_name_lists(MIR / "all_tags.txt")
    assert sum(len(set(item)) for item in tags) == layout.text.nnz  # every tag is in TagList.txt
    assert tags[8610].count("istanbul") == 2 and "türkiye" in tags[8610]  # a repeated tag counts once; UTF-8 kept


def test_mirflickr_label_columns_are_the_concepts_in_alphabetical_order():
    """Per-label frequencies of all_labels.txt equal the counts of the names in labels_annotation.txt."""
    labels = mirflickr25k.read_text_layout(MIR).labels
    named = Counter(name for names in read_name_lists(MIR / "labels_annotation.txt") for name in names)
    assert list(mirflickr25k.CLASS_NAMES) == sorted(mirflickr25k.CLASS_NAMES)
    assert dict(zip(mirflickr25k.CLASS_NAMES, labels.sum(axis=0).tolist(), strict=True)) == dict(named)
    assert labels.sum(axis=0)[mirflickr25k.CLASS_NAMES.index("structures")] == 8463  # the most frequent
    assert labels.sum(axis=0)[mirflickr25k.CLASS_NAMES.index("baby")] == 179  # the rarest


def test_nuswide_ground_truth_gives_81_concepts_and_the_21_most_frequent_cover_195834_images():
    concepts, labels = nuswide.read_ground_truth(FIXTURES / "nuswide" / "Groundtruth.zip")
    assert labels.shape == (269648, 81) and len(concepts) == 81
    top21 = nuswide.most_frequent_concepts(concepts, labels, 21)
    assert [concepts[j] for j in top21] == list(nuswide.CLASS_NAMES)
    assert labels[:, top21].any(axis=1).sum() == 195834
    assert labels[:, nuswide.most_frequent_concepts(concepts, labels, 10)].any(axis=1).sum() == 186577
    assert labels[:, concepts.index("sky")].sum() == 74190  # the most frequent concept


def test_nuswide_ground_truth_reads_the_same_from_the_unpacked_folder(tmp_path):
    shutil.unpack_archive(FIXTURES / "nuswide" / "Groundtruth.zip", tmp_path / "Groundtruth")
    zipped = nuswide.read_ground_truth(FIXTURES / "nuswide" / "Groundtruth.zip")
    unpacked = nuswide.read_ground_truth(tmp_path / "Groundtruth")
    assert unpacked[0] == zipped[0]
    np.testing.assert_array_equal(unpacked[1], zipped[1])


def test_nuswide_dchmt_labels_give_190421_items_of_the_21_concepts_within_the_official_counts():
    labels = read_label_names(FIXTURES / "nuswide" / "dchmt_nuswide_labels_annotation.txt", nuswide.CLASS_NAMES)
    assert labels.shape == (190421, 21) and labels.any(axis=1).all()
    concepts, official = nuswide.read_ground_truth(FIXTURES / "nuswide" / "Groundtruth.zip")
    official_counts = official[:, [concepts.index(name) for name in nuswide.CLASS_NAMES]].sum(axis=0)
    assert (labels.sum(axis=0) <= official_counts).all()  # a cleaned subset of the official images


def test_mscoco_labels_give_80_categories_and_drop_the_1069_unlabelled_images(tmp_path):
    path = FIXTURES / "mscoco" / "dchmt_coco_labels_annotation.txt"
    labels = read_label_names(path, mscoco.CLASS_NAMES)
    assert labels.shape == (123287, 80) and (labels.sum(axis=0) > 0).all()
    assert (~labels.any(axis=1)).sum() == 1069
    (tmp_path / "labels_annotation.txt").symlink_to(path.resolve())
    layout = mscoco.read_text_layout(tmp_path)
    assert layout.keep.sum() == 122218 and layout.labels[layout.keep].shape[1] == 80


# --- line endings and encodings --------------------------------------------------------------------------------------


def test_crlf_lf_and_a_byte_order_mark_read_alike_with_non_ascii_tags(tmp_path):
    texts = {"lf": "café,été\nnight\n", "crlf": "café,été\r\nnight\r\n", "bom": "\ufeffcafé,été\r\nnight\r\n"}
    for name, text in texts.items():
        (tmp_path / name).write_bytes(text.encode("utf-8"))
        assert read_name_lists(tmp_path / name) == [["café", "été"], ["night"]], name


def test_a_file_that_is_not_utf8_is_named_with_its_line(tmp_path):
    (tmp_path / "all_tags.txt").write_bytes(b"sky\ncaf\xe9\n")
    with pytest.raises(UsageError, match=r"all_tags.txt: line 2: not UTF-8"):
        read_name_lists(tmp_path / "all_tags.txt")


# --- prepare: the protocol split, the memory-mapped cache, its checksum ----------------------------------------------


def test_prepare_reads_the_text_files_and_stores_the_protocol_split(data_root):
    mirflickr_folder(data_root)
    about = prepare(mirflickr25k.MIRFLICKR25K, data_root / "mirflickr25k", progress=False)
    assert {k: about["summary"][k] for k in ("items", "query", "database", "train")} == {
        "items": 20015, "query": 2000, "database": 18015, "train": 10000
    }  # fmt: skip
    dataset = load_dataset("mirflickr25k")
    assert memory_mapped(dataset.image) and memory_mapped(dataset.text)
    assert dataset.fingerprint == about["fingerprint"]
    assert np.intersect1d(dataset.query, dataset.database).size == 0
    assert np.isin(dataset.train, dataset.database).all()
    layout = mirflickr25k.read_text_layout(MIR)
    np.testing.assert_array_equal(dataset.text, layout.text.toarray())
    np.testing.assert_array_equal(dataset.labels, layout.labels)
    card = json.loads((prepared_folder("mirflickr25k") / "card.json").read_text())
    assert card["split_seed"] == 0 and card["label_frequencies"]["structures"] == 8463
    assert "seed 0" in dataset.card.protocol and "1,386-d" in dataset.card.features["text"]
    assert check_dataset(mirflickr25k.MIRFLICKR25K) == []


def test_the_split_is_fixed_by_its_seed():
    protocol = Protocol(queries=5, training=4)
    first, again, other = protocol.split(20, seed=0), protocol.split(20, seed=0), protocol.split(20, seed=1)
    for name in ("train", "query", "database"):
        np.testing.assert_array_equal(first[name], again[name])
    assert not np.array_equal(first["query"], other["query"])
    assert sorted([*first["query"], *first["database"]]) == list(range(20))


def test_a_changed_prepared_file_fails_the_checksum(data_root):
    mirflickr_folder(data_root)
    prepare(mirflickr25k.MIRFLICKR25K, data_root / "mirflickr25k", progress=False)
    image = np.load(prepared_folder("mirflickr25k") / "image.npy", mmap_mode="r+")
    image[3, 3] += 1
    image.flush()
    del image
    with pytest.raises(UsageError, match="no longer matches the checksum"):
        load_prepared(prepared_folder("mirflickr25k"))


def test_image_features_of_only_the_kept_items_are_accepted_and_other_counts_named(data_root):
    folder = mirflickr_folder(data_root, image_rows=None)
    np.save(folder / "image_features.npy", np.zeros((20014, 8), dtype=np.float32))
    with pytest.raises(UsageError, match=r"image_features has 20,014 rows; expected one per item: 20,015"):
        prepare(mirflickr25k.MIRFLICKR25K, folder, progress=False)


def test_a_failed_prepare_leaves_the_previous_prepared_data_and_no_temporary_folder(data_root):
    folder = mirflickr_folder(data_root)
    prepare(mirflickr25k.MIRFLICKR25K, folder, progress=False)
    before = json.loads((prepared_folder("mirflickr25k") / "card.json").read_text())["fingerprint"]
    features = np.load(folder / "image_features.npy")
    features[17, 0] = np.nan
    np.save(folder / "image_features.npy", features)
    with pytest.raises(UsageError, match="NaN or inf in row 17"):
        prepare(mirflickr25k.MIRFLICKR25K, folder, progress=False)
    assert load_prepared(prepared_folder("mirflickr25k")).fingerprint == before
    assert sorted(p.name for p in folder.iterdir() if p.name.startswith(".")) == []


@pytest.mark.parametrize(
    ("files", "message"),
    [
        ((), "no dataset files in"),
        (("all_tags.txt", "all_labels.txt"), "TagList.txt: missing; expected the 1,386-tag vocabulary"),
        (("all_tags.txt", "all_labels.txt", "TagList.txt"), "image_features.npy (or .npz/.h5/.mat): missing"),
    ],
)
def test_a_missing_file_is_named_with_where_to_read_how_to_get_it(files, message, data_root):
    folder = data_root / "mirflickr25k"
    folder.mkdir(parents=True)
    for name in files:
        shutil.copy(MIR / name, folder / name)
    with pytest.raises(UsageError, match=re.escape(message)) as error:
        load_dataset("mirflickr25k")
    assert "README.md#" in str(error.value) and "\n" not in str(error.value)


# --- the other released layouts -------------------------------------------------------------------------------------


def wiki_arrays():
    mat = scipy.io.loadmat(FIXTURES / "wikiData_MTFH_onehot.mat")
    return {name: mat[name] for name in ("I_tr", "T_tr", "L_tr", "I_te", "T_te", "L_te")}


@pytest.mark.parametrize("kind", ["mat5", "mat73", "h5", "npz"])
def test_a_feature_file_in_any_format_prepares_with_its_own_split(kind, data_root):
    folder = data_root / "iaprtc12"
    folder.mkdir(parents=True)
    arrays = wiki_arrays()
    {"mat5": lambda: scipy.io.savemat(folder / "wiki.mat", arrays),
     "mat73": lambda: write_mat73(folder / "wiki.mat", **arrays),
     "h5": lambda: write_h5(folder / "wiki.h5", **arrays),
     "npz": lambda: np.savez(folder / "wiki.npz", **arrays)}[kind]()  # fmt: skip
    dataset = load_dataset("iaprtc12")
    bundled = load_dataset(str(FIXTURES / "wikiData_MTFH_onehot.mat"))
    for name in ("image", "text", "labels", "train", "query", "database"):
        np.testing.assert_array_equal(getattr(dataset, name), getattr(bundled, name))
    assert "file's own split" in dataset.card.protocol


def test_dcmh_matrices_in_several_v73_files_prepare_with_the_protocol_split(data_root):
    folder = data_root / "iaprtc12"
    folder.mkdir(parents=True)
    arrays = wiki_arrays()
    image, text = np.vstack([arrays["I_tr"], arrays["I_te"]]), np.vstack([arrays["T_tr"], arrays["T_te"]])
    labels = np.vstack([arrays["L_tr"], arrays["L_te"]]).astype(bool)
    write_mat73(folder / "iapr-fall.mat", FAll=image)
    write_mat73(folder / "iapr-yall.mat", YAll=text)
    write_mat73(folder / "iapr-lall.mat", LAll=labels)
    dataset = load_dataset("iaprtc12")
    np.testing.assert_array_equal(dataset.image, image.astype(np.float32))
    np.testing.assert_array_equal(dataset.labels, labels)
    assert (dataset.query.size, dataset.database.size, dataset.train.size) == (2000, 866, 866)


def matlab_cells(names: list[str]) -> np.ndarray:
    """An n x 1 MATLAB cell array of strings, as DCMH's FAll holds the image file names."""
    cells = np.empty((len(names), 1), dtype=object)
    cells[:, 0] = names
    return cells


def test_the_dcmh_release_of_mirflickr_prepares_once_extract_has_made_the_image_features(data_root):
    """The released files: LAll 20,015 x 24, YAll 20,015 x 1,386 and FAll (the file names) in v5 .mat files."""
    folder = data_root / "mirflickr25k"
    folder.mkdir(parents=True)
    layout = mirflickr25k.read_text_layout(MIR)
    names = [line for line in (MIR / "all_imgs.txt").read_text().splitlines() if line]
    scipy.io.savemat(folder / "mirflickr25k-lall.mat", {"LAll": layout.labels.astype(np.uint8)})
    scipy.io.savemat(folder / "mirflickr25k-yall.mat", {"YAll": layout.text.toarray()})
    scipy.io.savemat(folder / "mirflickr25k-fall.mat", {"FAll": matlab_cells(names)})
    with pytest.raises(UsageError, match="FAll lists image files: run `hashbench datasets extract mirflickr25k"):
        load_dataset("mirflickr25k")
    np.save(folder / "image_features.npy", np.random.default_rng(3).standard_normal((20015, 8)).astype(np.float32))
    dataset = load_dataset("mirflickr25k")
    np.testing.assert_array_equal(dataset.labels, layout.labels)
    np.testing.assert_array_equal(dataset.text, layout.text.toarray())
    assert (dataset.query.size, dataset.database.size, dataset.train.size) == (2000, 18015, 10000)
    assert "DCMH .mat" in dataset.card.source


def test_dcmh_raw_images_without_features_point_at_extract(data_root):
    folder = data_root / "mirflickr25k"
    folder.mkdir(parents=True)
    write_mat73(folder / "mirflickr25k.mat", IAll=np.zeros((4, 4, 3, 5), dtype=np.uint8),
                YAll=np.eye(5), LAll=np.eye(5, dtype=bool))  # fmt: skip
    with pytest.raises(UsageError, match="holds raw images \\(IAll\\): run `hashbench datasets extract mirflickr25k"):
        load_dataset("mirflickr25k")


def test_the_official_nuswide_files_keep_the_images_of_the_most_frequent_concepts(data_root):
    """Ground truth and AllTags1k.txt in their released formats, small: 12 images, 23 concepts."""
    folder = data_root / "nuswide"
    (folder / "Groundtruth" / "AllLabels").mkdir(parents=True)
    rng = np.random.default_rng(2)
    labels = rng.random((2200, 23)) < np.linspace(0.01, 0.3, 23)  # concept j is rarer than concept j + 1
    labels[:5] = False  # five images with no concept at all
    for j in range(23):
        lines = "".join(f"{int(value)}\n" for value in labels[:, j])
        (folder / "Groundtruth" / "AllLabels" / f"Labels_c{j:02d}.txt").write_text(lines)
    tags = rng.random((2200, 1000)) < 0.01
    (folder / "AllTags1k.txt").write_text("".join(" ".join(map(str, row.astype(int))) + "\n" for row in tags))
    np.save(folder / "image_features.npy", rng.standard_normal((2200, 8)).astype(np.float32))
    dataset = load_dataset("nuswide")
    kept = labels[:, 2:].any(axis=1)  # the 21 most frequent concepts: all but c00 and c01
    np.testing.assert_array_equal(dataset.labels, labels[kept][:, 2:])
    np.testing.assert_array_equal(dataset.text, tags[kept].astype(np.float32))
    card = json.loads((prepared_folder("nuswide") / "card.json").read_text())
    assert card["class_names"] == [f"c{j:02d}" for j in range(2, 23)]


def test_mscoco_captions_become_a_bag_of_the_most_frequent_words(data_root):
    folder = data_root / "mscoco"
    folder.mkdir(parents=True)
    lines = read_lines_of(FIXTURES / "mscoco" / "dchmt_coco_labels_annotation.txt")[:2105]
    (folder / "labels_annotation.txt").write_text("\n".join(lines) + "\n")
    captions = [f"A {' and a '.join(names.split(',')).lower()} in a photo." if names else "Nothing." for names in lines]
    (folder / "all_txts.txt").write_text("\r\n".join(captions) + "\r\n")
    np.save(folder / "image_features.npy", np.ones((2105, 4), dtype=np.float32))
    dataset = load_dataset("mscoco")
    labelled = [names for names in lines if names]
    assert dataset.labels.shape == (len(labelled), 80)
    card = json.loads((prepared_folder("mscoco") / "card.json").read_text())
    assert "bag of the most frequent caption words" in card["card"]["features"]["text"]
    words_of_first = set(caption_words(captions[lines.index(labelled[0])]))
    assert dataset.text[0].sum() == len(words_of_first)  # each distinct word once


def read_lines_of(path: Path) -> list[str]:
    return path.read_text(encoding="utf-8").splitlines()


def test_per_modality_matrices_prepare_without_any_text_files(data_root):
    folder = data_root / "nuswide"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(1)
    write_h5(folder / "image_features.h5", image_features=rng.standard_normal((2200, 16)))
    np.save(folder / "text_features.npy", rng.integers(0, 2, (2200, 12)).astype(np.float32))
    np.savez(folder / "labels.npz", labels=rng.integers(0, 2, (2200, 21)))
    dataset = load_dataset("nuswide")
    assert (dataset.query.size, dataset.database.size, dataset.train.size) == (2100, 100, 100)
    assert json.loads((prepared_folder("nuswide") / "card.json").read_text())["class_names"] == list(
        nuswide.CLASS_NAMES
    )


# --- the command line ----------------------------------------------------------------------------------------------


def test_datasets_info_shows_the_protocol_counts_from_the_text_files_alone(data_root, capsys):
    mirflickr_folder(data_root, image_rows=None)
    assert main(["datasets", "info", "mirflickr25k", "--data-dir", str(data_root)]) == 0
    out = capsys.readouterr().out
    assert "items 20,015 · query 2,000 · database 18,015 · train 10,000" in out
    assert "image_features.npy (or .npz/.h5/.mat): missing" in out and "| structures |    8463 |" in out


def test_prepare_from_a_folder_then_run_a_method_on_it(tmp_path, monkeypatch, capsys):
    monkeypatch.delenv(DATA_ENV, raising=False)
    source = mirflickr_folder(tmp_path / "downloads")
    root = tmp_path / "root"
    assert main(["datasets", "prepare", "mirflickr25k", "--from", str(source), "--data-dir", str(root)]) == 0
    assert "items 20,015 · query 2,000 · database 18,015 · train 10,000" in capsys.readouterr().out
    assert (root / "mirflickr25k" / "prepared" / "card.json").is_file()
    results = tmp_path / "results"
    args = ["run", "--method", "cmfh", "--dataset", "mirflickr25k", "--bits", "16", "--results", str(results)]
    assert main([*args, "--data-dir", str(root), "--format", "json"]) == 0
    (record,) = json.loads(capsys.readouterr().out)
    assert record["dataset"] == "mirflickr25k" and record["dataset_summary"]["database"] == 18015
    assert 0 < record["metrics"]["i2t"]["map"] <= 1
    assert main(["datasets", "info", "mirflickr25k", "--data-dir", str(root)]) == 0
    out = capsys.readouterr().out
    assert "state:          prepared" in out and f"fingerprint:    {record['dataset_fingerprint']}" in out


def test_datasets_list_and_info_of_the_bundled_set(capsys):
    assert main(["datasets", "list"]) == 0
    out = capsys.readouterr().out
    for name in ("wiki", "mirflickr25k", "nuswide", "mscoco", "iaprtc12"):
        assert name in out
    assert main(["datasets", "info", "wiki"]) == 0
    assert "items 2,866 · query 693 · database 2,173 · train 2,173" in capsys.readouterr().out


def test_prepare_of_a_bundled_dataset_is_a_usage_error(capsys):
    assert main(["datasets", "prepare", "wiki"]) == 2
    assert "expected one whose files users bring" in capsys.readouterr().err


def test_info_without_files_says_where_they_go(data_root, capsys):
    assert main(["datasets", "info", "mscoco"]) == 0
    out = capsys.readouterr().out
    assert str(data_root / "mscoco") in out and "labels_annotation.txt" in out

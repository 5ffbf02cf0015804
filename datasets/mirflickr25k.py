"""MIRFlickr-25K (Huiskes & Lew, MIR 2008): 20,015 Flickr image-tag pairs, 24 labels; the DCMH/SSAH protocol.

Besides the common layouts (see :mod:`hashbench.ingest.layouts`), the folder may hold
the text-file release passed around by the DCHMT line of work:
``all_tags.txt`` (comma-separated tags per item), ``all_labels.txt`` (24
space-separated 0/1 values per item, columns in the alphabetical concept
order below), ``TagList.txt`` (the 1,386-tag vocabulary, one per line) and
optionally ``all_imgs.txt`` (image file names, for ``extract``). The text is
the 0/1 bag of tags over ``TagList.txt``.
"""

from __future__ import annotations

from pathlib import Path

from hashbench.errors import UsageError
from hashbench.ingest.layouts import Protocol, StandardDataset, TextLayout, required_file
from hashbench.ingest.textfiles import bag_of_words, read_binary_rows, read_name_lists, read_vocabulary
from hashbench.registry import register_dataset

#: The 24 concepts, alphabetical: column j of all_labels.txt (and of DCMH's LAll) is the j-th.
CLASS_NAMES = (
    "animals", "baby", "bird", "car", "clouds", "dog", "female", "flower", "food", "indoor", "lake", "male",
    "night", "people", "plant_life", "portrait", "river", "sea", "sky", "structures", "sunset", "transport",
    "tree", "water",
)  # fmt: skip
TEXT_FILES = "all_tags.txt + all_labels.txt + TagList.txt"


def read_text_layout(folder: Path) -> TextLayout | None:
    """The text-file release in ``folder``, or ``None`` when it has no ``all_tags.txt``."""
    if not (folder / "all_tags.txt").is_file():
        return None
    tags_path = folder / "all_tags.txt"
    labels_path = required_file(folder, "all_labels.txt", "24 space-separated 0/1 labels per line of all_tags.txt")
    vocabulary_path = required_file(folder, "TagList.txt", "the 1,386-tag vocabulary, one tag per line")
    documents = read_name_lists(tags_path)
    labels = read_binary_rows(labels_path, len(CLASS_NAMES))
    if len(documents) != labels.shape[0]:
        raise UsageError(f"{labels_path}: {labels.shape[0]:,} lines but {tags_path} has {len(documents):,}")
    vocabulary = read_vocabulary(vocabulary_path)
    text = bag_of_words(documents, vocabulary)
    return TextLayout(
        labels=labels,
        class_names=list(CLASS_NAMES),
        keep=labels.any(axis=1) & (text.getnnz(axis=1) > 0),
        files=[tags_path, labels_path, vocabulary_path],
        text=text,
        text_about=f"{len(vocabulary):,}-d 0/1 bag of tags over {vocabulary_path.name} (from {tags_path.name})",
    )


MIRFLICKR25K = register_dataset("mirflickr25k")(
    StandardDataset(
        name="mirflickr25k",
        title="MIRFlickr-25K: 20,015 Flickr image-tag pairs, 24 labels (bring the files; see README)",
        reference="Huiskes & Lew, The MIR Flickr Retrieval Evaluation, ACM MIR 2008",
        licence="Flickr images under Creative Commons; see the MIRFlickr terms (press.liacs.nl/mirflickr)",
        labels=f"{len(CLASS_NAMES)} concepts, multi-label (alphabetical order)",
        protocol=Protocol(queries=2000, training=10000),
        class_names=CLASS_NAMES,
        read_text_layout=read_text_layout,
        text_files=TEXT_FILES,
    )
)

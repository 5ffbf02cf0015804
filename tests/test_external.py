"""Codes made elsewhere score exactly as the run that made them, in every release layout and file format."""

import numpy as np
import pytest
import scipy.io
from matfiles import write_h5, write_mat73

from hashbench.cli import main
from hashbench.codes import unpack
from hashbench.errors import UsageError
from hashbench.harness.external import LAYOUTS, evaluate_codes, read_codes
from hashbench.harness.runner import RunConfig, execute, load_dataset, make_method
from hashbench.harness.store import CODE_ARRAYS, ResultsStore, method_label
from hashbench.reports.tables import timings

BITS = 16


@pytest.fixture(scope="module")
def wiki():
    return load_dataset("wiki")


@pytest.fixture(scope="module")
def cmfh_run(wiki):
    config = RunConfig("cmfh", bits=BITS)
    return execute(config, wiki, make_method(config))


def signs(result):
    """The run's codes as a release saves them: ±1 doubles, one row per item."""
    return {part: unpack(result.codes[part], BITS).astype(np.float64) * 2 - 1 for part in CODE_ARRAYS}


def write_layout(path, layout, codes, kind):
    arrays = {name: codes[part] for part, name in zip(CODE_ARRAYS, LAYOUTS[layout], strict=True) if part in codes}
    if kind == "mat5":
        scipy.io.savemat(path, arrays)
    elif kind == "mat73":
        write_mat73(path, **arrays)
    elif kind == "h5":
        write_h5(path, **arrays)
    else:
        np.savez(path, **arrays)
    return path


@pytest.mark.parametrize(
    ("layout", "kind", "values"),
    [
        ("dcmh", "mat5", "signs"),
        ("dcmh", "mat73", "signs"),
        ("djsrh", "npz", "zero-one"),
        ("hashbench", "h5", "packed"),
    ],
)
def test_saved_codes_score_exactly_as_the_run_that_made_them(layout, kind, values, cmfh_run, wiki, tmp_path):
    codes = {
        "signs": signs(cmfh_run),
        "zero-one": {part: (array > 0).astype(np.int32) for part, array in signs(cmfh_run).items()},
        "packed": cmfh_run.codes,
    }[values]
    suffix = {"mat5": ".mat", "mat73": ".mat", "h5": ".h5", "npz": ".npz"}[kind]
    path = write_layout(tmp_path / f"release{suffix}", layout, codes, kind)
    record, packed = evaluate_codes(path, wiki)
    assert record.metrics == cmfh_run.record.metrics
    assert record.curves == cmfh_run.record.curves
    assert record.external["layout"] == layout and record.bits == BITS
    for part in CODE_ARRAYS:
        np.testing.assert_array_equal(packed[part], cmfh_run.codes[part])


def test_the_command_stores_an_external_record_that_tables_mark_and_timings_leave_out(cmfh_run, tmp_path, capsys):
    path = write_layout(tmp_path / "codes.mat", "dcmh", signs(cmfh_run), "mat5")
    results = tmp_path / "results"
    assert main(["evaluate", "--codes", str(path), "--name", "cmfh-release", "--results", str(results)]) == 0
    assert "cmfh-release" in capsys.readouterr().out
    (record,) = ResultsStore(results).records()
    assert method_label(record) == "cmfh-release [external]"
    assert record.timings["fit_s"] is None and record.params_source["kind"] == "external codes"
    assert main(["table", "--results", str(results)]) == 0
    assert "cmfh-release [external]" in capsys.readouterr().out
    with pytest.raises(UsageError, match="no records"):
        timings([record])


def test_scoring_the_same_file_again_replaces_its_record(cmfh_run, tmp_path):
    path = write_layout(tmp_path / "codes.npz", "djsrh", signs(cmfh_run), "npz")
    for _ in range(2):
        assert main(["evaluate", "--codes", str(path), "--results", str(tmp_path / "r")]) == 0
    assert len(ResultsStore(tmp_path / "r").records()) == 1


def broken(codes, change):
    codes = dict(codes)
    change(codes)
    return codes


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: c.pop("database_text"), r"the dcmh layout lacks rBY; expected all of qBX, qBY, rBX, rBY"),
        (
            lambda c: c.update(query_image=c["query_image"][:-1]),
            r"'qBX' has 692 rows; expected 693, one per item of "
            r"the query split of dataset 'wiki'",
        ),
        (lambda c: c.update(query_text=c["query_text"] * 0.5), r"'qBY': values \[-0.5, 0.5\]\.\.\.; expected binary"),
        (lambda c: c.update(database_image=c["database_image"][:, :8]), r"code lengths differ \(qBX 16, qBY 16, rBX 8"),
        (
            lambda c: c.update(query_image=c["query_image"][None]),
            r"'qBX': shape \(1, 693, 16\); expected a non-empty "
            r"matrix",
        ),
    ],
    ids=["missing-array", "row-count", "not-binary", "lengths-differ", "not-a-matrix"],
)
def test_bad_code_files_are_one_line_errors_naming_file_and_array(change, message, cmfh_run, wiki, tmp_path):
    path = write_layout(tmp_path / "bad.mat", "dcmh", broken(signs(cmfh_run), change), "mat5")
    with pytest.raises(UsageError, match=message) as error:
        read_codes(path, wiki)
    assert str(path) in str(error.value) and "\n" not in str(error.value)


def test_a_transposed_matrix_gets_a_hint_and_a_file_of_no_layout_lists_them(cmfh_run, wiki, tmp_path):
    codes = broken(signs(cmfh_run), lambda c: c.update(query_image=np.ones((BITS, 693))))
    path = write_layout(tmp_path / "t.npz", "dcmh", codes, "npz")
    with pytest.raises(UsageError, match=r"has 16 rows \(one column per item: is it transposed\?\)"):
        read_codes(path, wiki)
    np.savez(tmp_path / "other.npz", B=np.ones((3, 4)))
    with pytest.raises(UsageError, match=r"no code arrays found \(it holds B\); expected .*dcmh: qBX, qBY, rBX, rBY"):
        read_codes(tmp_path / "other.npz", wiki)


def test_packed_codes_take_their_length_from_bits_and_bad_names_are_refused(cmfh_run, wiki, tmp_path):
    path = write_layout(tmp_path / "p.npz", "hashbench", cmfh_run.codes, "npz")
    assert read_codes(path, wiki, bits=12)[2] == 12
    with pytest.raises(UsageError, match="2 bytes of packed codes per row; expected 3 for 24-bit codes"):
        read_codes(path, wiki, bits=24)
    with pytest.raises(UsageError, match="name 'a b'"):
        evaluate_codes(path, wiki, "a b")
    assert main(["evaluate", "--codes", str(tmp_path / "none.npz"), "--results", str(tmp_path / "r")]) == 2
    assert not (tmp_path / "r").exists()

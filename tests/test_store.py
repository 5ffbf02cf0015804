"""The results store: atomic writes, recognising runs, the tidy frame."""

import json

import numpy as np
import pytest
from records import SHIPPED, shipped_record

from hashbench.files import atomic_write
from hashbench.harness.record import SCHEMA_VERSION, RunRecord, migrate
from hashbench.harness.store import ResultsStore


def record(run_id="abc123", method="cmfh", seed=0, value=0.25):
    """A shipped Wikipedia record with the fields a test sets (one mAP per task)."""
    metrics = {"i2t": {"map": value}, "t2i": {"map": value + 0.1}}
    return shipped_record(run_id=run_id, method=method, seed=seed, metrics=metrics)


def codes():
    return {
        name: np.zeros((3, 2), dtype=np.uint8)
        for name in ("query_image", "query_text", "database_image", "database_text")
    }


def test_a_failed_write_leaves_neither_the_file_nor_a_temporary(tmp_path):
    def explode(file):
        file.write(b"half a record")
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        atomic_write(tmp_path / "run.json", explode)
    assert list(tmp_path.iterdir()) == []


def test_a_record_is_found_by_its_run_id_with_its_codes(tmp_path):
    store = ResultsStore(tmp_path / "store")
    assert store.get("abc123") is None and store.records() == []
    stored = store.write(record(), codes())
    assert store.get("abc123") == stored
    assert sorted(p.suffix for p in (tmp_path / "store").iterdir()) == [".json", ".npz"]
    np.testing.assert_array_equal(store.codes(stored)["query_text"], codes()["query_text"])


def test_the_frame_is_tidy(tmp_path):
    store = ResultsStore(tmp_path)
    store.write(record("r1", seed=0, value=0.2), codes())
    store.write(record("r2", seed=1, value=0.3), codes())
    frame = store.frame()
    assert len(frame) == 4  # 2 runs x 2 tasks x 1 metric
    assert set(frame.columns) >= {"run_id", "method", "dataset", "bits", "seed", "task", "metric", "value"}
    assert frame.query("task == 'i2t'")["value"].tolist() == [0.2, 0.3]


def test_an_unreadable_record_is_named(tmp_path):
    (tmp_path / "broken.json").write_text("{not json")
    with pytest.raises(ValueError, match=r"broken\.json: not a readable run record"):
        ResultsStore(tmp_path).records()


def test_a_record_of_no_known_layout_is_named(tmp_path):
    (tmp_path / "stray.json").write_text(json.dumps({"run_id": "x", "method": "cmfh"}))
    with pytest.raises(ValueError, match=r"stray\.json: not a run record of a known layout \(no field 'params'\)"):
        ResultsStore(tmp_path).records()


def test_records_are_plain_json(tmp_path):
    ResultsStore(tmp_path).write(record(), codes())
    (path,) = tmp_path.glob("*.json")
    assert json.loads(path.read_text())["codes_file"].endswith(".npz")


def test_written_files_get_the_permissions_of_a_plain_open(tmp_path):
    atomic_write(tmp_path / "a.json", lambda file: file.write(b"{}"))
    (tmp_path / "b.json").write_bytes(b"{}")
    assert (tmp_path / "a.json").stat().st_mode == (tmp_path / "b.json").stat().st_mode


def test_every_shipped_record_reads_as_a_run_record_unchanged():
    for path in SHIPPED:
        stored = json.loads(path.read_text())
        assert RunRecord.from_dict(stored).to_dict() == migrate(stored), path.name


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"colour": "blue"}, "an unknown field 'colour'"),
        (
            {"schema_version": SCHEMA_VERSION + 1},
            f"schema_version {SCHEMA_VERSION + 1}: newer than this hashbench reads",
        ),
    ],
)
def test_a_record_outside_the_layout_is_named_with_the_field(change, message, tmp_path):
    (tmp_path / "odd.json").write_text(json.dumps({**record().to_dict(), **change}))
    with pytest.raises(ValueError, match=rf"odd\.json: not a run record of a known layout \({message}"):
        ResultsStore(tmp_path).records()


def test_a_json_object_outside_the_layout_is_no_record():
    with pytest.raises(ValueError, match="an unknown field 'colour'"):
        RunRecord.from_dict({**record().to_dict(), "colour": "blue"})
    missing = record().to_dict()
    del missing["metrics"]
    with pytest.raises(ValueError, match="no field 'metrics'"):
        RunRecord.from_dict(missing)

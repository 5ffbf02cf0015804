"""Records of the older layout load, and `hashbench rescore` scores stored codes again without training."""

import json
import shutil
from pathlib import Path

import pytest

from hashbench.cli import main
from hashbench.harness.record import EVALUATION_VERSION, SCHEMA_VERSION, migrate
from hashbench.harness.runner import RunConfig, load_dataset, make_method, run_id
from hashbench.harness.store import ResultsStore
from hashbench.scoring import metrics

OLD_RECORDS = Path(__file__).parent / "fixtures" / "records_v1"
#: Two records of the first layout (run ids with the evaluation version hashed in), as hashbench wrote them
#: (fixtures/SOURCE.txt): CMFH at 16 bits, seed 0, with per-modality and with unified database codes.
OLD_STEMS = ("wiki__cmfh__16b__seed0__8b385b52dae8a720", "wiki__cmfh__16b__seed0__830752480305de5f")


@pytest.fixture
def old_store(tmp_path):
    for stem in OLD_STEMS:
        for suffix in (".json", ".npz"):
            shutil.copy(OLD_RECORDS / f"{stem}{suffix}", tmp_path / f"{stem}{suffix}")
    return tmp_path


def test_an_old_record_loads_with_the_id_a_run_of_its_configuration_gets_now(old_store):
    raw = json.loads((old_store / f"{OLD_STEMS[0]}.json").read_text())
    assert "schema_version" not in raw and raw["protocol_version"] == 1
    record = ResultsStore(old_store).records()[1]
    assert record.schema_version == SCHEMA_VERSION and record.evaluation_version == 1
    assert migrate(record.to_dict()) == record.to_dict() and "protocol_version" not in record.to_dict()
    config = RunConfig("cmfh", "wiki", bits=16, seed=0)
    assert record.run_id == run_id(config, make_method(config), load_dataset("wiki")) != raw["run_id"]
    assert ResultsStore(old_store).get(record.run_id).metrics == raw["metrics"]


def test_rescore_reproduces_the_stored_scores_and_renames_the_records_by_their_ids(old_store, capsys):
    before = {json.loads((old_store / f"{stem}.json").read_text())["db_codes"]: stem for stem in OLD_STEMS}
    old = {db: json.loads((old_store / f"{stem}.json").read_text()) for db, stem in before.items()}
    assert main(["rescore", "--results", str(old_store)]) == 0
    assert "rescored 2 records, skipped 0" in capsys.readouterr().out
    store = ResultsStore(old_store)
    records = {record.db_codes: record for record in store.records()}
    assert len(list(old_store.glob("*.json"))) == len(list(old_store.glob("*.npz"))) == 2
    for db, record in records.items():
        assert record.metrics == old[db]["metrics"] and record.curves == old[db]["curves"]
        assert record.rescored["from_evaluation_version"] == 1 and record.timings == old[db]["timings"]
        assert store.path_of(record.run_id).name == f"wiki__cmfh__16b__seed0__{record.run_id}.json"
        assert record.codes_file == f"wiki__cmfh__16b__seed0__{record.run_id}.npz"
    # the run is recognised as stored: nothing is trained again
    assert main(["run", "--method", "cmfh", "--bits", "16", "--results", str(old_store), "--format", "json"]) == 0
    assert "rescored" in json.loads(capsys.readouterr().out)[0]  # the stored record, not a fresh run's
    assert len(list(old_store.glob("*.json"))) == 2


def test_after_an_evaluation_change_rescoring_gives_what_a_fresh_run_gives(tmp_path, monkeypatch, capsys):
    stored, fresh = tmp_path / "stored", tmp_path / "fresh"
    arguments = ["run", "--method", "cmfh", "--bits", "16", "--format", "json"]
    assert main([*arguments, "--results", str(stored)]) == 0
    capsys.readouterr()
    changed = metrics.EvalConfig(map_at=(10,), precision_at=(3, 30), radius=1)
    monkeypatch.setattr(metrics, "EvalConfig", lambda: changed)
    monkeypatch.setattr("hashbench.harness.rescore.EVALUATION_VERSION", EVALUATION_VERSION + 1)
    assert main(["rescore", "--results", str(stored)]) == 0
    assert main([*arguments, "--results", str(fresh)]) == 0
    (rescored,), (ran,) = ResultsStore(stored).records(), ResultsStore(fresh).records()
    assert rescored.run_id == ran.run_id and rescored.evaluation_version == EVALUATION_VERSION + 1
    assert rescored.metrics == ran.metrics and rescored.curves == ran.curves
    assert "map@10" in rescored.metrics["i2t"] and "map@50" not in rescored.metrics["i2t"]


def test_a_record_whose_dataset_changed_is_left_as_it_was_and_the_command_fails(old_store, capsys):
    path = old_store / f"{OLD_STEMS[0]}.json"
    record = json.loads(path.read_text())
    path.write_text(json.dumps({**record, "dataset_fingerprint": "0" * 64}))
    assert main(["rescore", "--results", str(old_store)]) == 1
    out = capsys.readouterr().out
    assert f"skipped: {path.name}: dataset 'wiki' has changed since the run" in out
    assert "rescored 1 records, skipped 1" in out
    assert json.loads(path.read_text())["dataset_fingerprint"] == "0" * 64


def test_a_rewrite_killed_before_removing_the_old_file_leaves_one_record_per_run(old_store):
    store = ResultsStore(old_store)
    record, path = store.record_paths()[0]
    new_path = old_store / f"wiki__cmfh__16b__seed0__{record.run_id}.json"
    shutil.copy(path, new_path)  # the new file written, the old one not yet removed
    assert [p for _, p in ResultsStore(old_store).record_paths()].count(new_path) == 1
    assert len(ResultsStore(old_store).records()) == 2


def test_rescore_of_a_missing_folder_is_one_line(tmp_path, capsys):
    assert main(["rescore", "--results", str(tmp_path / "nowhere")]) == 2
    assert capsys.readouterr().err.strip() == f"hashbench: error: --results {tmp_path / 'nowhere'}: no such folder"

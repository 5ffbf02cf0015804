"""hashbench grid: the TOML schema, its one-line errors, the configurations, resume, and the shipped configs."""

import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import distributed
import pytest
import worker_crash

from hashbench import registry
from hashbench.cli import main
from hashbench.errors import UsageError
from hashbench.harness import grid as grid_module
from hashbench.harness.grid import MethodEntry, load_grid
from hashbench.harness.runner import RunConfig

CONFIGS = Path(__file__).resolve().parent.parent / "configs"

SMALL_GRID = """
[grid]
datasets = ["wiki"]
bits = [16, 32]
seeds = [0]

[[methods]]
name = "cmfh"

[[methods]]
name = "cca-itq"
params = { iters = 10 }
"""


def write(tmp_path, text, name="grid.toml"):
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def test_a_grid_expands_to_every_configuration_with_typed_parameters(tmp_path):
    grid = load_grid(write(tmp_path, SMALL_GRID))
    defaults, given = {"kind": "defaults"}, {"kind": "given"}
    assert grid.methods == (
        MethodEntry("cmfh", {}, params_source=defaults),
        MethodEntry("cca-itq", {"iters": 10}, params_source=given),
    )
    assert grid.configurations() == [
        RunConfig("cmfh", "wiki", 16, 0, {}, params_source=defaults),
        RunConfig("cmfh", "wiki", 32, 0, {}, params_source=defaults),
        RunConfig("cca-itq", "wiki", 16, 0, {"iters": 10}, params_source=given),
        RunConfig("cca-itq", "wiki", 32, 0, {"iters": 10}, params_source=given),
    ]


def test_database_codes_come_from_the_grid_the_entry_or_the_command_line(tmp_path):
    text = SMALL_GRID.replace('name = "cmfh"', 'name = "cmfh"\ndb_codes = "unified"')
    grid = load_grid(write(tmp_path, text))
    assert [entry.db_codes for entry in grid.methods] == ["unified", "modality"]
    assert {c.db_codes for c in grid.configurations() if c.method == "cmfh"} == {"unified"}
    both = load_grid(write(tmp_path, text + '\n[[methods]]\nname = "cmfh"\n'))
    assert [entry.db_codes for entry in both.methods] == ["unified", "modality", "modality"]
    overridden = load_grid(
        write(tmp_path, text.replace('name = "cca-itq"\n', "").replace("params = { iters = 10 }", 'name = "seph-km"')),
        db_codes="unified",
    )
    assert [entry.db_codes for entry in overridden.methods] == ["unified", "unified"]
    with pytest.raises(UsageError, match=r"cca-itq.*has no unified codes"):
        load_grid(write(tmp_path, SMALL_GRID), db_codes="unified")


def test_a_feature_file_is_found_beside_the_grid_file(tmp_path):
    grid = load_grid(write(tmp_path, SMALL_GRID.replace('"wiki"', '"data/mine.npz"')))
    assert grid.datasets == (str(tmp_path / "data" / "mine.npz"),)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("bits = [16, 32]", "bits = [16, 0]"), r"\[grid\] bits = \[16, 0\]: expected a list of integers >= 1"),
        (("seeds = [0]", "seeds = [-1]"), r"\[grid\] seeds = \[-1\]: expected a list of integers >= 0"),
        (("seeds = [0]", "seed = [0]"), r"\[grid\] has an unknown key 'seed'"),
        (('name = "cmfh"', 'name = "nope"'), r"#1 \(nope\): .*'nope'"),
        (("iters = 10", "iters = 1.5"), r"#2 \(cca-itq\): parameter iters=1.5: expected a number like 50"),
        (("iters = 10", "steps = 10"), r"#2 \(cca-itq\): parameter 'steps': no such parameter of method 'cca-itq'"),
        (('datasets = ["wiki"]', "datasets = []"), r"\[grid\] datasets = \[\]: expected a list"),
        (("[[methods]]", "[[method]]"), r"expected a \[grid\] table and at least one \[\[methods\]\] entry"),
        (("bits = [16, 32]", "bits = [16, 32"), "not a valid TOML file"),
        (("seeds = [0]", 'seeds = [0]\ndb_codes = "both"'), r"\[grid\] db_codes = 'both': expected one of"),
        (('name = "cca-itq"', 'name = "cca-itq"\ndb_codes = "unified"'), r"#2 \(cca-itq\): .*has no unified codes"),
    ],
)
def test_a_bad_grid_file_is_one_line_naming_the_file(tmp_path, change, message):
    path = write(tmp_path, SMALL_GRID.replace(*change))
    with pytest.raises(UsageError, match=message) as error:
        load_grid(path)
    assert str(error.value).startswith(str(path)) and "\n" not in str(error.value)


def test_a_missing_grid_file_exits_2_and_writes_nothing(tmp_path, capsys):
    assert main(["grid", str(tmp_path / "none.toml"), "--results", str(tmp_path / "out")]) == 2
    assert "none.toml: no such grid file" in capsys.readouterr().err
    assert not (tmp_path / "out").exists()


def test_a_grid_runs_what_is_missing_and_prints_its_table(tmp_path, capsys):
    path, results = write(tmp_path, SMALL_GRID), tmp_path / "results"
    assert main(["run", "--method", "cmfh", "--bits", "16", "--results", str(results)]) == 0
    capsys.readouterr()
    assert main(["grid", str(path), "--results", str(results)]) == 0
    out, err = capsys.readouterr()
    assert "[1/4] cmfh wiki 16 bits seed 0: already there" in err
    assert "[3/4] cca-itq (iters=10) wiki 16 bits seed 0:" in err and err.count("already there") == 1
    rows = [line for line in out.splitlines() if line.startswith("| c")]
    assert [row.split("|")[1].strip() for row in rows] == ["cca-itq (iters=10)", "cmfh"]
    assert len(list(results.glob("*.json"))) == 4
    assert main(["grid", str(path), "--results", str(results)]) == 0  # everything is there now
    assert capsys.readouterr().err.count("already there") == 4 and len(list(results.glob("*.json"))) == 4


@pytest.mark.parametrize("name", sorted(p.name for p in CONFIGS.glob("*.toml")))
def test_the_shipped_grids_are_valid(name):
    assert load_grid(CONFIGS / name).configurations()


def test_the_wikipedia_grid_covers_every_built_in_method():
    built_in = {entry.name for entry in registry.methods.entries() if entry.origin == "built-in"}
    assert {entry.name for entry in load_grid(CONFIGS / "wiki.toml").methods} == built_in


def test_a_run_that_raises_is_logged_and_the_grid_goes_on(tmp_path, capsys, monkeypatch):
    path, results = write(tmp_path, SMALL_GRID.replace("bits = [16, 32]", "bits = [16]")), tmp_path / "results"

    def breaks(self, train, bits, *, seed, device="cpu"):
        raise RuntimeError("diverged")

    monkeypatch.setattr(registry.methods.get("cmfh"), "fit", breaks)
    assert main(["grid", str(path), "--results", str(results)]) == 1
    err = capsys.readouterr().err
    assert "[1/2] cmfh wiki 16 bits seed 0: FAILED (RuntimeError: diverged)" in err and "1 run(s) failed" in err
    (failure,) = [json.loads(line) for line in (results / "failures.jsonl").read_text().splitlines()]
    assert failure["configuration"]["method"] == "cmfh" and "in breaks" in failure["traceback"]
    assert [p.name.split("__")[1] for p in results.glob("*.json")] == ["cca-itq"]
    monkeypatch.undo()
    assert main(["grid", str(path), "--results", str(results)]) == 0  # the failed run runs again, the rest is kept
    assert "[2/2] cca-itq (iters=10) wiki 16 bits seed 0: already there" in capsys.readouterr().err


def test_worker_processes_store_the_same_records_as_one_process(tmp_path, capsys):
    path = write(tmp_path, SMALL_GRID.replace('name = "cmfh"', 'name = "cvh"'))
    assert main(["grid", str(path), "--results", str(tmp_path / "one"), "--threads", "1"]) == 0
    assert main(["grid", str(path), "--results", str(tmp_path / "two"), "--workers", "2", "--threads", "2"]) == 0
    records, threads = {}, {}
    for folder in ("one", "two"):
        loaded = [json.loads(p.read_text()) for p in sorted((tmp_path / folder).glob("*.json"))]
        records[folder] = {r["run_id"]: r["metrics"] for r in loaded}
        threads[folder] = {size for r in loaded for size in [r["threads"], *r["machine"]["threads"].values()]}
    assert len(records["one"]) == 4 and records["one"] == records["two"]  # the same ids: one thread per run
    assert threads["one"] == threads["two"] == {1}  # two workers share the two threads


def test_a_killed_grid_resumes_without_losing_or_duplicating_a_record(tmp_path):
    path = write(
        tmp_path,
        SMALL_GRID.replace("bits = [16, 32]", "bits = [8, 16, 24, 32]").replace("seeds = [0]", "seeds = [0, 1]"),
    )
    results = tmp_path / "results"
    command = [sys.executable, "-m", "hashbench.cli", "grid", str(path), "--results", str(results)]
    grid = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while len(list(results.glob("*.json"))) < 2 and time.monotonic() < deadline and grid.poll() is None:
        time.sleep(0.05)
    grid.send_signal(signal.SIGKILL)
    grid.wait()
    stored_before = {p.name for p in results.glob("*.json")}
    assert 2 <= len(stored_before) < 16, "the grid should be killed part-way"
    finished = subprocess.run(command, capture_output=True, text=True, check=True)
    assert finished.stderr.count("already there") == len(stored_before)
    records = [json.loads(p.read_text()) for p in results.glob("*.json")]
    assert len(records) == 16 and len({r["run_id"] for r in records}) == 16
    assert stored_before <= {p.name for p in results.glob("*.json")}


def test_a_dask_cluster_stores_the_same_records_as_one_process(tmp_path, capsys):
    path = write(tmp_path, SMALL_GRID.replace('name = "cmfh"', 'name = "cvh"'))
    assert main(["grid", str(path), "--results", str(tmp_path / "one")]) == 0
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None) as cluster:
        assert (
            main(["grid", str(path), "--results", str(tmp_path / "dask"), "--scheduler", cluster.scheduler_address])
            == 0
        )
    records = {}
    for folder in ("one", "dask"):
        loaded = [json.loads(p.read_text()) for p in sorted((tmp_path / folder).glob("*.json"))]
        records[folder] = {r["run_id"]: r["metrics"] for r in loaded}
    assert len(records["one"]) == 4 and records["one"] == records["dask"]


def test_an_unreachable_scheduler_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(grid_module, "SCHEDULER_TIMEOUT", "2s")
    path = write(tmp_path, SMALL_GRID)
    assert main(["grid", str(path), "--results", str(tmp_path / "r"), "--scheduler", "tcp://127.0.0.1:9"]) == 2
    assert "--scheduler tcp://127.0.0.1:9: cannot connect to a Dask scheduler there" in capsys.readouterr().err


def test_quiet_prints_the_table_and_nothing_else(tmp_path, capsys):
    path = write(tmp_path, SMALL_GRID.replace("bits = [16, 32]", "bits = [16]"))
    assert main(["grid", str(path), "--results", str(tmp_path / "results"), "--quiet"]) == 0
    out, err = capsys.readouterr()
    assert err == "" and "| cca-itq (iters=10) |" in out


def test_runs_of_a_dead_worker_are_retried_once_and_a_second_death_is_logged(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(grid_module, "_execute_in_worker", worker_crash.execute_or_die)
    path = write(tmp_path, SMALL_GRID.replace("bits = [16, 32]", "bits = [16, 24, 32]"))
    results = tmp_path / "results"
    assert main(["grid", str(path), "--results", str(results), "--workers", "2"]) == 1
    failures = [json.loads(line) for line in (results / "failures.jsonl").read_text().splitlines()]
    assert sorted((f["configuration"]["method"], f["configuration"]["bits"]) for f in failures) == [
        ("cca-itq", 24), ("cmfh", 24)
    ]  # fmt: skip
    assert all("BrokenProcessPool" in f["error"] for f in failures)
    stored = sorted((r["method"], r["bits"]) for r in map(json.loads, map(Path.read_text, results.glob("*.json"))))
    assert stored == [("cca-itq", 16), ("cca-itq", 32), ("cmfh", 16), ("cmfh", 32)]

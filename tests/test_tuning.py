"""hashbench tune: the validation split of the training set, the search, resume after a kill, the tuning file."""

import dataclasses
import json
import signal
import sqlite3
import subprocess
import sys
import time

import numpy as np
import optuna
import pytest

from hashbench.cli import main
from hashbench.errors import UsageError
from hashbench.harness.runner import load_dataset
from hashbench.harness.tuning import TuneConfig, read_tuning_file, resolve_params, tune, validation_split

FAST = TuneConfig("cmfh", bits=(16,), trials=4, fixed=(("iters", 5),))


@pytest.fixture(scope="module")
def wiki():
    return load_dataset("wiki")


def trial_values(storage):
    study = optuna.load_study(study_name=None, storage=f"sqlite:///{storage}")
    return [(t.state.name, t.value, t.params) for t in study.trials]


def test_the_validation_split_is_a_seeded_partition_of_the_training_rows():
    fit, val = validation_split(100, 0.2, seed=3)
    assert len(val) == 20 and len(fit) == 80 and not set(fit) & set(val) and set(fit) | set(val) == set(range(100))
    again, _ = validation_split(100, 0.2, seed=3)
    other, _ = validation_split(100, 0.2, seed=4)
    np.testing.assert_array_equal(fit, again)
    assert not np.array_equal(fit, other)
    with pytest.raises(UsageError, match="expected a number between 0 and 1"):
        validation_split(100, 1.0, seed=0)


def test_tuning_never_reads_the_queries_nor_the_database(wiki, tmp_path):
    clean = tune(FAST, wiki, tmp_path / "clean.db")
    poisoned = dataclasses.replace(wiki, image=wiki.image.copy(), text=wiki.text.copy(), labels=wiki.labels.copy())
    outside = np.setdiff1d(np.arange(len(wiki.labels)), wiki.train)
    poisoned.image[outside] = np.nan  # Wikipedia's queries; validation runs on training items alone
    poisoned.text[outside] = np.nan
    poisoned.labels[outside] = ~poisoned.labels[outside]
    assert outside.size == wiki.query.size
    result = tune(FAST, poisoned, tmp_path / "poisoned.db")
    assert np.isfinite(result.value) and result == clean
    assert [v for _, v, _ in trial_values(tmp_path / "poisoned.db")] == [
        v for _, v, _ in trial_values(tmp_path / "clean.db")
    ]


def test_a_longer_tune_repeats_the_shorter_tunes_trials_and_resumes_where_it_stopped(wiki, tmp_path):
    tune(FAST, wiki, tmp_path / "a.db")
    with pytest.raises(UsageError, match="holds an earlier tune; expected to resume it"):
        tune(FAST, wiki, tmp_path / "a.db")
    longer = dataclasses.replace(FAST, trials=6)
    tune(longer, wiki, tmp_path / "a.db", resume=True)
    tune(longer, wiki, tmp_path / "b.db")
    assert trial_values(tmp_path / "a.db") == trial_values(tmp_path / "b.db")
    with pytest.raises(UsageError, match="other settings"):
        tune(dataclasses.replace(longer, seed=1), wiki, tmp_path / "a.db", resume=True)


def completed_trials(storage):
    if not storage.exists():
        return 0
    try:
        with sqlite3.connect(storage) as connection:
            return connection.execute("SELECT COUNT(*) FROM trials WHERE state = 'COMPLETE'").fetchone()[0]
    except sqlite3.OperationalError:  # tables not created yet
        return 0


def test_a_killed_tune_resumes_without_repeating_a_finished_trial(tmp_path):
    args = ["tune", "cmfh", "--bits", "128", "--trials", "7", "--param", "iters=60", "--quiet"]
    killed, whole = tmp_path / "killed.toml", tmp_path / "whole.toml"
    process = subprocess.Popen([sys.executable, "-m", "hashbench.cli", *args, "--out", str(killed)])
    deadline = time.monotonic() + 120
    while completed_trials(killed.with_suffix(".db")) < 3 and time.monotonic() < deadline:
        time.sleep(0.05)
    process.send_signal(signal.SIGKILL)
    process.wait()
    done_before = completed_trials(killed.with_suffix(".db"))
    assert 3 <= done_before < 7 and not killed.exists()
    assert main([*args, "--out", str(killed), "--resume"]) == 0
    assert main([*args, "--out", str(whole)]) == 0
    resumed = [t for t in trial_values(killed.with_suffix(".db")) if t[0] == "COMPLETE"]
    assert resumed == trial_values(whole.with_suffix(".db"))  # the same trials, none run twice
    assert len(resumed) == 7
    assert read_tuning_file(killed, load_method("cmfh")).params == read_tuning_file(whole, load_method("cmfh")).params


def load_method(name):
    from hashbench import registry

    return registry.methods.get(name)


def test_the_tuning_file_feeds_run_and_grid_and_the_record_says_so(tmp_path, capsys):
    out = tmp_path / "tuned" / "cmfh.toml"
    assert main(["tune", "cmfh", "--bits", "16", "--trials", "3", "--param", "iters=5", "--out", str(out)]) == 0
    assert "validation mAP" in capsys.readouterr().out
    tuned = read_tuning_file(out, load_method("cmfh"))
    assert tuned.params["iters"] == 5 and set(tuned.params) == {"iters", "mu", "gamma", "alpha1"}
    fixed_mu = tmp_path / "fixed.toml"
    assert main(["tune", "cmfh", "--bits", "16", "--trials", "2", "--param", "mu=7.5", "--out", str(fixed_mu)]) == 0
    assert read_tuning_file(fixed_mu, load_method("cmfh")).params["mu"] == 7.5  # fixed: out of the search
    results = tmp_path / "results"
    assert main(["run", "--method", "cmfh", "--bits", "16", "--params", str(out), "--results", str(results)]) == 0
    record = json.loads(next(results.glob("*.json")).read_text())
    assert {k: record["params"][k] for k in tuned.params} == tuned.params
    source = record["params_source"]
    assert source["kind"] == "tuning file" and source["validation_map"] == pytest.approx(tuned.source["validation_map"])
    assert len(source["sha256"]) == 64 and source["trials"] == 3
    grid = tmp_path / "grid.toml"
    grid.write_text(
        '[grid]\ndatasets = ["wiki"]\nbits = [16]\n\n[[methods]]\nname = "cmfh"\nparams_from = "tuned/cmfh.toml"\n'
        "params = { iters = 6 }\n",
        encoding="utf-8",
    )
    assert main(["grid", str(grid), "--results", str(results), "--quiet"]) == 0
    records = [json.loads(path.read_text()) for path in results.glob("*.json")]
    from_grid = next(r for r in records if r["params"]["iters"] == 6)
    assert from_grid["params_source"]["overridden"] == ["iters"] and from_grid["params"]["mu"] == tuned.params["mu"]


def test_presets_and_their_errors(tmp_path, capsys):
    params, source = resolve_params(load_method("dcmh"), preset="paper")
    assert params["optimizer"] == "sgd" and source == {"kind": "preset", "name": "paper"}
    with pytest.raises(UsageError, match="preset 'fast' of method 'dcmh': expected one of paper"):
        resolve_params(load_method("dcmh"), preset="fast")
    assert resolve_params(load_method("cmfh")) == ({}, {"kind": "defaults"})


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["tune", "cca-itq"], "method 'cca-itq' declares no search space, so it cannot be tuned"),
        (["tune", "scm-seq", "--param", "lam=0.1"], "every parameter in the search space of method 'scm-seq' is fixed"),
        (["tune", "cmfh", "--db-codes", "unified", "--val-fraction", "1.5"], "expected a number between 0 and 1"),
        (["tune", "scm-seq", "--db-codes", "unified"], "method 'scm-seq' has no unified codes"),
    ],
)
def test_bad_tune_input_is_one_line_and_exit_2(args, message, tmp_path, capsys):
    assert main([*args, "--out", str(tmp_path / "t.toml")]) == 2
    err = capsys.readouterr().err
    assert message in err and err.count("\n") == 1
    assert not (tmp_path / "t.toml").exists()


def test_a_tuning_file_of_another_method_is_refused(tmp_path):
    path = tmp_path / "x.toml"
    path.write_text('[tuned]\nmethod = "seph-km"\n\n[params]\nanchors = 100\n', encoding="utf-8")
    with pytest.raises(UsageError, match="tunes method 'seph-km'; expected a tuning file of 'cmfh'"):
        read_tuning_file(path, load_method("cmfh"))
    path.write_text('[tuned]\nmethod = "cmfh"\n\n[params]\nmu = "lots"\n', encoding="utf-8")
    with pytest.raises(UsageError, match=r"x.toml: \[params\]: parameter mu=lots: expected a number"):
        read_tuning_file(path, load_method("cmfh"))

"""--mlflow: each new run mirrored to MLflow; a clear error without mlflow; nothing logged for stored runs.

MLflow itself is an optional extra, so these tests stand a recording fake in for the ``mlflow`` module: they
check what hashbench hands to MLflow's API, not MLflow.
"""

import sys
import types

from hashbench.cli import main
from hashbench.harness.tracking import metric_key


class FakeMlflow(types.ModuleType):
    """The five MLflow calls hashbench makes, recorded per run."""

    def __init__(self):
        super().__init__("mlflow")
        self.runs = []

    def start_run(self, run_name):
        self.runs.append({"name": run_name})
        fake = self

        class Active:
            def __enter__(self):
                return fake.runs[-1]

            def __exit__(self, *exc):
                return False

        return Active()

    def set_tags(self, tags):
        self.runs[-1]["tags"] = tags

    def log_params(self, params):
        self.runs[-1]["params"] = params

    def log_metrics(self, metrics):
        self.runs[-1]["metrics"] = metrics

    def log_dict(self, data, name):
        self.runs[-1][name] = data


def test_each_new_run_is_logged_once_with_its_params_metrics_and_curves(tmp_path, monkeypatch):
    fake = FakeMlflow()
    monkeypatch.setitem(sys.modules, "mlflow", fake)
    args = ["run", "--method", "cca-itq", "--bits", "16", "--results", str(tmp_path), "--mlflow"]
    assert main(args) == 0 and main(args) == 0  # the second finds the run stored: nothing new to log
    (run,) = fake.runs
    assert run["name"].startswith("wiki__cca-itq__16b__seed0__") and run["tags"]["hashbench.run_id"] in run["name"]
    assert run["params"]["method"] == "cca-itq" and run["params"]["param.iters"] == 50
    assert 0 < run["metrics"]["i2t.map"] < 1 and "t2i.map_at_50" in run["metrics"] and run["metrics"]["fit_s"] > 0
    assert set(run["curves.json"]) == {"i2t", "t2i"}


def test_without_mlflow_the_flag_is_a_one_line_error_and_nothing_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # import mlflow now raises ImportError
    assert main(["run", "--method", "cca-itq", "--bits", "16", "--results", str(tmp_path), "--mlflow"]) == 2
    assert 'mlflow is not installed; expected `pip install "hashbench[mlflow]"`' in capsys.readouterr().err
    assert not list(tmp_path.iterdir())


def test_metric_names_are_made_safe_for_mlflow():
    assert metric_key("i2t", "map@100") == "i2t.map_at_100" and metric_key("t2i", "p@r2") == "t2i.p_at_r2"


def test_a_grid_logs_each_run_it_stores(tmp_path, monkeypatch):
    fake = FakeMlflow()
    monkeypatch.setitem(sys.modules, "mlflow", fake)
    grid = tmp_path / "grid.toml"
    grid.write_text('[grid]\ndatasets = ["wiki"]\nbits = [16, 32]\n[[methods]]\nname = "cca-itq"\n', encoding="utf-8")
    assert main(["grid", str(grid), "--results", str(tmp_path / "r"), "--mlflow", "--quiet"]) == 0
    assert sorted(run["params"]["bits"] for run in fake.runs) == [16, 32]

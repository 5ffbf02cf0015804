"""`hashbench bench-search` and its naive baselines: the baselines compute what the fast paths compute."""

import json

import numpy as np
import pytest

from hashbench.cli import main
from hashbench.codes import pack
from hashbench.machine import competing_load, usable_cores
from hashbench.scoring.bench import naive_knn, naive_map, random_problem
from hashbench.scoring.metrics import evaluate
from hashbench.scoring.search import knn


@pytest.fixture(scope="module")
def problem():
    return random_problem(40, 3_000, 24, seed=3)


def test_naive_knn_finds_the_same_neighbours_as_the_built_in_search(problem):
    indices, _ = knn(pack(problem.query_bits), pack(problem.database_bits), 25)
    np.testing.assert_array_equal(naive_knn(problem.query_bits, problem.database_bits, 25), indices)


def test_naive_map_equals_the_built_in_map(problem):
    built_in = evaluate(
        pack(problem.query_bits), pack(problem.database_bits), problem.query_labels, problem.database_labels, 24
    )
    naive = naive_map(problem.query_bits, problem.database_bits, problem.query_labels, problem.database_labels)
    assert naive == pytest.approx(built_in.metrics["map"], abs=1e-12)


def test_bench_search_json_has_every_backend_and_the_ratios(capsys):
    args = ["bench-search", "--db", "2000", "--queries", "30", "--bits", "32", "--k", "10", "--repeats", "1"]
    assert main([*args, "--format", "json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert set(result["knn"]) == {"builtin", "faiss", "naive"} and set(result["map"]) == {"builtin", "naive"}
    assert all(seconds > 0 for seconds in [*result["knn"].values(), *result["map"].values()])
    assert result["ratios"]["map_naive_over_builtin"] == pytest.approx(
        result["map"]["naive"] / result["map"]["builtin"]
    )
    assert result["size"] == {"queries": 30, "database": 2000, "bits": 32, "k": 10}
    machine = result["machine"]
    assert machine["usable_cores"] >= 1 and len(machine["load_before"]) == len(machine["load_after"]) == 3
    others = machine["others_cores_during_measurement"]
    assert others is None or others >= 0


def test_bench_search_names_the_load_and_warns_beside_a_busy_competitor(capsys):
    args = ["bench-search", "--db", "20000", "--queries", "300", "--bits", "64", "--k", "10", "--repeats", "3"]
    with competing_load(usable_cores()):
        assert main(args) == 0
    captured = capsys.readouterr()
    assert "cores other processes kept busy during the measurement" in captured.out
    assert "warning: the machine was busy" in captured.err


def test_bench_search_table_names_the_backends(capsys):
    assert main(["bench-search", "--db", "500", "--queries", "10", "--bits", "16", "--k", "5", "--repeats", "1"]) == 0
    out = capsys.readouterr().out
    for word in ("built-in", "faiss", "naive", "full mAP", "knn_naive_over_builtin"):
        assert word in out


@pytest.mark.parametrize(
    ("args", "message"),
    [(["--db", "0"], "'0': expected a positive integer"), (["--k", "x"], "'x': expected a positive integer")],
)
def test_bench_search_bad_arguments_give_one_line_and_exit_2(args, message, capsys):
    try:
        status = main(["bench-search", *args])
    except SystemExit as stopped:
        status = stopped.code
    err = capsys.readouterr().err
    assert status == 2 and err.count("\n") == 1 and message in err, err

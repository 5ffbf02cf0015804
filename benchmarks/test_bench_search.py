"""Speed of Hamming search and evaluation at NUS-WIDE scale, against baselines measured in the same run.

Run with ``tox -e bench``. Groups (pytest-benchmark prints each statistic with
its ratio to the fastest of the group in parentheses):

* ``knn100-<bits>`` and ``ranking-<bits>``: the 100 nearest / all database codes
  of 2,100 queries against 190,000 codes: built-in, faiss ``IndexBinaryFlat``
  and the naive reference (±1 codes, float matrix product, ``argsort``);
* ``map-<bits>``: full-database mAP, built-in against the naive per-query code;
* ``scaling``: mAP of 2,100 queries at 64 bits against 10^4, 10^5 and 10^6
  codes, with the peak memory that the evaluation adds to a fresh process
  (VmHWM after a reset through /proc/self/clear_refs, minus the resident size before);
* ``load-64bits``: the whole of ``hashbench bench-search`` at 64 bits on a quiet machine and beside a busy
  competitor (a torch matrix-product loop with as many threads as cores), its ratios and rates kept in
  ``extra_info`` so that the report sets them side by side.

``python benchmarks/report.py BENCH.json`` turns the saved run into the table
of ``results/performance.md``.
"""

import subprocess
import sys
from contextlib import nullcontext

import pytest

from hashbench.codes import pack
from hashbench.machine import competing_load, usable_cores
from hashbench.scoring import bench
from hashbench.scoring.bench import naive_knn, naive_map, random_problem
from hashbench.scoring.metrics import MAP_ONLY, evaluate
from hashbench.scoring.search import knn

N_QUERY, N_DATABASE = 2_100, 190_000
RANKING_CHUNK = 50  # queries per full-ranking call, so that no q x n index matrix outgrows memory


@pytest.fixture(scope="module", params=[16, 32, 64, 128], ids=lambda bits: f"{bits}bits")
def problem(request):
    return random_problem(N_QUERY, N_DATABASE, request.param)


def packed(problem):
    return pack(problem.query_bits), pack(problem.database_bits)


def full_ranking(query, database, backend):
    for start in range(0, len(query), RANKING_CHUNK):
        knn(query[start : start + RANKING_CHUNK], database, len(database), backend=backend)


def naive_full_ranking(problem):
    naive_knn(problem.query_bits, problem.database_bits, N_DATABASE)


def once(benchmark, function, *args):
    """Slow baselines run one round: their cost dwarfs the timer's noise."""
    return benchmark.pedantic(function, args=args, rounds=1, iterations=1)


@pytest.mark.parametrize("backend", ["numba", "faiss", "naive"])
def test_knn100(benchmark, problem, backend):
    benchmark.group = f"knn100-{problem.bits}bits"
    if backend == "naive":
        once(benchmark, naive_knn, problem.query_bits, problem.database_bits, 100)
    else:
        query, database = packed(problem)
        benchmark(knn, query, database, 100, backend=backend)


@pytest.mark.parametrize("backend", ["numba", "faiss", "naive"])
def test_full_ranking(benchmark, problem, backend):
    benchmark.group = f"ranking-{problem.bits}bits"
    if backend == "naive":
        once(benchmark, naive_full_ranking, problem)
    else:
        once(benchmark, full_ranking, *packed(problem), backend)


@pytest.mark.parametrize("backend", ["numba", "naive"])
def test_map(benchmark, problem, backend):
    benchmark.group = f"map-{problem.bits}bits"
    if backend == "naive":
        result = once(
            benchmark,
            naive_map,
            problem.query_bits,
            problem.database_bits,
            problem.query_labels,
            problem.database_labels,
        )
    else:
        query, database = packed(problem)
        evaluation = benchmark(
            evaluate,
            query,
            database,
            problem.query_labels,
            problem.database_labels,
            problem.bits,
            MAP_ONLY,
            backend=backend,
        )
        result = evaluation.metrics["map"]
    benchmark.extra_info["map"] = result


_PEAK_SCRIPT = """
from hashbench.scoring.bench import random_problem
from hashbench.codes import pack
from hashbench.scoring.metrics import evaluate

def status(field):
    with open("/proc/self/status") as lines:
        return next(int(line.split()[1]) * 1024 for line in lines if line.startswith(field + ":"))

problem = random_problem({queries}, {database}, 64)
query, database = pack(problem.query_bits), pack(problem.database_bits)
evaluate(query[:2], database, problem.query_labels[:2], problem.database_labels, 64)  # compile, warm up
with open("/proc/self/clear_refs", "w") as clear:
    clear.write("5")  # reset the peak resident size (VmHWM) to the current one
before = status("VmRSS")
evaluate(query, database, problem.query_labels, problem.database_labels, 64)
print(before, status("VmHWM"))
"""


@pytest.mark.parametrize("n_database", [10_000, 100_000, 1_000_000])
def test_scaling(benchmark, n_database):
    benchmark.group = "scaling-64bits"
    problem = random_problem(N_QUERY, n_database, 64)
    query, database = packed(problem)
    evaluate(query[:2], database, problem.query_labels[:2], problem.database_labels, 64)  # compile, warm up
    once(benchmark, evaluate, query, database, problem.query_labels, problem.database_labels, 64)
    script = _PEAK_SCRIPT.format(queries=N_QUERY, database=n_database)
    peak = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True)
    resident_before, peak_during = map(int, peak.stdout.split()[-2:])
    benchmark.extra_info["peak_evaluation_bytes"] = peak_during - resident_before  # what evaluation adds
    benchmark.extra_info["peak_process_bytes"] = peak_during
    benchmark.extra_info["database"] = n_database


@pytest.mark.parametrize("load", ["quiet", "competitor"])
def test_load(benchmark, load):
    benchmark.group = "load-64bits"
    problem = random_problem(N_QUERY, N_DATABASE, 64)
    with competing_load(usable_cores()) if load == "competitor" else nullcontext():
        result = once(benchmark, bench.time_backends, problem, 100)
    others = result["machine"]["others_cores_during_measurement"]
    benchmark.extra_info.update({**result["ratios"], **result["pairs_per_second"], "others_cores": others})

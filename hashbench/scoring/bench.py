"""``hashbench bench-search``: time each search backend on random codes, side by side in one run.

Times k-nearest-neighbour search and full-database mAP for the built-in path
(numba when installed, else numpy), faiss ``IndexBinaryFlat`` when installed,
and the naive reference of the field's evaluation codes: ±1 codes, a float
matrix product and ``argsort``. Reports the median of the repeats and the
ratios naive/built-in and faiss/built-in.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from hashbench.codes import as_words, pack
from hashbench.machine import machine_before, machine_state, timed
from hashbench.scoring import kernels
from hashbench.scoring.metrics import MAP_ONLY, evaluate
from hashbench.scoring.search import knn, resolve_backend

NAIVE_CHUNK = 64  # queries per matrix product in the naive kNN


@dataclass(frozen=True)
class Problem:
    """Random codes and multi-label labels of a benchmark size."""

    query_bits: np.ndarray
    database_bits: np.ndarray
    query_labels: np.ndarray
    database_labels: np.ndarray

    @property
    def bits(self) -> int:
        return self.query_bits.shape[1]


def random_problem(n_query: int, n_database: int, bits: int, classes: int = 21, seed: int = 0) -> Problem:
    """Uniform random codes; each item has each of ``classes`` labels with probability 0.1."""
    rng = np.random.default_rng(seed)
    return Problem(
        rng.integers(0, 2, (n_query, bits), dtype=np.uint8),
        rng.integers(0, 2, (n_database, bits), dtype=np.uint8),
        rng.random((n_query, classes)) < 0.1,
        rng.random((n_database, classes)) < 0.1,
    )


def naive_knn(query_bits: np.ndarray, database_bits: np.ndarray, k: int) -> np.ndarray:
    """The field's reference: ±1 codes, distances from a matrix product, a stable argsort per query."""
    bits = query_bits.shape[1]
    database_signs = 2.0 * database_bits - 1
    neighbours = np.empty((len(query_bits), k), dtype=np.int64)
    for start in range(0, len(query_bits), NAIVE_CHUNK):
        signs = 2.0 * query_bits[start : start + NAIVE_CHUNK] - 1
        distances = 0.5 * (bits - signs @ database_signs.T)
        neighbours[start : start + NAIVE_CHUNK] = np.argsort(distances, axis=1, kind="stable")[:, :k]
    return neighbours


def naive_map(query_bits, database_bits, query_labels, database_labels) -> float:
    """DCMH/SSAH-style mAP: per query a relevance row, float distances, argsort, precision at each hit."""
    bits = query_bits.shape[1]
    query_signs, database_signs = 2.0 * query_bits - 1, 2.0 * database_bits - 1
    database_labels = database_labels.astype(np.float64)
    total = 0.0
    for q in range(len(query_bits)):
        relevant = (database_labels @ query_labels[q].astype(np.float64)) > 0
        hits = int(relevant.sum())
        if hits == 0:
            continue
        distances = 0.5 * (bits - database_signs @ query_signs[q])
        ranked = relevant[np.argsort(distances, kind="stable")]
        total += float(np.mean(np.arange(1, hits + 1) / (np.flatnonzero(ranked) + 1.0)))
    return total / len(query_bits)


def median_seconds(function: Callable[[], object], repeats: int) -> float:
    """Median wall time of ``repeats`` calls, after one untimed warm-up call when repeats > 1."""
    if repeats > 1:
        function()
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        function()
        times.append(time.perf_counter() - began)
    return statistics.median(times)


def _faiss_available() -> bool:
    try:
        resolve_backend("faiss")
    except ValueError:
        return False
    return True


def time_backends(problem: Problem, k: int, repeats: int = 3, naive_repeats: int = 1) -> dict:
    """Median seconds per backend for kNN and full mAP, the ratios, and the machine's state during the
    measurement (``machine``: :func:`hashbench.machine.machine_state`), as a JSON-ready dict."""
    before = machine_before()
    result, timing = timed(_measure, problem, k, repeats, naive_repeats)
    result["machine"] = machine_state(before, timing, "measurement")
    return result


def _measure(problem: Problem, k: int, repeats: int, naive_repeats: int) -> dict:
    query, database = pack(problem.query_bits), pack(problem.database_bits)
    builtin = resolve_backend("auto")
    result = {
        "size": {"queries": len(query), "database": len(database), "bits": problem.bits, "k": k},
        "builtin_backend": builtin,
        "knn": {
            "builtin": median_seconds(lambda: knn(query, database, k, backend=builtin), repeats),
            "faiss": median_seconds(lambda: knn(query, database, k, backend="faiss"), repeats)
            if _faiss_available()
            else None,
            "naive": median_seconds(lambda: naive_knn(problem.query_bits, problem.database_bits, k), naive_repeats),
        },
        "map": {
            "builtin": median_seconds(
                lambda: evaluate(
                    query,
                    database,
                    problem.query_labels,
                    problem.database_labels,
                    problem.bits,
                    MAP_ONLY,
                    backend=builtin,
                ),
                repeats,
            ),
            "naive": median_seconds(
                lambda: naive_map(
                    problem.query_bits, problem.database_bits, problem.query_labels, problem.database_labels
                ),
                naive_repeats,
            ),
        },
    }
    knn_times, map_times = result["knn"], result["map"]
    result["ratios"] = {
        "knn_naive_over_builtin": knn_times["naive"] / knn_times["builtin"],
        "knn_faiss_over_builtin": knn_times["faiss"] / knn_times["builtin"] if knn_times["faiss"] else None,
        "map_naive_over_builtin": map_times["naive"] / map_times["builtin"],
    }
    pairs = len(query) * len(database)
    result["pairs_per_second"] = {
        "knn_builtin": pairs / knn_times["builtin"],
        "map_builtin": pairs / map_times["builtin"],
    }
    if kernels.AVAILABLE:
        words = as_words(query), as_words(database)
        loop = pairs / median_seconds(lambda: kernels.popcount_sum(*words), repeats)
        result["pairs_per_second"]["popcount_loop"] = loop
        result["pairs_per_second"]["knn_fraction_of_loop"] = result["pairs_per_second"]["knn_builtin"] / loop
        result["pairs_per_second"]["map_fraction_of_loop"] = result["pairs_per_second"]["map_builtin"] / loop
    return result

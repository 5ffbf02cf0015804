"""Speed of Hamming ranking and evaluation, as ratios against naive baselines in the same run.

Run with ``tox -e bench`` (or ``pytest benchmarks --benchmark-only``). Each
group holds the built-in path and its baseline; pytest-benchmark prints each
statistic with its ratio to the fastest of the group in parentheses.
"""

import numpy as np
import pytest

from hashbench.codes import as_words, hamming_distances, pack
from hashbench.metrics import evaluate
from hashbench.search import rank

N_QUERY, N_DATABASE, N_CLASSES = 500, 20_000, 24


@pytest.fixture(scope="module", params=[16, 64, 128], ids=lambda bits: f"{bits}bits")
def problem(request):
    bits = request.param
    rng = np.random.default_rng(0)
    query_bits = rng.integers(0, 2, (N_QUERY, bits), dtype=np.uint8)
    database_bits = rng.integers(0, 2, (N_DATABASE, bits), dtype=np.uint8)
    query_labels = rng.random((N_QUERY, N_CLASSES)) < 0.1
    database_labels = rng.random((N_DATABASE, N_CLASSES)) < 0.1
    return bits, query_bits, database_bits, query_labels, database_labels


def naive_ranking(query_bits, database_bits):
    """The field's reference: ±1 codes, a float matrix product, then argsort."""
    bits = query_bits.shape[1]
    query_signs, database_signs = 2.0 * query_bits - 1, 2.0 * database_bits - 1
    distances = 0.5 * (bits - query_signs @ database_signs.T)
    return np.argsort(distances, axis=1, kind="stable")


def naive_map(query_bits, database_bits, query_labels, database_labels):
    """DCMH/SSAH-style per-query mAP: relevance row, distances, argsort, precision at each hit."""
    bits = query_bits.shape[1]
    query_signs, database_signs = 2.0 * query_bits - 1, 2.0 * database_bits - 1
    total = 0.0
    for q in range(len(query_bits)):
        relevant = (query_labels[q].astype(float) @ database_labels.T.astype(float)) > 0
        hits = relevant.sum()
        if hits == 0:
            continue
        distances = 0.5 * (bits - database_signs @ query_signs[q])
        ranked = relevant[np.argsort(distances, kind="stable")]
        positions = np.flatnonzero(ranked) + 1.0
        total += np.mean(np.arange(1, hits + 1) / positions)
    return total / len(query_bits)


@pytest.mark.benchmark(group="ranking")
def test_ranking_builtin_popcount(benchmark, problem):
    _, query_bits, database_bits, *_ = problem
    query_words, database_words = as_words(pack(query_bits)), as_words(pack(database_bits))
    order = benchmark(lambda: rank(hamming_distances(query_words, database_words)))
    np.testing.assert_array_equal(order[:5], naive_ranking(query_bits[:5], database_bits))


@pytest.mark.benchmark(group="ranking")
def test_ranking_naive_matrix_product(benchmark, problem):
    _, query_bits, database_bits, *_ = problem
    benchmark(naive_ranking, query_bits, database_bits)


@pytest.mark.benchmark(group="map")
def test_map_builtin(benchmark, problem):
    bits, query_bits, database_bits, query_labels, database_labels = problem
    packed = pack(query_bits), pack(database_bits)
    benchmark(evaluate, *packed, query_labels, database_labels, bits)
    head = evaluate(packed[0][:20], packed[1], query_labels[:20], database_labels, bits)
    assert head.metrics["map"] == pytest.approx(
        naive_map(query_bits[:20], database_bits, query_labels[:20], database_labels), abs=1e-12
    )


@pytest.mark.benchmark(group="map")
def test_map_naive_per_query(benchmark, problem):
    _, query_bits, database_bits, query_labels, database_labels = problem
    benchmark(naive_map, query_bits, database_bits, query_labels, database_labels)

"""The metrics against slow per-query references and hand-worked cases."""

import numpy as np
import pytest
import reference_metrics as ref
from hypothesis import given, settings
from hypothesis import strategies as st

from hashbench.codes import pack
from hashbench.scoring import search
from hashbench.scoring.metrics import EvalConfig, evaluate, tie_aware_average_precision


def random_problem(rng, n_query, n_database, bits, n_classes, multi_label):
    query_bits = rng.integers(0, 2, (n_query, bits), dtype=np.uint8)
    database_bits = rng.integers(0, 2, (n_database, bits), dtype=np.uint8)
    if multi_label:
        query_labels = rng.random((n_query, n_classes)) < 0.25
        database_labels = rng.random((n_database, n_classes)) < 0.25
    else:
        query_labels = np.eye(n_classes, dtype=bool)[rng.integers(0, n_classes, n_query)]
        database_labels = np.eye(n_classes, dtype=bool)[rng.integers(0, n_classes, n_database)]
    return query_bits, database_bits, query_labels, database_labels


BACKENDS = ["numpy", "numba"]


def assert_matches_reference(query_bits, database_bits, query_labels, database_labels, bits, config, backend):
    got = evaluate(pack(query_bits), pack(database_bits), query_labels, database_labels, bits, config, backend=backend)
    assert got.backend == backend
    radius = min(config.radius, bits)
    map_at = sorted({min(k, len(database_bits)) for k in config.map_at})
    want = ref.evaluate(
        query_bits,
        database_bits,
        query_labels,
        database_labels,
        bits,
        map_at,
        [k for k in config.precision_at if k <= len(database_bits)],
        radius,
    )
    for name in ["map", *(f"map@{k}" for k in map_at), f"p@r{radius}"]:
        assert got.metrics[name] == pytest.approx(want[name], abs=1e-12), name
    if "map_tie_aware" in want:
        assert got.metrics["map_tie_aware"] == pytest.approx(want["map_tie_aware"], abs=1e-12)
    assert got.metrics["queries_without_relevant"] == want["queries_without_relevant"]
    curve = got.curves["precision_at_k"]
    assert curve["precision"] == pytest.approx([want[f"p@{k}"] for k in curve["k"]], abs=1e-12)
    assert got.curves["pr_by_radius"]["precision"] == pytest.approx(want["pr_precision"], abs=1e-12)
    assert got.curves["pr_by_radius"]["recall"] == pytest.approx(want["pr_recall"], abs=1e-12)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("multi_label", [False, True], ids=["single-label", "multi-label"])
@pytest.mark.parametrize("bits", [1, 4, 13, 64, 70])
def test_metrics_match_slow_reference_on_random_codes(bits, multi_label, backend):
    rng = np.random.default_rng(bits + 100 * multi_label)
    problem = random_problem(rng, 25, 120, bits, 70 if multi_label else 6, multi_label)  # 70 classes: 2 label words
    config = EvalConfig(map_at=(10, 50), precision_at=(1, 5, 10, 100, 500))
    assert_matches_reference(*problem, bits, config, backend)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("multi_label", [False, True], ids=["single-label", "multi-label"])
def test_tie_aware_map_matches_enumeration_of_all_tie_orders(multi_label, backend):
    rng = np.random.default_rng(7 + multi_label)
    for _ in range(5):
        problem = random_problem(rng, 6, 7, 3, 3, multi_label)
        assert_matches_reference(*problem, 3, EvalConfig(map_at=(3,), precision_at=(1, 2), radius=1), backend)


@settings(max_examples=60, deadline=None)
@given(
    seed=st.integers(0, 2**32 - 1),
    bits=st.integers(1, 20),
    n_database=st.integers(1, 40),
    multi_label=st.booleans(),
    backend=st.sampled_from(BACKENDS),
)
def test_metrics_match_reference_property(seed, bits, n_database, multi_label, backend):
    rng = np.random.default_rng(seed)
    problem = random_problem(rng, 4, n_database, bits, 4, multi_label)
    assert_matches_reference(*problem, bits, EvalConfig(map_at=(1, 5), precision_at=(1, 3, 10), radius=2), backend)


def test_results_do_not_depend_on_the_query_chunk_size(monkeypatch):
    rng = np.random.default_rng(3)
    query_bits, database_bits, query_labels, database_labels = random_problem(rng, 50, 200, 16, 5, True)
    args = (pack(query_bits), pack(database_bits), query_labels, database_labels, 16)
    whole = evaluate(*args, backend="numpy")
    monkeypatch.setattr(search, "CHUNK_ENTRIES", 450)  # two queries per chunk
    chunked = evaluate(*args, backend="numpy")
    assert whole.metrics == chunked.metrics
    assert whole.curves == chunked.curves


HAND_WORKED = EvalConfig(map_at=(2,), precision_at=(1, 2, 3))


def one_query(distances_and_relevance, bits=4, config=HAND_WORKED, backend="numpy"):
    """Score one query against items at exactly the given distances (relevant or not)."""
    database_bits = np.array([[1] * d + [0] * (bits - d) for d, _ in distances_and_relevance], dtype=np.uint8)
    query_bits = np.zeros((1, bits), dtype=np.uint8)
    database_labels = np.array([[is_relevant, not is_relevant] for _, is_relevant in distances_and_relevance])
    query_labels = np.array([[True, False]])
    return evaluate(pack(query_bits), pack(database_bits), query_labels, database_labels, bits, config, backend=backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_average_precision_hand_worked(backend):
    # ranked: rel (d=0), not (d=1), rel (d=2), not (d=3): AP = (1/1 + 2/3) / 2
    result = one_query([(2, True), (0, True), (3, False), (1, False)], backend=backend)
    assert result.metrics["map"] == pytest.approx((1 + 2 / 3) / 2)
    # top 2 holds one relevant item at rank 1: AP@2 = 1/1
    assert result.metrics["map@2"] == pytest.approx(1.0)
    assert result.curves["precision_at_k"]["precision"] == pytest.approx([1.0, 0.5, 2 / 3])


@pytest.mark.parametrize("backend", BACKENDS)
def test_map_counts_ties_in_database_order(backend):
    # both items at distance 1; the relevant one has the larger index, so it ranks second: AP = 1/2
    result = one_query([(1, False), (1, True)], backend=backend)
    assert result.metrics["map"] == pytest.approx(0.5)
    # the tie-aware variant averages the two orders: (1 + 1/2) / 2
    assert result.metrics["map_tie_aware"] == pytest.approx(0.75)
    reversed_order = one_query([(1, True), (1, False)], backend=backend)
    assert reversed_order.metrics["map"] == pytest.approx(1.0)
    assert reversed_order.metrics["map_tie_aware"] == pytest.approx(0.75)


@pytest.mark.parametrize("backend", BACKENDS)
def test_map_at_k_divides_by_relevant_items_found_in_top_k(backend):
    # ranks: not, rel, rel, rel. Top 2 holds one relevant at rank 2: AP@2 = (1/2) / 1, not (1/2) / 3
    result = one_query([(0, False), (1, True), (2, True), (3, True)], backend=backend)
    assert result.metrics["map@2"] == pytest.approx(0.5)


@pytest.mark.parametrize("backend", BACKENDS)
def test_query_without_relevant_item_scores_zero_and_stays_in_the_mean(backend):
    rng = np.random.default_rng(0)
    query_bits = rng.integers(0, 2, (2, 8), dtype=np.uint8)
    database_bits = query_bits.copy()  # distance 0 to its own query
    query_labels = np.array([[True, False, False], [False, False, True]])
    database_labels = np.array([[True, False, False], [True, False, False]])  # nothing shares class 2
    result = evaluate(pack(query_bits), pack(database_bits), query_labels, database_labels, 8, backend=backend)
    assert result.metrics["queries_without_relevant"] == 1
    assert result.metrics["map"] == pytest.approx((1.0 + 0.0) / 2)
    assert result.curves["pr_by_radius"]["recall"][-1] == pytest.approx((1.0 + 0.0) / 2)


def test_precision_within_radius_is_zero_when_nothing_is_retrieved():
    result = one_query([(3, True), (4, False)], config=EvalConfig(radius=2))
    assert result.metrics["p@r2"] == 0.0
    assert result.curves["pr_by_radius"]["precision"] == pytest.approx([0, 0, 0, 1.0, 0.5])
    assert result.curves["pr_by_radius"]["recall"] == pytest.approx([0, 0, 0, 1.0, 1.0])


def test_tie_aware_formula_for_one_bucket_equals_closed_form():
    # one bucket of n items with r relevant: expected AP over all orders, by enumeration
    sizes, hits = np.array([[5]]), np.array([[2]])
    expected = ref.expected_average_precision([0] * 5, [True, True, False, False, False])
    assert tie_aware_average_precision(sizes, hits)[0] == pytest.approx(expected, abs=1e-12)

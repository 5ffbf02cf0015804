"""k-nearest-neighbour Hamming search: every backend against a slow reference, ties included."""

import numpy as np
import pytest
import reference_metrics as ref
from hypothesis import given, settings
from hypothesis import strategies as st

from hashbench.codes import pack
from hashbench.errors import UsageError
from hashbench.scoring.search import knn, resolve_backend


def reference_knn(query_bits, database_bits, k):
    indices, distances = [], []
    for query in query_bits:
        row_distances, order = ref.ranking(query, database_bits)
        indices.append(order[:k])
        distances.append([row_distances[j] for j in order[:k]])
    return np.array(indices), np.array(distances)


@pytest.mark.parametrize("backend", ["numpy", "numba"])
@pytest.mark.parametrize(("bits", "k"), [(3, 5), (16, 1), (16, 40), (64, 300), (130, 17)])
def test_knn_matches_the_slow_reference_with_ties_in_database_order(backend, bits, k):
    rng = np.random.default_rng(bits * k)
    query_bits, database_bits = rng.integers(0, 2, (9, bits)), rng.integers(0, 2, (300, bits))
    indices, distances = knn(pack(query_bits), pack(database_bits), k, backend=backend)
    want_indices, want_distances = reference_knn(query_bits, database_bits, k)
    np.testing.assert_array_equal(indices, want_indices)
    np.testing.assert_array_equal(distances, want_distances)


@settings(max_examples=80, deadline=None)
@given(seed=st.integers(0, 2**32 - 1), bits=st.integers(1, 70), n=st.integers(1, 60), k=st.integers(1, 70))
def test_fast_knn_equals_numpy_knn_property(seed, bits, n, k):
    rng = np.random.default_rng(seed)
    query, database = pack(rng.integers(0, 2, (3, bits))), pack(rng.integers(0, 2, (n, bits)))
    fast, slow = knn(query, database, k, backend="numba"), knn(query, database, k, backend="numpy")
    np.testing.assert_array_equal(fast[0], slow[0])
    np.testing.assert_array_equal(fast[1], slow[1])


@pytest.mark.parametrize("bits", [8, 32, 64, 100])
def test_faiss_gives_the_same_distances_and_neighbours_up_to_boundary_ties(bits):
    rng = np.random.default_rng(bits)
    query, database = pack(rng.integers(0, 2, (20, bits))), pack(rng.integers(0, 2, (500, bits)))
    faiss_indices, faiss_distances = knn(query, database, 50, backend="faiss")
    indices, distances = knn(query, database, 50, backend="numpy")
    np.testing.assert_array_equal(faiss_distances, distances)
    all_indices, all_distances = knn(query, database, 500, backend="numpy")
    for row in range(len(query)):
        boundary = distances[row, -1]
        inside = distances[row] < boundary
        np.testing.assert_array_equal(faiss_indices[row, inside], indices[row, inside])
        # the last places hold distinct items at the boundary distance, whichever faiss's heap kept
        at_boundary = set(all_indices[row][all_distances[row] == boundary])
        last = faiss_indices[row, ~inside]
        assert set(last) <= at_boundary and len(set(last)) == len(last)


def test_k_is_capped_at_the_database_size():
    rng = np.random.default_rng(0)
    indices, _ = knn(pack(rng.integers(0, 2, (2, 8))), pack(rng.integers(0, 2, (5, 8))), 100, backend="numba")
    assert indices.shape == (2, 5) and sorted(indices[0]) == [0, 1, 2, 3, 4]


def test_unknown_backend_is_a_usage_error():
    with pytest.raises(UsageError, match="search backend 'gpu': expected one of auto, numba, numpy, faiss"):
        resolve_backend("gpu")

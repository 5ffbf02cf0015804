"""Hamming search: k nearest database codes per query, ties in database order.

Backends, chosen with ``backend=``:

* ``"numba"``: compiled kernels (:mod:`hashbench.scoring.kernels`), a histogram over
  the integer distances instead of a sort, parallel over queries;
* ``"numpy"``: popcount on 64-bit words in chunks of queries, and a linear
  selection on the key distance * n + index, so ties keep database order;
* ``"faiss"``: faiss ``IndexBinaryFlat`` (``pip install faiss-cpu``). Its
  heap keeps an arbitrary subset of the items tied at the k-th distance;
  rows are re-sorted by (distance, index), so it agrees with the others
  everywhere except on which tied items fill the last places;
* ``"auto"``: numba when installed, else numpy.

Memory stays bounded: at most :data:`CHUNK_ENTRIES` query-item pairs are held
at once on the numpy path, O(database) per thread on the numba path.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from hashbench.codes import as_words, hamming_distances
from hashbench.errors import UsageError
from hashbench.scoring import kernels

#: Upper bound on query x database entries held at once on the numpy path.
CHUNK_ENTRIES = 1 << 22
BACKENDS = ("auto", "numba", "numpy", "faiss")


@dataclass(frozen=True)
class RankedChunk:
    """Distances and the stable Hamming ranking of a block of consecutive queries (numpy path)."""

    queries: slice
    distances: np.ndarray  # (q, n_database) uint16, in database order
    order: np.ndarray  # (q, n_database) database indices, nearest first, ties by index


def resolve_backend(backend: str) -> str:
    """The backend that ``backend`` stands for; a clear error when it is unknown or not installed."""
    if backend not in BACKENDS:
        raise UsageError(f"search backend {backend!r}: expected one of {', '.join(BACKENDS)}")
    if backend == "auto":
        return "numba" if kernels.AVAILABLE else "numpy"
    if backend == "numba" and not kernels.AVAILABLE:
        raise UsageError("search backend 'numba': numba is not installed; pip install numba")
    if backend == "faiss":
        try:
            import faiss  # noqa: F401
        except ImportError:
            raise UsageError("search backend 'faiss': faiss is not installed; pip install faiss-cpu") from None
    return backend


def rank(distances: np.ndarray) -> np.ndarray:
    """Database indices sorted by distance per row; ties keep database order (stable radix sort)."""
    return np.argsort(distances, axis=1, kind="stable")


def _query_chunks(n_query: int, n_database: int, chunk_entries: int | None) -> Iterator[slice]:
    step = max(1, (CHUNK_ENTRIES if chunk_entries is None else chunk_entries) // max(1, n_database))
    for start in range(0, n_query, step):
        yield slice(start, min(start + step, n_query))


def hamming_ranking(
    query_packed: np.ndarray, database_packed: np.ndarray, *, chunk_entries: int | None = None
) -> Iterator[RankedChunk]:
    """Rank the whole database for every query (numpy), yielding chunks of queries in order.

    A chunk holds at most ``chunk_entries`` (default :data:`CHUNK_ENTRIES`)
    query-item pairs, and at least one query.
    """
    query_words, database_words = as_words(query_packed), as_words(database_packed)
    for rows in _query_chunks(query_words.shape[0], database_words.shape[0], chunk_entries):
        distances = hamming_distances(query_words[rows], database_words)
        yield RankedChunk(rows, distances, rank(distances))


def _knn_numpy(query_words: np.ndarray, database_words: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    n_database = database_words.shape[0]
    keys = np.empty((query_words.shape[0], k), dtype=np.int64)  # distance * n_database + index
    for rows in _query_chunks(query_words.shape[0], n_database, None):
        chunk = hamming_distances(query_words[rows], database_words).astype(np.int64) * n_database
        chunk += np.arange(n_database)
        if k < n_database:
            chunk = np.take_along_axis(chunk, np.argpartition(chunk, k - 1, axis=1)[:, :k], axis=1)
        keys[rows] = np.sort(chunk, axis=1)
    return keys % n_database, (keys // n_database).astype(np.uint16)


def _knn_faiss(query_packed: np.ndarray, database_packed: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    import faiss

    index = faiss.IndexBinaryFlat(8 * database_packed.shape[1])
    index.add(np.ascontiguousarray(database_packed))
    distances, indices = index.search(np.ascontiguousarray(query_packed), k)
    order = np.lexsort((indices, distances), axis=1)
    return np.take_along_axis(indices, order, axis=1), np.take_along_axis(distances, order, axis=1).astype(np.uint16)


def knn(
    query_packed: np.ndarray, database_packed: np.ndarray, k: int, *, backend: str = "auto"
) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest database items of every query: (indices, distances), each (n_query x k).

    Rows are sorted by distance, ties by database index (see the module note
    for faiss). ``k`` is capped at the database size.
    """
    k = min(int(k), database_packed.shape[0])
    if k < 1:
        raise UsageError(f"k {k}: expected at least 1")
    backend = resolve_backend(backend)
    if backend == "faiss":
        return _knn_faiss(query_packed, database_packed, k)
    query_words, database_words = as_words(query_packed), as_words(database_packed)
    if backend == "numba":
        return kernels.knn(query_words, database_words, k, 64 * database_words.shape[1])
    return _knn_numpy(query_words, database_words, k)

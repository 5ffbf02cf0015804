"""Hamming ranking: every query against the whole database, ties in database order.

Distances are small integers (0..bits, stored as uint16), so numpy's stable
sort runs as a radix sort: linear in the database size per query. Work is done
in chunks of queries so that memory stays bounded whatever the database size.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from hashbench.codes import as_words, hamming_distances

#: Upper bound on query x database entries held at once (distances, order, relevance).
CHUNK_ENTRIES = 1 << 22


@dataclass(frozen=True)
class RankedChunk:
    """Distances and the stable Hamming ranking of a block of consecutive queries."""

    queries: slice
    distances: np.ndarray  # (q, n_database) uint16, in database order
    order: np.ndarray  # (q, n_database) database indices, nearest first, ties by index
    seconds: float  # time spent computing distances and ranking this chunk


def rank(distances: np.ndarray) -> np.ndarray:
    """Database indices sorted by distance per row; ties keep database order (stable)."""
    return np.argsort(distances, axis=1, kind="stable")


def hamming_ranking(
    query_packed: np.ndarray, database_packed: np.ndarray, *, chunk_entries: int | None = None
) -> Iterator[RankedChunk]:
    """Rank the database for every query, yielding chunks of queries in order.

    A chunk holds at most ``chunk_entries`` (default :data:`CHUNK_ENTRIES`)
    query-item pairs, and at least one query.
    """
    chunk_entries = CHUNK_ENTRIES if chunk_entries is None else chunk_entries
    query_words, database_words = as_words(query_packed), as_words(database_packed)
    n_query, n_database = query_words.shape[0], database_words.shape[0]
    step = max(1, chunk_entries // max(1, n_database))
    for start in range(0, n_query, step):
        rows = slice(start, min(start + step, n_query))
        began = time.perf_counter()
        distances = hamming_distances(query_words[rows], database_words)
        order = rank(distances)
        yield RankedChunk(rows, distances, order, time.perf_counter() - began)

"""Compiled Hamming kernels (numba, a dependency of hashbench); the numpy paths serve where it is missing.

Each kernel handles one query per iteration of a parallel loop and touches the
database twice, with no sort: Hamming distances are integers in 0..bits, so a
histogram over distances gives every item's rank directly (its bucket's start
plus its place among the bucket's items in database order). Memory per thread
is O(database size) bytes, whatever the number of queries.

The pure-numpy paths in :mod:`hashbench.scoring.search` and :mod:`hashbench.scoring.metrics`
give the same neighbours and distances, and the same scores up to the
summation order of floating-point sums (tested to 1e-12).
"""

from __future__ import annotations

import numpy as np

from hashbench.codes import as_words

try:
    import numba
    from numba import types
    from numba.extending import intrinsic
except ImportError:  # the numpy paths take over
    numba = None

AVAILABLE = numba is not None

if AVAILABLE:

    @intrinsic
    def _popcount(typingctx, value):
        """The CPU's population count of a uint64 (LLVM ctpop)."""

        def codegen(context, builder, signature, args):
            return builder.ctpop(args[0])

        return types.uint64(types.uint64), codegen

    _jit = numba.njit(parallel=True, cache=True, nogil=True)
    _inline = numba.njit(cache=True, inline="always")

    @_inline
    def _fill_distances(query, database, out):
        """Hamming distance of every database row to ``query``; one- and two-word codes get tight loops."""
        n_database, n_words = database.shape
        if n_words == 1:
            first = query[0]
            for item in range(n_database):
                out[item] = _popcount(first ^ database[item, 0])
        elif n_words == 2:
            first, second = query[0], query[1]
            for item in range(n_database):
                out[item] = _popcount(first ^ database[item, 0]) + _popcount(second ^ database[item, 1])
        else:
            for item in range(n_database):
                distance = 0
                for word in range(n_words):
                    distance += _popcount(query[word] ^ database[item, word])
                out[item] = distance

    @_inline
    def _histogram(row, n_bins):
        """Counts of each distance; four interleaved histograms break the increment dependency chain."""
        partial = np.zeros((4, n_bins), dtype=np.int64)
        n_items = row.shape[0]
        body = n_items - n_items % 4
        for item in range(0, body, 4):
            partial[0, row[item]] += 1
            partial[1, row[item + 1]] += 1
            partial[2, row[item + 2]] += 1
            partial[3, row[item + 3]] += 1
        for item in range(body, n_items):
            partial[0, row[item]] += 1
        return partial.sum(axis=0)

    @_inline
    def _guess_cutoff(row, k, n_bins):
        """A distance likely to have about 2k items within it, from a strided sample (exactness is checked)."""
        stride = max(1, row.shape[0] // 4096)
        sample = _histogram(row[::stride], n_bins)
        wanted = 2.0 * k * row[::stride].shape[0] / row.shape[0]
        running = 0
        for distance in range(n_bins):
            running += sample[distance]
            if running >= wanted:
                return distance
        return n_bins - 1

    @_inline
    def _select(row, items, k, n_bins, indices, distances):
        """Write the k nearest of ``items`` (database order) into ``indices``/``distances`` by counting sort."""
        histogram = np.zeros(n_bins, dtype=np.int64)
        for item in items:
            histogram[row[item]] += 1
        slots = np.empty(n_bins, dtype=np.int64)
        taken, cutoff = 0, n_bins - 1
        for distance in range(n_bins):
            slots[distance] = taken
            if taken + histogram[distance] >= k:
                cutoff = distance
                break
            taken += histogram[distance]
        for item in items:
            distance = row[item]
            if distance <= cutoff and slots[distance] < k:
                indices[slots[distance]] = item
                distances[slots[distance]] = distance
                slots[distance] += 1

    @_jit
    def popcount_sum(query_words, database_words):
        """Sum of Hamming distances per query: the plain popcount loop that bounds every search."""
        totals = np.zeros(query_words.shape[0], dtype=np.int64)
        for q in numba.prange(query_words.shape[0]):
            row = np.empty(database_words.shape[0], dtype=np.uint16)
            _fill_distances(query_words[q], database_words, row)
            totals[q] = row.sum()
        return totals

    @_jit
    def knn(query_words, database_words, k, bits):
        """Indices and distances of the k nearest items per query; ties in database order.

        A strided sample suggests a cutoff distance; the items within it are
        gathered in one pass and sorted by counting. If fewer than k lie
        within the guess, all items are candidates, so the result is exact.
        """
        n_query, n_database = query_words.shape[0], database_words.shape[0]
        n_bins = bits + 1
        indices = np.empty((n_query, k), dtype=np.int64)
        distances = np.empty((n_query, k), dtype=np.uint16)
        for q in numba.prange(n_query):
            row = np.empty(n_database, dtype=np.uint16)
            _fill_distances(query_words[q], database_words, row)
            guess = _guess_cutoff(row, k, n_bins)
            candidates = np.empty(n_database, dtype=np.int64)
            found = 0
            for item in range(n_database):
                if row[item] <= guess:
                    candidates[found] = item
                    found += 1
            if found < k:
                candidates = np.arange(n_database)
                found = n_database
            _select(row, candidates[:found], k, n_bins, indices[q], distances[q])
        return indices, distances

    @_jit
    def ranking_statistics(query_words, database_words, query_labels, database_labels, bits, map_at, precision_at):
        """Per query: relevant count, AP, AP@K, hits in the top K, and per-distance bucket counts.

        ``*_labels`` are label bitmasks (uint64 words). ``map_at`` and
        ``precision_at`` are sorted int64 arrays of cut-offs. One pass counts
        every item into its distance bucket and notes, for each relevant item,
        its place among the items of its bucket (database order); the ranks of
        the relevant items follow from the bucket starts, with no sort.
        """
        n_query, n_database = query_words.shape[0], database_words.shape[0]
        n_bins = bits + 1
        n_relevant = np.zeros(n_query, dtype=np.int64)
        average_precision = np.zeros(n_query)
        truncated = np.zeros((n_query, map_at.size))
        hits_at = np.zeros((n_query, precision_at.size), dtype=np.int64)
        sizes = np.zeros((n_query, n_bins), dtype=np.int64)
        relevant_sizes = np.zeros((n_query, n_bins), dtype=np.int64)
        one_label_word = database_labels.shape[1] == 1
        for q in numba.prange(n_query):
            row = np.empty(n_database, dtype=np.uint16)
            _fill_distances(query_words[q], database_words, row)
            relevant = np.zeros(n_database, dtype=np.uint8)
            if one_label_word:
                label = query_labels[q, 0]
                for item in range(n_database):
                    relevant[item] = (database_labels[item, 0] & label) != 0
            else:
                for item in range(n_database):
                    for word in range(database_labels.shape[1]):
                        if query_labels[q, word] & database_labels[item, word]:
                            relevant[item] = 1
                            break
            seen = np.zeros(n_bins, dtype=np.int64)
            relevant_distance = np.empty(n_database, dtype=np.uint16)
            relevant_place = np.empty(n_database, dtype=np.int64)
            found = 0
            for item in range(n_database):  # branch-free compaction of the relevant items
                distance = row[item]
                place = seen[distance]
                seen[distance] = place + 1
                relevant_distance[found] = distance
                relevant_place[found] = place
                found += relevant[item]
            sizes[q] = seen
            for m in range(found):
                relevant_sizes[q, relevant_distance[m]] += 1
            start = np.zeros(n_bins, dtype=np.int64)
            relevant_start = np.zeros(n_bins, dtype=np.int64)
            for distance in range(1, n_bins):
                start[distance] = start[distance - 1] + seen[distance - 1]
                relevant_start[distance] = relevant_start[distance - 1] + relevant_sizes[q, distance - 1]
            relevant_seen = np.zeros(n_bins, dtype=np.int64)
            truncated_hits = np.zeros(map_at.size, dtype=np.int64)
            for m in range(found):
                distance = relevant_distance[m]
                relevant_seen[distance] += 1
                rank = start[distance] + relevant_place[m] + 1
                precision = (relevant_start[distance] + relevant_seen[distance]) / rank
                average_precision[q] += precision
                for cut in range(map_at.size):
                    if rank <= map_at[cut]:
                        truncated[q, cut] += precision
                        truncated_hits[cut] += 1
                for cut in range(precision_at.size):
                    if rank <= precision_at[cut]:
                        hits_at[q, cut] += 1
            n_relevant[q] = found
            if found > 0:
                average_precision[q] /= found
            for cut in range(map_at.size):
                if truncated_hits[cut] > 0:
                    truncated[q, cut] /= truncated_hits[cut]
        return n_relevant, average_precision, truncated, hits_at, sizes, relevant_sizes


def label_words(labels: np.ndarray) -> np.ndarray:
    """Boolean labels (n x classes) as uint64 bitmasks (n x ceil(classes / 64)), for the kernels."""
    return as_words(np.packbits(labels.astype(np.uint8), axis=1, bitorder="little"))

"""Retrieval metrics from binary codes: mAP, mAP@K, precision@K, PR by radius, P@r<=2.

Conventions (recorded in every run record as :data:`CONVENTIONS`):

* **Relevance.** A query and a database item are relevant when their label
  vectors share at least one label.
* **Ranking.** Database items are ordered by Hamming distance to the query;
  items at the same distance keep database index order (a stable sort), as the
  MATLAB evaluation codes of the field do. ``map_tie_aware`` is the exception:
  it is the expected AP over all orders of tied items (McSherry & Najork, ECIR
  2008), which depends on no order at all.
* **AP** of a query = mean over its relevant items of the precision at each
  one's rank. **mAP** is the mean AP over *all* queries.
* **Queries with no relevant item** get AP = 0 and stay in the mean's
  denominator, as the DCMH/SSAH reference code does (it skips them in the sum
  but divides by the number of queries). Their count is reported as
  ``queries_without_relevant``.
* **mAP@K** (``map@K``) truncates the ranking at K (K capped at the database
  size) and divides by the number of relevant items *found in the top K*, as
  DCMH's MATLAB top-K mAP; a query with none in its top K scores 0.
* **precision@K** = relevant items in the top K / K.
* **PR curve by radius r** (0..bits): items within distance r are retrieved;
  precision and recall are computed per query and averaged over queries
  (macro). A query that retrieves nothing has precision 0 at that radius, and a
  query with no relevant item has recall 0, as the ITQ/SH evaluation code does.
* **p@r2** = precision within Hamming radius 2 under the same convention.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np

from hashbench.codes import as_words
from hashbench.scoring import kernels
from hashbench.scoring.search import hamming_ranking, resolve_backend

CONVENTIONS = {
    "relevance": "share at least one label",
    "ties": "stable: database index order",
    "no_relevant_query": "AP = 0, counted in the mean",
    "map@K": "top K ranked items; AP divided by relevant items found in the top K",
    "pr_curve": "macro average over queries; precision 0 when nothing is retrieved",
    "map_tie_aware": "expected AP over random orders of tied items",
}

DEFAULT_PRECISION_AT = (1, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)

#: The scalar metrics where a larger value is better. ``queries_without_relevant`` is not one: it counts queries
#: whose labels match no database item, a property of the labels, not of the codes.
RANKED_METRICS = re.compile(r"map|map_tie_aware|map@\d+|p@r\d+")


def ranks_methods(metric: str) -> bool:
    """Whether a larger ``metric`` is better, so that a table can mark the best method (:data:`RANKED_METRICS`)."""
    return RANKED_METRICS.fullmatch(metric) is not None


@dataclass(frozen=True)
class EvalConfig:
    """Which truncations and curve points to compute."""

    map_at: tuple[int, ...] = (50, 100)
    precision_at: tuple[int, ...] = DEFAULT_PRECISION_AT
    radius: int = 2


#: Whole-database mAP alone: no cut-offs, no curves (benchmarks, training-set fit, validation).
MAP_ONLY = EvalConfig(map_at=(), precision_at=(), radius=0)


@dataclass
class Evaluation:
    """Scores of one retrieval task (e.g. image queries against text codes)."""

    metrics: dict[str, float]
    curves: dict[str, dict[str, list[float]]]
    backend: str
    statistics: RankingStatistics = field(repr=False)


@dataclass
class RankingStatistics:
    """Per-query quantities that every metric is computed from (one row per query)."""

    n_relevant: np.ndarray  # relevant items in the database
    average_precision: np.ndarray  # AP over the whole ranking
    truncated: np.ndarray  # AP@K, one column per K of map_at
    hits_at: np.ndarray  # relevant items in the top K, one column per K of precision_at
    bucket_sizes: np.ndarray  # items at each distance 0..bits
    bucket_relevant: np.ndarray  # relevant items at each distance 0..bits


def relevance(query_labels: np.ndarray, database_labels: np.ndarray) -> np.ndarray:
    """Boolean q x n matrix: True where the query and the item share a label."""
    shared = query_labels.astype(np.float32) @ database_labels.astype(np.float32).T
    return shared > 0


def _safe_divide(numerator: np.ndarray, denominator: np.ndarray) -> np.ndarray:
    numerator = np.asarray(numerator, dtype=np.float64)
    return np.divide(numerator, denominator, out=np.zeros_like(numerator), where=denominator > 0)


def average_precision(relevant_in_order: np.ndarray) -> np.ndarray:
    """AP of each row of a ranked 0/1 relevance matrix (0 for a row without relevant items)."""
    hits = np.cumsum(relevant_in_order, axis=1)
    ranks = np.arange(1, relevant_in_order.shape[1] + 1)
    precision_sum = np.sum(np.where(relevant_in_order, hits / ranks, 0.0), axis=1)
    return _safe_divide(precision_sum, hits[:, -1])


def _bucket_counts(distances: np.ndarray, weights: np.ndarray | None, bits: int) -> np.ndarray:
    """Per-query histogram over distances 0..bits (optionally weighted), q x (bits + 1)."""
    n_query = distances.shape[0]
    offsets = distances.astype(np.int64) + (bits + 1) * np.arange(n_query)[:, None]
    flat_weights = None if weights is None else weights.ravel().astype(np.float64)
    counts = np.bincount(offsets.ravel(), weights=flat_weights, minlength=n_query * (bits + 1))
    return counts.reshape(n_query, bits + 1)


def tie_aware_average_precision(bucket_sizes: np.ndarray, bucket_relevant: np.ndarray) -> np.ndarray:
    """Expected AP over all orders of items tied at the same distance, per query.

    ``bucket_sizes[q, d]`` items lie at distance d from query q, of which
    ``bucket_relevant[q, d]`` are relevant. For a bucket that occupies ranks
    t0+1..t1 with n items, r of them relevant and R relevant before it, rank j
    is relevant with probability r/n, and then the expected number of relevant
    items up to j is R + 1 + (j - t0 - 1)(r - 1)/(n - 1). Summing over j uses
    harmonic numbers, so the cost is one pass over the buckets.
    """
    sizes = bucket_sizes.astype(np.float64)
    hits = bucket_relevant.astype(np.float64)
    ends = np.cumsum(sizes, axis=1)
    starts = ends - sizes
    relevant_before = np.cumsum(hits, axis=1) - hits
    total = int(ends[0, -1]) if ends.size else 0
    harmonic = np.concatenate([[0.0], np.cumsum(1.0 / np.arange(1, total + 1))])
    harmonic_span = harmonic[ends.astype(np.int64)] - harmonic[starts.astype(np.int64)]
    slope = _safe_divide(hits - 1.0, sizes - 1.0)
    expected = _safe_divide(hits, sizes) * (
        (relevant_before + 1.0 - slope * (starts + 1.0)) * harmonic_span + slope * sizes
    )
    return _safe_divide(expected.sum(axis=1), hits.sum(axis=1))


def _columns(columns: list[np.ndarray], rows: int) -> np.ndarray:
    return np.stack(columns, axis=1) if columns else np.zeros((rows, 0))


def _statistics_numpy(query_packed, database_packed, query_labels, database_labels, bits, map_at, precision_at):
    parts: dict[str, list[np.ndarray]] = {name: [] for name in RankingStatistics.__dataclass_fields__}
    for chunk in hamming_ranking(query_packed, database_packed):
        relevant = relevance(query_labels[chunk.queries], database_labels)
        in_order = np.take_along_axis(relevant, chunk.order, axis=1)
        hits = np.cumsum(in_order, axis=1)
        parts["n_relevant"].append(hits[:, -1])
        parts["average_precision"].append(average_precision(in_order))
        parts["truncated"].append(_columns([average_precision(in_order[:, :k]) for k in map_at], len(hits)))
        parts["hits_at"].append(_columns([hits[:, k - 1] for k in precision_at], len(hits)))
        parts["bucket_sizes"].append(_bucket_counts(chunk.distances, None, bits))
        parts["bucket_relevant"].append(_bucket_counts(chunk.distances, relevant, bits))
    return RankingStatistics(**{name: np.concatenate(values) for name, values in parts.items()})


def _statistics_numba(query_packed, database_packed, query_labels, database_labels, bits, map_at, precision_at):
    words = as_words(query_packed), as_words(database_packed)
    statistics = kernels.ranking_statistics(
        *words,
        kernels.label_words(query_labels),
        kernels.label_words(database_labels),
        64 * words[0].shape[1],
        np.asarray(map_at, dtype=np.int64),
        np.asarray(precision_at, dtype=np.int64),
    )
    result = RankingStatistics(*statistics)
    result.bucket_sizes = result.bucket_sizes[:, : bits + 1]
    result.bucket_relevant = result.bucket_relevant[:, : bits + 1]
    return result


def ranking_statistics(
    query_packed: np.ndarray,
    database_packed: np.ndarray,
    query_labels: np.ndarray,
    database_labels: np.ndarray,
    bits: int,
    map_at: list[int],
    precision_at: list[int],
    backend: str = "auto",
) -> RankingStatistics:
    """The per-query statistics of the stable Hamming ranking, by the numba or the numpy path."""
    backend = resolve_backend(backend)
    compute = _statistics_numba if backend == "numba" else _statistics_numpy
    return compute(query_packed, database_packed, query_labels, database_labels, bits, map_at, precision_at)


def evaluate(
    query_packed: np.ndarray,
    database_packed: np.ndarray,
    query_labels: np.ndarray,
    database_labels: np.ndarray,
    bits: int,
    config: EvalConfig | None = None,
    *,
    backend: str = "auto",
) -> Evaluation:
    """Rank the database by Hamming distance for every query and score the ranking.

    ``backend`` is "auto" (numba when installed), "numba" or "numpy"; the
    faiss backend only searches, so it scores with the numpy path.
    """
    config = config or EvalConfig()
    n_database = database_packed.shape[0]
    map_at = sorted({min(k, n_database) for k in config.map_at})
    precision_at = sorted({k for k in config.precision_at if k <= n_database})
    radius = min(config.radius, bits)
    backend = "numpy" if backend == "faiss" else resolve_backend(backend)
    stats = ranking_statistics(
        query_packed, database_packed, query_labels, database_labels, bits, map_at, precision_at, backend
    )
    retrieved = np.cumsum(stats.bucket_sizes, axis=1)
    retrieved_relevant = np.cumsum(stats.bucket_relevant, axis=1)
    precision_by_radius = _safe_divide(retrieved_relevant, retrieved)
    recall_by_radius = _safe_divide(retrieved_relevant, stats.n_relevant[:, None])
    tie_aware = tie_aware_average_precision(stats.bucket_sizes, stats.bucket_relevant)
    metrics = {
        "map": float(stats.average_precision.mean()),
        "map_tie_aware": float(tie_aware.mean()),
        **{f"map@{k}": float(stats.truncated[:, i].mean()) for i, k in enumerate(map_at)},
        f"p@r{radius}": float(precision_by_radius[:, radius].mean()),
        "queries_without_relevant": int((stats.n_relevant == 0).sum()),
    }
    curves = {
        "precision_at_k": {
            "k": precision_at,
            "precision": [float(stats.hits_at[:, i].mean() / k) for i, k in enumerate(precision_at)],
        },
        "pr_by_radius": {
            "radius": list(range(bits + 1)),
            "precision": precision_by_radius.mean(axis=0).tolist(),
            "recall": recall_by_radius.mean(axis=0).tolist(),
        },
    }
    return Evaluation(metrics, curves, backend, stats)

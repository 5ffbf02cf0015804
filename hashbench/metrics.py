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

from dataclasses import dataclass, field

import numpy as np

from hashbench.search import hamming_ranking

CONVENTIONS = {
    "relevance": "share at least one label",
    "ties": "stable: database index order",
    "no_relevant_query": "AP = 0, counted in the mean",
    "map@K": "top K ranked items; AP divided by relevant items found in the top K",
    "pr_curve": "macro average over queries; precision 0 when nothing is retrieved",
    "map_tie_aware": "expected AP over random orders of tied items",
}

DEFAULT_PRECISION_AT = (1, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000, 10000)


@dataclass(frozen=True)
class EvalConfig:
    """Which truncations and curve points to compute."""

    map_at: tuple[int, ...] = (50, 100)
    precision_at: tuple[int, ...] = DEFAULT_PRECISION_AT
    radius: int = 2


@dataclass
class Evaluation:
    """Scores of one retrieval task (e.g. image queries against text codes)."""

    metrics: dict[str, float]
    curves: dict[str, dict[str, list[float]]]
    search_seconds: float
    comparisons: int
    per_query: dict[str, np.ndarray] = field(repr=False, default_factory=dict)


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


def evaluate(
    query_packed: np.ndarray,
    database_packed: np.ndarray,
    query_labels: np.ndarray,
    database_labels: np.ndarray,
    bits: int,
    config: EvalConfig | None = None,
) -> Evaluation:
    """Rank the database by Hamming distance for every query and score the ranking."""
    config = config or EvalConfig()
    n_query, n_database = query_packed.shape[0], database_packed.shape[0]
    map_at = sorted({min(k, n_database) for k in config.map_at})
    precision_at = sorted({k for k in config.precision_at if k <= n_database})
    radius = min(config.radius, bits)
    per_query: dict[str, list[np.ndarray]] = {}
    search_seconds = 0.0

    def keep(name: str, values: np.ndarray) -> None:
        per_query.setdefault(name, []).append(values)

    for chunk in hamming_ranking(query_packed, database_packed):
        search_seconds += chunk.seconds
        relevant = relevance(query_labels[chunk.queries], database_labels)
        in_order = np.take_along_axis(relevant, chunk.order, axis=1)
        hits = np.cumsum(in_order, axis=1)
        n_relevant = hits[:, -1]
        keep("n_relevant", n_relevant)
        keep("ap", average_precision(in_order))
        for k in map_at:
            keep(f"map@{k}", average_precision(in_order[:, :k]))
        for k in precision_at:
            keep(f"p@{k}", hits[:, k - 1] / k)

        bucket_sizes = _bucket_counts(chunk.distances, None, bits)
        bucket_relevant = _bucket_counts(chunk.distances, relevant, bits)
        keep("ap_tie_aware", tie_aware_average_precision(bucket_sizes, bucket_relevant))
        retrieved = np.cumsum(bucket_sizes, axis=1)
        retrieved_relevant = np.cumsum(bucket_relevant, axis=1)
        precision_by_radius = _safe_divide(retrieved_relevant, retrieved)
        keep("pr_precision", precision_by_radius)
        keep("pr_recall", _safe_divide(retrieved_relevant, n_relevant[:, None]))
        keep("p@r", precision_by_radius[:, radius])

    joined = {name: np.concatenate(parts) for name, parts in per_query.items()}
    metrics = {
        "map": float(joined["ap"].mean()),
        "map_tie_aware": float(joined["ap_tie_aware"].mean()),
        **{f"map@{k}": float(joined[f"map@{k}"].mean()) for k in map_at},
        f"p@r{radius}": float(joined["p@r"].mean()),
        "queries_without_relevant": int((joined["n_relevant"] == 0).sum()),
    }
    curves = {
        "precision_at_k": {
            "k": precision_at,
            "precision": [float(joined[f"p@{k}"].mean()) for k in precision_at],
        },
        "pr_by_radius": {
            "radius": list(range(bits + 1)),
            "precision": joined["pr_precision"].mean(axis=0).tolist(),
            "recall": joined["pr_recall"].mean(axis=0).tolist(),
        },
    }
    return Evaluation(metrics, curves, search_seconds, n_query * n_database, joined)

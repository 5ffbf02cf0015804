"""CMSSH: Cross-Modality Similarity-Sensitive Hashing (Bronstein, Bronstein, Michel, Paragios; CVPR 2010).

Supervised, by boosting: each round learns one bit, a pair of thresholded
projections h(x) = sign(p^T x - a), g(y) = sign(q^T y - b), so that
h(x_i) g(y_j) = +1 on similar cross-modal pairs and -1 on dissimilar ones.

No released code was found; each choice below follows the paper and is ours
where the paper leaves it open:

* **Pairs.** ``pairs`` positive (sharing a label) and as many negative
  cross-modal pairs (image i, text j) are drawn uniformly from the training
  set with the run's seed; i = j counts as a pair too.
* **Weights.** AdaBoost on the pairs: uniform start; after each round,
  w <- w exp(-alpha s f) with s = +1/-1 the pair's similarity, f = h g the
  bit's vote and alpha = 1/2 log((1 - err) / err), then normalised.
* **Projections.** The weighted correlation sum_pairs w s h g, with the signs
  relaxed to the projections, is p^T C q for the weighted cross-covariance
  C = sum w s x_i y_j^T = X^T A Y (A sparse, n x n); (p, q) is its top
  singular pair. Features are centred with the training mean.
* **Thresholds.** a and b are chosen together on a grid of ``thresholds``
  quantiles of the projected training items, maximising the weighted
  correlation of the thresholded bits (the paper's search over projected
  values, on a grid so that it is one matrix product).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse

from hashbench.data import TrainView
from hashbench.errors import UsageError
from hashbench.method import Reference, sign_bits
from hashbench.methods._linear import LinearHashMethod, centred_training_features
from hashbench.registry import register_method


@dataclass(frozen=True)
class CmsshParams:
    """CMSSH parameters.

    pairs: positive pairs sampled (and as many negative ones).
    thresholds: candidate thresholds per modality (quantiles of the projected training items).
    """

    pairs: int = 20000
    thresholds: int = 41

    def __post_init__(self) -> None:
        if self.pairs < 1 or self.thresholds < 1:
            raise UsageError("pairs and thresholds: expected positive integers")


_SAMPLING_ROUNDS = 20


def sample_pairs(labels: np.ndarray, count: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """``count`` similar and ``count`` dissimilar (i, j) pairs, as (i, j, s) with s = +1 / -1.

    Pairs are drawn uniformly in rounds; when a kind stays rarer than ``count``
    after 20 rounds, all of it that was found is used.
    """
    n = labels.shape[0]
    found: dict[float, list[np.ndarray]] = {1.0: [], -1.0: []}
    for _ in range(_SAMPLING_ROUNDS):
        i, j = rng.integers(0, n, (2, 4 * count))
        similar = (labels[i] & labels[j]).any(axis=1)
        found[1.0].append(np.stack([i[similar], j[similar]]))
        found[-1.0].append(np.stack([i[~similar], j[~similar]]))
        if all(sum(part.shape[1] for part in parts) >= count for parts in found.values()):
            break
    columns = []
    for sign, parts in found.items():
        pairs = np.hstack(parts)[:, :count]
        if pairs.shape[1] == 0:
            kind = "similar" if sign > 0 else "dissimilar"
            raise UsageError(f"method 'cmssh': the training labels give no {kind} pairs; expected both kinds")
        columns.append(np.vstack([pairs, np.full(pairs.shape[1], sign)]))
    i, j, s = np.hstack(columns)
    return i.astype(np.int64), j.astype(np.int64), s


def best_thresholds(
    projected_x: np.ndarray,
    projected_y: np.ndarray,
    i: np.ndarray,
    j: np.ndarray,
    signed_weights: np.ndarray,
    grid: int,
) -> tuple[float, float]:
    """(a, b) on quantile grids maximising sum w s sign(p^T x_i - a) sign(q^T y_j - b)."""
    levels = np.linspace(0, 1, grid + 2)[1:-1]
    candidates_x, candidates_y = np.quantile(projected_x, levels), np.quantile(projected_y, levels)
    votes_x = np.where(projected_x[i][None, :] >= candidates_x[:, None], 1.0, -1.0)  # grid x pairs
    votes_y = np.where(projected_y[j][None, :] >= candidates_y[:, None], 1.0, -1.0)
    correlation = (votes_x * signed_weights) @ votes_y.T
    best_x, best_y = np.unravel_index(np.argmax(correlation), correlation.shape)
    return float(candidates_x[best_x]), float(candidates_y[best_y])


@register_method("cmssh")
class Cmssh(LinearHashMethod):
    """Cross-Modality Similarity-Sensitive Hashing: one boosted pair of projections per bit."""

    supervised = True
    reference = Reference(
        "Bronstein, Bronstein, Michel & Paragios",
        "Data Fusion through Cross-modality Metric Learning using Similarity-Sensitive Hashing",
        "CVPR",
        2010,
    )
    Params = CmsshParams

    def fit(self, train: TrainView, bits: int, *, seed: int, device: str = "cpu") -> Cmssh:
        rng = np.random.default_rng(seed)
        features, means = centred_training_features(train)
        x, y = features["image"], features["text"]
        i, j, s = sample_pairs(self.training_labels(train), self.params.pairs, rng)
        weights = np.full(s.size, 1.0 / s.size)
        w_x, w_y = np.zeros((x.shape[1], bits)), np.zeros((y.shape[1], bits))
        offsets = {"image": np.zeros(bits), "text": np.zeros(bits)}
        self.errors_ = []
        for bit in range(bits):
            pair_matrix = scipy.sparse.coo_matrix((weights * s, (i, j)), shape=(train.n, train.n)).tocsr()
            cross = x.T @ (pair_matrix @ y)
            left, _, right = np.linalg.svd(cross, full_matrices=False)
            p, q = left[:, 0], right[0]
            a, b = best_thresholds(x @ p, y @ q, i, j, weights * s, self.params.thresholds)
            votes = np.where(x[i] @ p >= a, 1.0, -1.0) * np.where(y[j] @ q >= b, 1.0, -1.0)
            error = float(np.clip(weights[votes != s].sum(), 1e-12, 1 - 1e-12))
            alpha = 0.5 * np.log((1 - error) / error)
            weights = weights * np.exp(-alpha * s * votes)
            weights /= weights.sum()
            w_x[:, bit], w_y[:, bit] = p, q
            offsets["image"][bit], offsets["text"][bit] = a, b
            self.errors_.append(error)
        self.means_ = means
        self.thresholds_ = offsets
        self.projections_ = {"image": w_x, "text": w_y}
        return self

    def encode(self, modality: str, features: np.ndarray) -> np.ndarray:
        return sign_bits(self.centred(modality, features) @ self.projections_[modality] - self.thresholds_[modality])

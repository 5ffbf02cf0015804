"""STMH: Semantic Topic Multimodal Hashing (Wang, Gao, Wang & He, IJCAI 2015).

Unsupervised. Texts are described by c semantic topics F_2 (cluster centres
to start with), each text by the c/2 topics it is made of (G_2, a 0/1 matrix
with c/2 ones per row); images by a robust factorisation X ~ G_1 F_1 (an
l2,1 loss, one weight per item, reweighted); and the image factors predict
the text topics through R. With samples as rows, both modalities centred, and the topics F_2 and image
bases F_1 as rows (c of each)::

    min r1 ||X - G_1 F_1||_2,1 + r2 ||T - G_2 F_2||^2 + lambda ||G_2 - G_1 R||^2
        + gamma (||R||^2 + ||G_1||^2 + ||F_1||^2 + ||F_2||^2)

Closed-form updates of F_1 (weighted least squares), F_2 and R (ridge), G_1
row by row, and G_2 by choosing for each text the c/2 topics of least cost
r2 ||t - f_k||^2 - 2 lambda (g_1 R)_k (the part of the objective that is
separable over topics); then the l2,1 weights 1 / (2 ||x_i - g_i F_1||)
are recomputed. At most ``iters`` = 10 rounds, stopping early when the
objective changes by less than ``tol`` = 1 % (relative). Defaults as the
paper: r1 = r2 = 0.5, lambda = 0.5, gamma = 1e-4.

Hash, both codes with exactly c/2 ones: a text's c/2 nearest topics; an
image's g = x F_1^T (F_1 F_1^T + gamma/r1 I)^-1 R with its c/2 largest entries
set to 1 (a per-row rule, so a code never depends on the batch). Ties go to
the lower topic index.

Choices of this implementation: topics start as k-means centres of the
training texts (c clusters, scikit-learn, seeded); G_1 starts equal to G_2
and R as I. The stopping tolerance is relative (the paper's |d obj| < 0.01 is
in the units of its features).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.cluster import KMeans

from hashbench.data import MODALITIES, TrainView
from hashbench.errors import UsageError
from hashbench.method import HashMethod, Reference
from hashbench.registry import register_method

WEIGHT_FLOOR = 1e-8  # smallest residual norm in the l2,1 weights 1 / (2 ||e_i||)


@dataclass(frozen=True)
class StmhParams:
    """STMH parameters. r1, r2: weights of the image and text factorisations; lam: weight of the
    correlation term; gamma: ridge; iters: most rounds; tol: relative objective change that stops them."""

    r1: float = 0.5
    r2: float = 0.5
    lam: float = 0.5
    gamma: float = 1e-4
    iters: int = 10
    tol: float = 0.01

    def __post_init__(self) -> None:
        if min(self.r1, self.r2, self.lam, self.gamma) <= 0 or self.iters < 1:
            raise UsageError("r1, r2, lam, gamma: expected positive numbers; iters: a positive integer")


def top_half(scores: np.ndarray) -> np.ndarray:
    """0/1 rows with ones at the c/2 largest scores of each row (ties to the lower index)."""
    order = np.argsort(-scores, axis=1, kind="stable")[:, : scores.shape[1] // 2]
    chosen = np.zeros(scores.shape, dtype=np.uint8)
    np.put_along_axis(chosen, order, 1, axis=1)
    return chosen


def squared_distances(rows: np.ndarray, centres: np.ndarray) -> np.ndarray:
    """||rows_i - centres_k||^2 for every pair."""
    return (rows**2).sum(1)[:, None] - 2 * rows @ centres.T + (centres**2).sum(1)[None, :]


def stmh_objective(x, t, g_1, g_2, f_1, f_2, r, p: StmhParams) -> float:
    """The STMH objective (l2,1 image loss, squared text and correlation losses, ridge)."""
    image_loss = np.linalg.norm(x - g_1 @ f_1, axis=1).sum()
    ridge = sum(np.sum(m**2) for m in (r, g_1, f_1, f_2))
    return float(p.r1 * image_loss + p.r2 * np.sum((t - g_2 @ f_2) ** 2)
                 + p.lam * np.sum((g_2 - g_1 @ r) ** 2) + p.gamma * ridge)  # fmt: skip


@register_method("stmh")
class Stmh(HashMethod):
    """Semantic Topic Multimodal Hashing: text topics, robust image factors, a map between them."""

    supervised = False
    reference = Reference("Wang, Gao, Wang & He", "Semantic Topic Multimodal Hashing for Cross-Media Retrieval",
                          "IJCAI", 2015)  # fmt: skip
    Params = StmhParams

    def fit(self, train: TrainView, bits: int, *, seed: int, device: str = "cpu") -> Stmh:
        if bits < 2 or bits > train.n:
            raise UsageError(f"bits={bits}: STMH needs 2 <= bits <= the {train.n} training items (one topic a bit)")
        p = self.params
        self.means_ = {m: train.features(m).astype(np.float64).mean(axis=0) for m in MODALITIES}
        x, t = (train.features(m).astype(np.float64) - self.means_[m] for m in MODALITIES)
        identity = np.eye(bits)
        f_2 = KMeans(n_clusters=bits, n_init=1, random_state=seed).fit(t).cluster_centers_
        g_2 = top_half(-squared_distances(t, f_2)).astype(np.float64)
        g_1, r, weights = g_2.copy(), identity.copy(), np.ones(train.n)
        self.objective_ = []
        for _ in range(p.iters):
            weighted = g_1 * weights[:, None]
            f_1 = np.linalg.solve(weighted.T @ g_1 + p.gamma / p.r1 * identity, weighted.T @ x)
            f_2 = np.linalg.solve(g_2.T @ g_2 + p.gamma / p.r2 * identity, g_2.T @ t)
            r = np.linalg.solve(g_1.T @ g_1 + p.gamma / p.lam * identity, g_1.T @ g_2)
            systems = p.r1 * weights[:, None, None] * (f_1 @ f_1.T)[None] + (p.lam * r @ r.T + p.gamma * identity)[None]
            targets = p.r1 * weights[:, None] * (x @ f_1.T) + p.lam * g_2 @ r.T
            g_1 = np.linalg.solve(systems, targets[:, :, None])[:, :, 0]
            costs = p.r2 * squared_distances(t, f_2) - 2 * p.lam * g_1 @ r
            g_2 = top_half(-costs).astype(np.float64)
            residuals = np.linalg.norm(x - g_1 @ f_1, axis=1)
            weights = 1 / (2 * np.maximum(residuals, WEIGHT_FLOOR))
            self.objective_.append(stmh_objective(x, t, g_1, g_2, f_1, f_2, r, p))
            if len(self.objective_) > 1 and abs(self.objective_[-2] - self.objective_[-1]) < p.tol * abs(
                self.objective_[-2]
            ):
                break
        self.topics_ = f_2
        self.image_map_ = f_1.T @ np.linalg.solve(f_1 @ f_1.T + p.gamma / p.r1 * identity, r)
        return self

    def encode(self, modality: str, features: np.ndarray) -> np.ndarray:
        centred = features.astype(np.float64) - self.means_[modality]
        if modality == "text":
            return top_half(-squared_distances(centred, self.topics_))
        return top_half(centred @ self.image_map_)

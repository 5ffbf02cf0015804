"""IMH: Inter-Media Hashing (Song, Yang, Yang, Huang & Shen, SIGMOD 2013).

Unsupervised. Each modality t keeps its own neighbourhoods (intra-media
consistency: a binary k-nearest-neighbour graph, symmetrised, with Laplacian
L_t = D_t - W_t), paired items are tied together by a large weight u
(inter-media consistency), and each embedding must be reachable by a linear
function of its features: with samples as rows, the regression residual
A_t = I - X_t (X_t^T X_t + beta I)^-1 X_t^T. As in the released ``IMH_learn``
(fully paired training data, selection matrices = I, U = u I)::

    C = (A_2 + lambda L_2 + u I)^-1 u            (Y_2 = C Y_1)
    D = A_1 + lambda L_1 + C^T (A_2 + lambda L_2) C + u (I - C)^T (I - C)

Y_1 is the eigenvectors of D with the c smallest eigenvalues, Y_2 = C Y_1, and
the hash functions are W_t = (X_t^T X_t + beta I)^-1 X_t^T Y_t. Each bit is
thresholded at the training median of its projection. Defaults as released:
beta = lambda = 1, u = 1e10; k = 15.

Departures, each deliberate:

* The released code weights the kNN graph with a Gaussian kernel; the graph
  here is binary, as the paper's experiments state.
* u (I - C) is computed as u (A_2 + lambda L_2 + u I)^-1 (A_2 + lambda L_2)
  rather than by subtracting C from I, which would cancel ten digits at
  u = 1e10.
* A projection equal to its median maps to 1 (the release: to 0).
* Features are centred with the training means (the release does not centre;
  with a regression without intercept, centring lets W_t fit Y_t instead of
  the mean).
* O(n^2) memory and O(n^3) time: training uses at most ``train_size`` items
  (default 5,000), drawn from the seed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg

from hashbench.data import TrainView
from hashbench.errors import UsageError
from hashbench.method import HashMethod, Reference, sign_bits
from hashbench.methods._linear import centred_training_features, knn_laplacian
from hashbench.registry import register_method


@dataclass(frozen=True)
class ImhParams:
    """IMH parameters.

    beta: ridge of the linear hash functions.
    lam: weight of the intra-media (graph) terms.
    pair_weight: u, the weight tying the two embeddings of a pair.
    neighbours: k of the kNN graphs.
    train_size: most training items used (the method is O(n^2) in memory).
    """

    beta: float = 1.0
    lam: float = 1.0
    pair_weight: float = 1e10
    neighbours: int = 15
    train_size: int = 5000

    def __post_init__(self) -> None:
        if self.neighbours < 1 or self.train_size < 2:
            raise UsageError(f"neighbours={self.neighbours}, train_size={self.train_size}: expected >= 1 and >= 2")


def regression_residual(features: np.ndarray, beta: float) -> np.ndarray:
    """A = I - X (X^T X + beta I)^-1 X^T (samples as rows)."""
    gram = features.T @ features + beta * np.eye(features.shape[1])
    return np.eye(len(features)) - features @ scipy.linalg.solve(gram, features.T, assume_a="pos")


def imh_system(
    residuals: tuple[np.ndarray, np.ndarray], laplacians: tuple[np.ndarray, np.ndarray], lam: float, pair_weight: float
) -> tuple[np.ndarray, np.ndarray]:
    """The released IMH_learn's D and C (Y_2 = C Y_1) for fully paired training data."""
    (a_1, a_2), (l_1, l_2) = residuals, laplacians
    second = a_2 + lam * l_2
    system = second + pair_weight * np.eye(len(second))
    coupling = scipy.linalg.solve(system, pair_weight * np.eye(len(second)), assume_a="sym")
    gap = scipy.linalg.solve(system, second, assume_a="sym")  # I - C, without cancellation
    d = a_1 + lam * l_1 + coupling.T @ second @ coupling + pair_weight * gap.T @ gap
    return (d + d.T) / 2, coupling


@register_method("imh")
class Imh(HashMethod):
    """Inter-Media Hashing: graph-regularised joint embedding, linear hash functions, median thresholds."""

    supervised = False
    reference = Reference("Song, Yang, Yang, Huang & Shen", "Inter-Media Hashing for Large-Scale Retrieval from "
                          "Heterogeneous Data Sources", "SIGMOD", 2013)  # fmt: skip
    Params = ImhParams

    def fit(self, train: TrainView, bits: int, *, seed: int, device: str = "cpu") -> Imh:
        p = self.params
        rows = np.arange(train.n)
        if train.n > p.train_size:
            rows = np.sort(np.random.default_rng(seed).choice(train.n, p.train_size, replace=False))
        features, self.means_ = centred_training_features(TrainView(train.image[rows], train.text[rows], None))
        x_1, x_2 = features["image"], features["text"]
        residuals = (regression_residual(x_1, p.beta), regression_residual(x_2, p.beta))
        laplacians = (knn_laplacian(x_1, p.neighbours), knn_laplacian(x_2, p.neighbours))
        d, coupling = imh_system(residuals, laplacians, p.lam, p.pair_weight)
        self.eigenvalues_, y_1 = scipy.linalg.eigh(d, subset_by_index=[0, min(bits, len(d)) - 1])
        embeddings = {"image": y_1, "text": coupling @ y_1}
        self.projections_, self.medians_ = {}, {}
        for modality, x in features.items():
            gram = x.T @ x + p.beta * np.eye(x.shape[1])
            self.projections_[modality] = scipy.linalg.solve(gram, x.T @ embeddings[modality], assume_a="pos")
            self.medians_[modality] = np.median(x @ self.projections_[modality], axis=0)
        return self

    def encode(self, modality: str, features: np.ndarray) -> np.ndarray:
        projected = (features.astype(np.float64) - self.means_[modality]) @ self.projections_[modality]
        return sign_bits(projected - self.medians_[modality])

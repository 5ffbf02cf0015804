"""SMFH: Supervised Matrix Factorization Hashing (Tang, Wang & Shao; IEEE TIP 2016).

Supervised. Collective matrix factorisation of both modalities into one latent representation V (n x r),
held together by a graph Laplacian L that joins each modality's k-nearest-neighbour graph and the label
graph, with a linear hash function P_t per modality. With samples as rows (the release has them as
columns) the objective of the released ``solveSMFH`` is

    F = alpha ||X_1 - V U_1^T||^2 + (1 - alpha) ||X_2 - V U_2^T||^2 + beta sum_t ||V - X_t P_t||^2
        + gamma tr(V^T L V) + lambda (||U_1||^2 + ||U_2||^2 + ||V||^2 + ||P_1||^2 + ||P_2||^2),

with L = L_image + L_text + L_label: the first two the Laplacians of the symmetrised binary k-NN graphs
(k = 5) of the centred features, the third D - Y Y^T of the labels Y (its weights count shared labels).
Each step is the exact minimiser of its block, as released, so F never increases:

    U_1 = X_1^T V (V^T V + lambda / alpha I)^-1,   U_2 likewise with 1 - alpha
    V   solves the Sylvester equation A V^T + V^T (2 gamma L) = C (the release calls MATLAB's lyap)
    P_t = (X_t^T X_t + lambda / beta I)^-1 X_t^T V

and iterations stop once F falls by less than ``tol`` (the release: 1). Hash: sign(P_t^T (x - training
mean) - mean of V over the training items), as released. V, U and P start uniform in [0, 1) from the seed
(the P's matter: the first V step uses them).

Departure from the release, in arithmetic only: the Sylvester equation is solved through the eigenvectors
of L, computed once (L does not change), instead of a Schur decomposition in every iteration; the solution is
the same. ``max_iters`` bounds a run whose objective keeps falling by more than ``tol``. The graph is dense
(n x n), as released: memory grows with the square of the training set.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import scipy.linalg

from hashbench.data import TrainView
from hashbench.errors import UsageError
from hashbench.method import Reference, check_params, sign_bits
from hashbench.methods._linear import LinearHashMethod, centred_training_features, knn_laplacian
from hashbench.registry import register_method
from hashbench.space import FloatRange, IntRange, SearchSpace


@dataclass(frozen=True)
class SmfhParams:
    """SMFH parameters (released defaults).

    alpha: weight of the image factorisation (the text's is 1 - alpha).
    beta: weight of the hash-function terms.
    gamma: weight of the graph term.
    lam: ridge on every factor (the release's lambda).
    neighbours: k of each modality's k-nearest-neighbour graph.
    tol: stop once the objective falls by less than this in one iteration.
    max_iters: at most this many iterations.
    """

    alpha: float = 0.5
    beta: float = 100.0
    gamma: float = 1.0
    lam: float = 0.01
    neighbours: int = 5
    tol: float = 1.0
    max_iters: int = 200

    def __post_init__(self) -> None:
        if not 0 < self.alpha < 1:
            raise UsageError(f"parameter alpha={self.alpha}: expected a number between 0 and 1")
        check_params(self, ("beta", "lam"), lambda value: value > 0, "a positive number")
        check_params(self, ("gamma",), lambda value: value >= 0, "a number of at least 0")
        check_params(self, ("neighbours", "max_iters"), lambda value: value >= 1, "a positive integer")


def joint_laplacian(features: dict[str, np.ndarray], labels: np.ndarray, neighbours: int) -> np.ndarray:
    """L_image + L_text + L_label: the k-NN graph Laplacian of each modality and D - Y Y^T of the labels."""
    labels = labels.astype(np.float64)
    label_weights = labels @ labels.T
    laplacian = np.diag(label_weights.sum(axis=1)) - label_weights
    for modality_features in features.values():
        laplacian += knn_laplacian(modality_features, neighbours)
    return laplacian


@register_method("smfh")
class Smfh(LinearHashMethod):
    """Supervised Matrix Factorization Hashing."""

    supervised = True
    reference = Reference(
        "Tang, Wang & Shao", "Supervised Matrix Factorization Hashing for Cross-Modal Retrieval", "IEEE TIP", 2016
    )
    Params = SmfhParams
    search_space = SearchSpace(1, {
        "alpha": FloatRange(0.1, 0.9),
        "beta": FloatRange(1.0, 1000.0, log=True),
        "gamma": FloatRange(1e-3, 10.0, log=True),
        "lam": FloatRange(1e-4, 1.0, log=True),
        "neighbours": IntRange(2, 20),
    })  # fmt: skip

    def fit(self, train: TrainView, bits: int, *, seed: int, device: str = "cpu") -> Smfh:
        p = self.params
        features, self.means_ = centred_training_features(train)
        image, text = features["image"], features["text"]
        graph_values, graph_vectors = scipy.linalg.eigh(
            joint_laplacian(features, self.training_labels(train), p.neighbours)
        )
        rng = np.random.default_rng(seed)
        latent = rng.random((train.n, bits))
        self.projections_ = {"image": rng.random((image.shape[1], bits)), "text": rng.random((text.shape[1], bits))}
        grams = {m: scipy.linalg.cho_factor(x.T @ x + p.lam / p.beta * np.eye(x.shape[1])) for m, x in features.items()}
        self.objective_: list[float] = []
        for _ in range(p.max_iters):
            self.factors_ = {
                "image": self._factor(image, latent, p.lam / p.alpha),
                "text": self._factor(text, latent, p.lam / (1 - p.alpha)),
            }
            latent = self._latent(features, graph_values, graph_vectors)
            self.projections_ = {m: scipy.linalg.cho_solve(grams[m], x.T @ latent) for m, x in features.items()}
            self.objective_.append(self.objective(features, latent, graph_values, graph_vectors))
            if len(self.objective_) > 1 and self.objective_[-2] - self.objective_[-1] < p.tol:
                break
        self.latent_mean_ = latent.mean(axis=0)
        return self

    @staticmethod
    def _factor(x: np.ndarray, latent: np.ndarray, ridge: float) -> np.ndarray:
        """U = X^T V (V^T V + ridge I)^-1."""
        return scipy.linalg.solve(latent.T @ latent + ridge * np.eye(latent.shape[1]), latent.T @ x).T

    def _latent(self, features, graph_values, graph_vectors) -> np.ndarray:
        """The V step: the solution of A V^T + V^T (2 gamma L) = C, through the eigenvectors of A and L."""
        p = self.params
        u_image, u_text = self.factors_["image"], self.factors_["text"]
        bits = u_image.shape[1]
        system = 2 * (p.alpha * u_image.T @ u_image + (1 - p.alpha) * u_text.T @ u_text
                      + (2 * p.beta + p.lam) * np.eye(bits))  # fmt: skip
        right = 2 * (
            p.alpha * u_image.T @ features["image"].T
            + (1 - p.alpha) * u_text.T @ features["text"].T
            + p.beta * sum((x @ self.projections_[m]).T for m, x in features.items())
        )
        system_values, system_vectors = scipy.linalg.eigh(system)
        rotated = system_vectors.T @ right @ graph_vectors
        rotated /= system_values[:, None] + 2 * p.gamma * graph_values[None, :]
        return (system_vectors @ rotated @ graph_vectors.T).T

    def objective(self, features, latent, graph_values, graph_vectors) -> float:
        """F of the module docstring at the current factors and projections, for latent V."""
        p = self.params
        u, proj = self.factors_, self.projections_
        graph_term = np.sum(graph_values[:, None] * (graph_vectors.T @ latent) ** 2)  # tr(V^T L V)
        total = p.alpha * np.sum((features["image"] - latent @ u["image"].T) ** 2)
        total += (1 - p.alpha) * np.sum((features["text"] - latent @ u["text"].T) ** 2)
        total += p.beta * sum(np.sum((latent - x @ proj[m]) ** 2) for m, x in features.items())
        total += p.gamma * graph_term
        total += p.lam * (sum(np.sum(a**2) for a in (*u.values(), *proj.values())) + np.sum(latent**2))
        return float(total)

    def encode(self, modality: str, features: np.ndarray) -> np.ndarray:
        return sign_bits(self.centred(modality, features) @ self.projections_[modality] - self.latent_mean_)

    def fit_info(self) -> dict[str, Any]:
        return {"objective": self.objective_, "iterations": len(self.objective_)}

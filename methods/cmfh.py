"""CMFH: Collective Matrix Factorization Hashing (Ding, Guo, Zhou; CVPR 2014, TIP 2016).

Unsupervised. Both modalities factorise into one latent Y (n x c), and linear
projections W_t predict Y from each modality. With samples as rows, the
objective is

    J = sum_t alpha_t (||X_t - Y U_t||^2 + mu ||Y - X_t W_t||^2
                       + gamma (||U_t||^2 + ||W_t||^2 + ||Y||^2)),

the objective of which the released v2.0 updates are the exact block
minimisers (with alpha_1 + alpha_2 = 1 its Y regulariser is gamma ||Y||^2):

    U_t = (Y^T Y + gamma I)^-1 Y^T X_t
    W_t = mu (mu X_t^T X_t + gamma I)^-1 X_t^T Y
    Y   = (sum_t alpha_t X_t (U_t^T + mu W_t)) (sum_t alpha_t (U_t U_t^T + (mu + gamma) I))^-1

so J never increases. Y starts uniform in [0, 1) from the seed; U and W are
computed from it before the first Y update (the release also draws U and W at
random, but overwrites them before use). Hash: sign(X_t W_t) on data centred
with the training mean. Unified codes (``--db-codes unified``) hash an item
from both modalities: its latent Y by the Y update above with U and W fixed,
thresholded at the training mean of Y (the paper's sign(Y - mean(Y))).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hashbench.data import MODALITIES, TrainView
from hashbench.errors import UsageError
from hashbench.method import Reference, sign_bits
from hashbench.methods._linear import LinearHashMethod, centred_training_features
from hashbench.registry import register_method
from hashbench.space import FloatRange, SearchSpace


@dataclass(frozen=True)
class CmfhParams:
    """CMFH parameters (released defaults).

    alpha1, alpha2: weights of the image and text terms.
    mu: weight of the projection (out-of-sample) terms.
    gamma: ridge on every factor.
    iters: iterations (v2.0 runs 25).
    tol: if > 0, also stop once J drops by less than tol in one iteration (v1.0 uses 0.01).
    """

    alpha1: float = 0.5
    alpha2: float = 0.5
    mu: float = 100.0
    gamma: float = 0.01
    iters: int = 25
    tol: float = 0.0

    def __post_init__(self) -> None:
        if self.iters < 1:
            raise UsageError(f"iters={self.iters}: expected a positive integer")


@register_method("cmfh")
class Cmfh(LinearHashMethod):
    """Collective Matrix Factorization Hashing."""

    supervised = False
    reference = Reference("Ding, Guo & Zhou", "Collective Matrix Factorization Hashing", "CVPR", 2014)
    Params = CmfhParams
    unified_codes = True
    search_space = SearchSpace(1, {
        "mu": FloatRange(1.0, 1000.0, log=True),
        "gamma": FloatRange(1e-4, 1.0, log=True),
        "alpha1": FloatRange(0.1, 0.9),
    })  # fmt: skip

    def fit(self, train: TrainView, bits: int, *, seed: int, device: str = "cpu") -> Cmfh:
        p = self.params
        features, self.means_ = centred_training_features(train)
        weights = {"image": p.alpha1, "text": p.alpha2}
        grams = {m: features[m].T @ features[m] for m in MODALITIES}
        latent = np.random.default_rng(seed).random((train.n, bits))
        self.objective_ = []
        for _ in range(p.iters):
            ridge = p.gamma * np.eye(bits)
            factors = {m: np.linalg.solve(latent.T @ latent + ridge, latent.T @ features[m]) for m in MODALITIES}
            self.projections_ = {
                m: np.linalg.solve(p.mu * grams[m] + p.gamma * np.eye(grams[m].shape[0]), p.mu * features[m].T @ latent)
                for m in MODALITIES
            }
            self.factors_ = factors
            latent = self._latent(features, weights, bits)
            self.objective_.append(self._objective(features, latent, weights))
            if p.tol > 0 and len(self.objective_) > 1 and self.objective_[-2] - self.objective_[-1] < p.tol:
                break
        self.latent_mean_ = latent.mean(axis=0)
        return self

    def _latent(self, features: dict[str, np.ndarray], weights: dict[str, float], bits: int) -> np.ndarray:
        """The Y update with U and W fixed, for any items whose both modalities are given."""
        p = self.params
        numerator = sum(
            weights[m] * features[m] @ (self.factors_[m].T + p.mu * self.projections_[m]) for m in MODALITIES
        )
        denominator = sum(
            weights[m] * (self.factors_[m] @ self.factors_[m].T + (p.mu + p.gamma) * np.eye(bits)) for m in MODALITIES
        )
        return np.linalg.solve(denominator, numerator.T).T

    def _objective(self, features: dict[str, np.ndarray], latent: np.ndarray, weights: dict[str, float]) -> float:
        p = self.params
        total = 0.0
        for m in MODALITIES:
            u, w = self.factors_[m], self.projections_[m]
            total += weights[m] * (
                np.sum((features[m] - latent @ u) ** 2)
                + p.mu * np.sum((latent - features[m] @ w) ** 2)
                + p.gamma * (np.sum(u**2) + np.sum(w**2) + np.sum(latent**2))
            )
        return float(total)

    def encode_unified(self, image: np.ndarray, text: np.ndarray) -> np.ndarray:
        features = {"image": self.centred("image", image), "text": self.centred("text", text)}
        weights = {"image": self.params.alpha1, "text": self.params.alpha2}
        return sign_bits(self._latent(features, weights, self.latent_mean_.size) - self.latent_mean_)

"""SCM: Semantic Correlation Maximization (Zhang & Li, AAAI 2014), orthogonal and sequential.

Supervised. The label similarity S = 2 L~ L~^T - 1 (L~: label rows
L2-normalised), scaled by the code length c, enters only through the
cross-covariance X^T (cS) Y = c (2 (X^T L~)(Y^T L~)^T - (X^T 1)(Y^T 1)^T), so
S (n x n) is never formed and training is linear in n.

Departures from the released MATLAB code, each deliberate:

* The larger modality is the ``x`` side of the eigenproblem (the release's
  demo puts the 10-d Wikipedia text first and then cannot give more than 10
  bits).
* The eigenproblem is solved as a symmetric-definite one and eigenvalues are
  floored before the inverse square root, so no projection is complex or NaN
  (the release thresholds the real parts of complex projections).
* The cross-covariance has rank at most min(d_image, d_text, classes) (10 on
  Wikipedia). Bits beyond the directions with a positive eigenvalue are
  random hyperplanes in the informative subspace, drawn from the seed (see
  ``fill_with_random_hyperplanes``); the record's ``informative_bits_`` says
  how many bits came from the eigenproblem.
* The database is centred with the training mean (the release's demo
  forgets to centre it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hashbench.data import TrainView
from hashbench.method import Reference
from hashbench.methods._linear import (
    LinearHashMethod,
    centred_training_features,
    cross_view_eigen,
    fill_with_random_hyperplanes,
    informative_count,
    larger_first,
)
from hashbench.registry import register_method
from hashbench.space import FloatRange, SearchSpace

REFERENCE = Reference(
    "Zhang & Li",
    "Large-Scale Supervised Multimodal Hashing with Semantic Correlation Maximization",
    "AAAI",
    2014,
)


def semantic_cross_covariance(x: np.ndarray, y: np.ndarray, labels: np.ndarray, scale: float) -> np.ndarray:
    """X^T (scale * S) Y with S = 2 L~ L~^T - 1, computed without forming the n x n matrix S."""
    labels = labels.astype(np.float64)
    norms = np.linalg.norm(labels, axis=1, keepdims=True)
    normalised = np.divide(labels, norms, out=np.zeros_like(labels), where=norms > 0)
    return scale * (2 * (x.T @ normalised) @ (y.T @ normalised).T - np.outer(x.sum(0), y.sum(0)))


@dataclass(frozen=True)
class ScmParams:
    """SCM parameters (released defaults).

    lam: ridge added to both covariance matrices.
    """

    lam: float = 1e-6


class _Scm(LinearHashMethod):
    supervised = True
    reference = REFERENCE
    Params = ScmParams
    search_space = SearchSpace(1, {"lam": FloatRange(1e-8, 10.0, log=True)})

    def fit(self, train: TrainView, bits: int, *, seed: int, device: str = "cpu") -> _Scm:
        features, self.means_ = centred_training_features(train)
        # The larger modality is the x side, so that more than d_small bits have a direction.
        (self.x_modality_, x), (self.y_modality_, y) = larger_first(features)
        cross = semantic_cross_covariance(x, y, self.training_labels(train), bits)
        cov_x = x.T @ x + self.params.lam * np.eye(x.shape[1])
        cov_y = y.T @ y + self.params.lam * np.eye(y.shape[1])
        w_x, w_y = self._solve(x, y, cross, cov_x, cov_y, bits, np.random.default_rng(seed))
        self.projections_ = {self.x_modality_: w_x, self.y_modality_: w_y}
        return self

    def _solve(self, x, y, cross, cov_x, cov_y, bits, rng) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError


def _eigen_codes(cross, cov_x, cov_y, bits, rng, method: _Scm) -> tuple[np.ndarray, np.ndarray]:
    eta, w_x, w_y = cross_view_eigen(cross, cov_x, cov_y, bits)
    method.informative_bits_ = min(bits, informative_count(eta))
    return fill_with_random_hyperplanes(w_x, w_y, method.informative_bits_, bits, rng)


@register_method("scm-orth")
class ScmOrth(_Scm):
    """SCM with orthogonal projections: one generalised eigenproblem for all bits."""

    def _solve(self, x, y, cross, cov_x, cov_y, bits, rng):
        return _eigen_codes(cross, cov_x, cov_y, bits, rng, self)


@register_method("scm-seq")
class ScmSeq(_Scm):
    """SCM learned bit by bit on the residual cross-covariance, from a plain CCA start.

    Bit b solves the 1-D eigenproblem on the residual C_xy, then removes its
    own contribution (X^T sign(X w_x))(Y^T sign(Y w_y))^T. When a bit's
    eigenvalue rises above the previous one, or no signal is left, learning
    stops and the remaining bits keep the CCA directions, as released.
    ``sequential_bits_`` says how many bits were learned sequentially.
    """

    def _solve(self, x, y, cross, cov_x, cov_y, bits, rng):
        w_x, w_y = _eigen_codes(x.T @ y, cov_x, cov_y, bits, rng, self)
        residual = cross
        previous = np.inf
        self.sequential_bits_ = 0
        for bit in range(bits):
            eta, w_bit_x, w_bit_y = cross_view_eigen(residual, cov_x, cov_y, 1)
            if not eta[0] > 0 or eta[0] > previous:
                break
            w_x[:, bit], w_y[:, bit] = w_bit_x[:, 0], w_bit_y[:, 0]
            h_x = np.where(x @ w_bit_x[:, 0] >= 0, 1.0, -1.0)
            h_y = np.where(y @ w_bit_y[:, 0] >= 0, 1.0, -1.0)
            residual = residual - np.outer(x.T @ h_x, y.T @ h_y)
            previous = eta[0]
            self.sequential_bits_ = bit + 1
        return w_x, w_y

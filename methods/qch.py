"""QCH: Quantized Correlation Hashing (Wu, Yang, Zheng, Wang & Wang, IJCAI 2015).

Unsupervised. Linear projections W_1, W_2 of the centred image and text
features maximise their cross-modal correlation while both stay close to one
shared binary code B::

    max  tr(W_1^T C_12 W_2) - beta (||B - X_1 W_1||^2 + ||B - X_2 W_2||^2)
    s.t. W_t orthonormal (columns when c <= d_t, rows when c > d_t), B in {-1, +1}^(n x c)

with C_12 = X_1^T X_2. Alternate B = sign(X_1 W_1 + X_2 W_2) with one update of
each projection. Hash: sign(x_t W_t) per modality.

No released code was found; every choice below is this implementation's:

* **Projection update.** With B and the other projection fixed, the
  objective in W_t is tr(W_t^T M) - beta tr(W_t^T X_t^T X_t W_t), M = C_12 W_2
  + 2 beta X_t^T B (for t = 1; symmetrically for t = 2), a concave quadratic
  on the orthonormal matrices. It is maximised by minorise-maximise: since
  X_t^T X_t - s I <= 0 for s its largest eigenvalue, the linearisation at the
  current W_t is a lower bound, maximised over orthonormal matrices by the
  Procrustes solution U V^T of G = M - 2 beta (X_t^T X_t - s I) W_t. Each
  update therefore never lowers the objective (``objective_`` records it).
* **Scale.** Each modality is centred and divided by one scalar so that its
  training features have unit variance per dimension on average; otherwise
  beta would mean something different for every feature set (Wikipedia's
  histograms sum to 1).
* **Start.** W_1, W_2 from the top singular pairs of the scaled C_12 (the
  maximisers of the correlation term alone); beyond its rank, the Procrustes
  completion of a random matrix from the seed.
* **Defaults.** beta = 1, 50 iterations.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from hashbench.data import MODALITIES, TrainView
from hashbench.method import Reference
from hashbench.methods._linear import LinearHashMethod
from hashbench.registry import register_method


@dataclass(frozen=True)
class QchParams:
    """QCH parameters. beta: weight of the quantisation terms; iters: alternating iterations."""

    beta: float = 1.0
    iters: int = 50


def procrustes(target: np.ndarray) -> np.ndarray:
    """argmax tr(W^T target) over W with orthonormal columns (or rows, when wider than tall): U V^T."""
    u, _, vt = np.linalg.svd(target, full_matrices=False)
    return u @ vt


def sign_codes(values: np.ndarray) -> np.ndarray:
    """±1 with sign(0) = +1."""
    return np.where(values >= 0, 1.0, -1.0)


def qch_objective(x_1: np.ndarray, x_2: np.ndarray, w_1: np.ndarray, w_2: np.ndarray, codes: np.ndarray,
                  beta: float) -> float:  # fmt: skip
    """tr(W_1^T X_1^T X_2 W_2) - beta (||B - X_1 W_1||^2 + ||B - X_2 W_2||^2)."""
    p_1, p_2 = x_1 @ w_1, x_2 @ w_2
    return float(np.sum(p_1 * p_2) - beta * (np.sum((codes - p_1) ** 2) + np.sum((codes - p_2) ** 2)))


def projection_step(x: np.ndarray, w: np.ndarray, partner: np.ndarray, codes: np.ndarray, beta: float,
                    gram_bound: float) -> np.ndarray:  # fmt: skip
    """One minorise-maximise update of one modality's projection (``partner`` = X_other W_other)."""
    gram_w = x.T @ (x @ w)
    target = x.T @ partner + 2 * beta * x.T @ codes - 2 * beta * (gram_w - gram_bound * w)
    return procrustes(target)


@register_method("qch")
class Qch(LinearHashMethod):
    """Quantized Correlation Hashing: correlated orthonormal projections quantised to one shared code."""

    supervised = False
    reference = Reference("Wu, Yang, Zheng, Wang & Wang", "Quantized Correlation Hashing for Fast Cross-Modal "
                          "Search", "IJCAI", 2015)  # fmt: skip
    Params = QchParams

    def fit(self, train: TrainView, bits: int, *, seed: int, device: str = "cpu") -> Qch:
        p, rng = self.params, np.random.default_rng(seed)
        self.means_, scales, scaled = {}, {}, {}
        for modality in MODALITIES:
            x = train.features(modality).astype(np.float64)
            self.means_[modality] = x.mean(axis=0)
            centred = x - self.means_[modality]
            scales[modality] = np.sqrt(np.mean(centred**2)) or 1.0
            scaled[modality] = centred / scales[modality]
        x_1, x_2 = scaled["image"], scaled["text"]
        u, _, vt = np.linalg.svd(x_1.T @ x_2, full_matrices=False)
        rank = min(bits, u.shape[1])
        w_1 = procrustes(np.hstack([u[:, :rank], rng.standard_normal((x_1.shape[1], bits - rank))]))
        w_2 = procrustes(np.hstack([vt.T[:, :rank], rng.standard_normal((x_2.shape[1], bits - rank))]))
        bounds = [float(np.linalg.eigvalsh(x.T @ x)[-1]) for x in (x_1, x_2)]
        self.objective_ = []
        for _ in range(p.iters):
            codes = sign_codes(x_1 @ w_1 + x_2 @ w_2)
            w_1 = projection_step(x_1, w_1, x_2 @ w_2, codes, p.beta, bounds[0])
            w_2 = projection_step(x_2, w_2, x_1 @ w_1, codes, p.beta, bounds[1])
            self.objective_.append(qch_objective(x_1, x_2, w_1, w_2, codes, p.beta))
        self.projections_ = {m: w / scales[m] for m, w in (("image", w_1), ("text", w_2))}
        return self

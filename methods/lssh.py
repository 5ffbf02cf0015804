"""LSSH: Latent Semantic Sparse Hashing (Zhou, Ding & Guo, SIGIR 2014).

Unsupervised. Images are sparse-coded over a learned dictionary, texts are
factorised into a latent semantic space, and the two are tied by a linear
map from the sparse codes to the latent space. With samples as rows (X the
images, T the texts, S the sparse codes, Y the latent text factors)::

    min ||X - S D||^2 + lambda ||Y - S R||^2 + mu ||T - Y A||^2 + 2 sum_i rho_i |s_i|_1,
    every row of D, R and A of norm <= 1

This follows the authors' MATLAB release (``solveLSSH.m``, ``LSSHcoding.m``)
step by step:

* **Inputs.** Both modalities are centred with the training mean; the images
  are projected on the top c principal components of the training set; every
  image and every text row is then scaled to unit length (the release's
  ``preprocessingData``; the text keeps its dimensions, ``PT = I``).
* **Sparse codes.** Each row is coded by the lasso min 1/2 ||x - s D||^2 +
  rho_i |s|_1 with rho_i = ``rho`` x max|D x| (the release calls SLEP's
  ``LeastR`` with ``rFlag = 1``: the penalty is a ratio of the smallest one
  that zeroes that row's code), recomputed for every row at every call.
* **Start.** A, D and R are drawn standard normal from the seed (unnormalised,
  as released), and S is the lasso code of X over that random D.
* **Iterations** (``iters``, 20 as released), each in the release's order:
  Y = (lambda/mu S R + T A^T)(A A^T + lambda/mu I)^-1 in closed form; A, the
  text basis, from T and Y; S, the lasso codes of [X, sqrt(lambda) Y] over the
  stacked dictionary [D, sqrt(lambda) R]; then D from X and S, and R from Y
  and S. Each basis update is the norm-constrained least-squares problem
  min ||target - codes @ basis||^2, ||basis_j|| <= 1, solved exactly through
  its Lagrange dual (Lee, Battle, Raina & Ng, NIPS 2007, the release's
  ``l2ls_learn_basis_dual``); an atom no code uses becomes zero, as released.
* **Training size.** At most ``train_size`` items (10,000, as released) drawn
  from the seed enter training.

Hash, as released: an image gets sign(s(x) R), s(x) its lasso code over D; a
text sign(t A^T (A A^T + lambda/mu I)^-1). The paper's unified codes
(``--db-codes unified``, its protocol) hash an item from both:
sign((lambda/mu s(x) R + t A^T)(A A^T + lambda/mu I)^-1).

Departures from the release, each deliberate:

* **The lasso is solved to optimality** (scikit-learn's coordinate descent,
  each row scaled by its own penalty), where the release stops SLEP's
  accelerated gradient after 30 iterations from zero: the same problem,
  solved further.
* **The dual of each basis update** is solved by projected Newton steps
  (:func:`row_bounded_least_squares`) instead of MATLAB's ``fmincon``: the
  same problem and the same unique minimiser. Each update starts from the
  multipliers of the previous outer iteration (``l2ls_learn_basis_dual``
  starts fmincon from random ones, or from ones derived from a basis it is
  given), which changes the number of steps, not the minimiser.
* **Seeded draws** from numpy's generator instead of MATLAB's
  ``randn('state', 1)``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.linalg
from sklearn.decomposition import PCA, sparse_encode

from hashbench.data import TrainView
from hashbench.errors import UsageError
from hashbench.method import HashMethod, Reference, sign_bits
from hashbench.registry import register_method

LASSO_ITERATIONS = 10_000  # coordinate-descent sweeps per lasso; scikit-learn's 1,000 stop short on small sets
DUAL_TOLERANCE = 1e-9  # projected-gradient norm, relative to the bound, at which a basis update stops
DUAL_STEPS = 100


@dataclass(frozen=True)
class LsshParams:
    """LSSH parameters (the paper's and the release's defaults).

    atoms: dictionary size.
    mu: weight of the text factorisation.
    rho: each row's lasso penalty, as a ratio of the smallest penalty that zeroes its code (0 < rho < 1).
    lam: weight tying the latent factors to the sparse codes.
    iters: alternating iterations.
    train_size: at most this many training items (drawn from the seed) are used.
    """

    atoms: int = 512
    mu: float = 0.05
    rho: float = 0.5
    lam: float = 0.2
    iters: int = 20
    train_size: int = 10_000

    def __post_init__(self) -> None:
        if self.atoms < 1 or self.iters < 1 or self.train_size < 2:
            raise UsageError(
                f"atoms={self.atoms}, iters={self.iters}, train_size={self.train_size}: "
                "expected positive integers (train_size at least 2)"
            )
        if not 0 < self.rho < 1:
            raise UsageError(f"rho={self.rho}: expected a ratio between 0 and 1")
        if self.mu <= 0 or self.lam <= 0:
            raise UsageError(f"mu={self.mu}, lam={self.lam}: expected positive weights")


def unit_rows(rows: np.ndarray) -> np.ndarray:
    """Every row scaled to unit length (a zero row stays zero)."""
    norms = np.linalg.norm(rows, axis=1, keepdims=True)
    return rows / np.where(norms > 0, norms, 1.0)


def lasso(rows: np.ndarray, dictionary: np.ndarray, ratio: float, start: np.ndarray | None = None) -> np.ndarray:
    """Codes minimising 1/2 ||row - code @ dictionary||^2 + p |code|_1 per row, with p = ratio x max|dictionary @ row|.

    Each row is solved at its own penalty by scaling it by 1/p (the codes scale with it), so one coordinate
    descent call with penalty 1 serves all rows. A row with p = 0 (orthogonal to every atom) codes to zero.
    """
    penalty = ratio * np.abs(rows @ dictionary.T).max(axis=1, keepdims=True)
    scale = np.where(penalty > 0, penalty, 1.0)
    scaled_start = None if start is None else start / scale
    codes = sparse_encode(rows / scale, dictionary, algorithm="lasso_cd", alpha=1.0, init=scaled_start,
                          max_iter=LASSO_ITERATIONS)  # fmt: skip
    return np.where(penalty > 0, codes * scale, 0.0)


def row_bounded_least_squares(
    target: np.ndarray, codes: np.ndarray, bound: float = 1.0, start: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """The basis (k x p) minimising ||target - codes @ basis||^2 with every row of norm <= ``bound``, and the
    Lagrange multipliers (k) that give it.

    Solved through the Lagrange dual (Lee et al., NIPS 2007): basis = (G + diag(l))^-1 C with G = codes^T
    codes, C = codes^T target and multipliers l >= 0 minimising f(l) = tr(C^T (G + diag(l))^-1 C) + bound^2
    sum(l), here by projected Newton steps (Bertsekas, 1982) with an Armijo search, each on one Cholesky
    factorisation. The multipliers are kept a hair (1e-10 of G's largest diagonal entry) above 0, as MATLAB's
    interior solver keeps them, so that G + diag(l) stays invertible where G is singular. ``start``: the
    multipliers of an earlier call to start from (the minimiser is unique, so only the number of steps
    changes). Rows of atoms that no code uses are zero.
    """
    used = np.flatnonzero(np.abs(codes).sum(axis=0) > 0)
    basis, found = np.zeros((codes.shape[1], target.shape[1])), np.zeros(codes.shape[1])
    if used.size == 0:
        return basis, found
    gram, cross = codes[:, used].T @ codes[:, used], codes[:, used].T @ target
    squared_bound = bound**2
    floor = 1e-10 * float(gram.diagonal().max())  # multipliers stay this far inside l >= 0, as fmincon's

    def solve(multipliers: np.ndarray) -> tuple[tuple, np.ndarray, float]:
        factor = scipy.linalg.cho_factor(gram + np.diag(multipliers))
        rows = scipy.linalg.cho_solve(factor, cross)
        return factor, rows, float(np.sum(cross * rows) + squared_bound * multipliers.sum())

    multipliers = np.ones(used.size) if start is None else np.where(start[used] > floor, start[used], 1.0)
    factor, rows, value = solve(multipliers)
    for _ in range(DUAL_STEPS):
        gradient = squared_bound - np.sum(rows**2, axis=1)
        projected = np.where(multipliers > floor, gradient, np.minimum(gradient, 0.0))
        if np.abs(projected).max() <= DUAL_TOLERANCE * squared_bound:
            break
        free = ~((multipliers <= floor) & (gradient > 0))
        hessian = 2 * (rows @ rows.T) * scipy.linalg.cho_solve(factor, np.eye(used.size))
        step = -gradient
        damped = hessian[np.ix_(free, free)] + 1e-10 * hessian.diagonal().max() * np.eye(free.sum())
        step[free] = -np.linalg.solve(damped, gradient[free])
        for length in 0.5 ** np.arange(30):
            trial = np.maximum(multipliers + length * step, floor)
            trial_factor, trial_rows, trial_value = solve(trial)
            if trial_value <= value + 1e-4 * gradient @ (trial - multipliers):
                break
        if trial_value >= value:
            break
        multipliers, factor, rows, value = trial, trial_factor, trial_rows, trial_value
    basis[used], found[used] = rows, multipliers
    return basis, found


def lssh_objective(x, t, codes, latent, dictionary, link, text_basis, p: LsshParams) -> float:
    """||X - S D||^2 + lambda ||Y - S R||^2 + mu ||T - Y A||^2 + 2 sum_i rho_i |s_i|_1, with each row's
    penalty rho_i as the last sparse-coding step set it."""
    stacked_rows = np.hstack([x, np.sqrt(p.lam) * latent])
    stacked = np.hstack([dictionary, np.sqrt(p.lam) * link])
    penalty = p.rho * np.abs(stacked_rows @ stacked.T).max(axis=1)
    return float(
        np.sum((x - codes @ dictionary) ** 2)
        + p.lam * np.sum((latent - codes @ link) ** 2)
        + p.mu * np.sum((t - latent @ text_basis) ** 2)
        + 2 * np.sum(penalty * np.abs(codes).sum(axis=1))
    )


@register_method("lssh")
class Lssh(HashMethod):
    """Latent Semantic Sparse Hashing: sparse image codes and text factors tied in a latent space."""

    supervised = False
    reference = Reference("Zhou, Ding & Guo", "Latent Semantic Sparse Hashing for Cross-Modal Similarity Search",
                          "SIGIR", 2014)  # fmt: skip
    Params = LsshParams
    unified_codes = True

    def image_rows(self, features: np.ndarray) -> np.ndarray:
        """Centred, PCA-projected, unit-length image rows."""
        return unit_rows(self.pca_.transform(features.astype(np.float64)))

    def text_rows(self, features: np.ndarray) -> np.ndarray:
        """Centred, unit-length text rows."""
        return unit_rows(features.astype(np.float64) - self.text_mean_)

    def fit(self, train: TrainView, bits: int, *, seed: int, device: str = "cpu") -> Lssh:
        p, rng = self.params, np.random.default_rng(seed)
        rows = np.sort(rng.choice(train.n, p.train_size, replace=False)) if train.n > p.train_size else slice(None)
        image, text = train.image[rows].astype(np.float64), train.text[rows].astype(np.float64)
        self.pca_ = PCA(n_components=min(bits, *image.shape), random_state=seed).fit(image)
        self.text_mean_ = text.mean(axis=0)
        x, t = self.image_rows(image), self.text_rows(text)
        text_basis = rng.standard_normal((bits, t.shape[1]))
        dictionary = rng.standard_normal((p.atoms, x.shape[1]))
        link = rng.standard_normal((p.atoms, bits))
        codes, root, ratio = lasso(x, dictionary, p.rho), np.sqrt(p.lam), p.lam / p.mu
        self.objective_ = []
        multipliers = {"text": None, "dictionary": None, "link": None}  # each basis update starts from its last
        for _ in range(p.iters):
            latent = np.linalg.solve(text_basis @ text_basis.T + ratio * np.eye(bits),
                                     (ratio * codes @ link + t @ text_basis.T).T).T  # fmt: skip
            text_basis, multipliers["text"] = row_bounded_least_squares(t, latent, start=multipliers["text"])
            codes = lasso(np.hstack([x, root * latent]), np.hstack([dictionary, root * link]), p.rho, codes)
            dictionary, multipliers["dictionary"] = row_bounded_least_squares(x, codes, start=multipliers["dictionary"])
            link, multipliers["link"] = row_bounded_least_squares(latent, codes, start=multipliers["link"])
            self.objective_.append(lssh_objective(x, t, codes, latent, dictionary, link, text_basis, p))
        self.dictionary_, self.link_, self.text_basis_ = dictionary, link, text_basis
        self.text_inverse_ = np.linalg.inv(text_basis @ text_basis.T + ratio * np.eye(bits))
        return self

    def image_latent(self, features: np.ndarray) -> np.ndarray:
        """s(x) R: the image's lasso code over D, mapped to the latent space."""
        return lasso(self.image_rows(features), self.dictionary_, self.params.rho) @ self.link_

    def text_projection(self, features: np.ndarray) -> np.ndarray:
        """t A^T, with t the centred, unit-length text."""
        return self.text_rows(features) @ self.text_basis_.T

    def encode(self, modality: str, features: np.ndarray) -> np.ndarray:
        if modality == "image":
            return sign_bits(self.image_latent(features))
        return sign_bits(self.text_projection(features) @ self.text_inverse_)

    def encode_unified(self, image: np.ndarray, text: np.ndarray) -> np.ndarray:
        p = self.params
        return sign_bits((p.lam / p.mu * self.image_latent(image) + self.text_projection(text)) @ self.text_inverse_)

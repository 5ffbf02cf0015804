"""LSSH: Latent Semantic Sparse Hashing (Zhou, Ding & Guo, SIGIR 2014).

Unsupervised. Images are sparse-coded over a learned dictionary, texts are
factorised into a latent semantic space, and the two are tied by a linear
map from the sparse codes to the latent space. With samples as rows (X the
images reduced by PCA to c dimensions and L2-normalised, T the centred texts,
S the sparse codes, Y the latent text factors)::

    min ||X - S D||^2 + rho |S|_1 + lambda ||Y - S R||^2 + mu ||T - Y A||^2,   rows of D, R, A of norm <= 1

alternating: S by the lasso over the stacked dictionary [D, sqrt(lambda) R]
(scikit-learn's ``sparse_encode``, coordinate descent warm-started from the
previous iteration's codes); D, R and A by block coordinate
descent over their rows (each row the exact minimiser with the others fixed,
projected onto the unit ball, as scikit-learn's dictionary update); Y in
closed form. Defaults as the paper: 512 atoms, mu = 0.05, rho = 0.5, lambda
= 0.2, 20 iterations.

Hash (the paper's): image sign(s(x) R) with s(x) the lasso code of x over D;
text sign(t A^T (A A^T + lambda/mu I)^-1); with ``db_codes="unified"`` a
database item gets sign((lambda/mu s R + t A^T)(A A^T + lambda/mu I)^-1).

Choices of this implementation, each deliberate:

* **rho as a ratio.** The lasso penalty is rho x the median over training
  items of the smallest penalty that zeroes an item's code (max |D x|) under
  the starting dictionary, then fixed, so the objective stays one function.
* **Database codes** per modality by default (``db_codes="modality"``, as
  hashbench's CMFH from the same authors); the paper's unified codes put the
  database item's own text into its code (see results/wiki/README.md).
* **Start.** D from 512 training rows drawn from the seed; R, A and Y from
  the seed; image PCA keeps min(c, d_image) components.
* The released code took over a minute per code length on Wikipedia; here a
  fit takes seconds (the warm-started lasso is most of it).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from sklearn.decomposition import PCA, sparse_encode

from hashbench.data import TrainView
from hashbench.errors import UsageError
from hashbench.method import HashMethod, Reference, check_db_codes, sign_bits
from hashbench.registry import register_method

LASSO_ITERATIONS = 10_000  # coordinate-descent sweeps per lasso; scikit-learn's 1,000 stop short on small sets


@dataclass(frozen=True)
class LsshParams:
    """LSSH parameters.

    atoms: dictionary size.
    mu: weight of the text factorisation.
    rho: lasso penalty, as a ratio of the median smallest all-zero penalty.
    lam: weight tying the latent factors to the sparse codes.
    iters: alternating iterations.
    db_codes: "modality" (each database item hashed per modality) or "unified" (one code from both).
    """

    atoms: int = 512
    mu: float = 0.05
    rho: float = 0.5
    lam: float = 0.2
    iters: int = 20
    db_codes: str = "modality"

    def __post_init__(self) -> None:
        check_db_codes(self.db_codes)
        if self.atoms < 1 or self.iters < 1:
            raise UsageError(f"atoms={self.atoms}, iters={self.iters}: expected positive integers")


def lasso(rows: np.ndarray, dictionary: np.ndarray, alpha: float, start: np.ndarray | None = None) -> np.ndarray:
    """Codes minimising 0.5 ||row - code @ dictionary||^2 + alpha |code|_1 per row (coordinate descent)."""
    return sparse_encode(rows, dictionary, algorithm="lasso_cd", alpha=alpha, init=start, max_iter=LASSO_ITERATIONS)


def update_rows(target: np.ndarray, codes: np.ndarray, basis: np.ndarray) -> np.ndarray:
    """Block coordinate descent on min ||target - codes @ basis||^2 with every row of ``basis`` of norm <= 1.

    Each row in turn is set to the minimiser with the others fixed, projected onto the unit ball.
    """
    basis = basis.copy()
    residual = target - codes @ basis
    for k in range(len(basis)):
        weight = codes[:, k] @ codes[:, k]
        if weight == 0:
            continue
        residual += np.outer(codes[:, k], basis[k])
        row = codes[:, k] @ residual / weight
        basis[k] = row / max(1.0, float(np.linalg.norm(row)))
        residual -= np.outer(codes[:, k], basis[k])
    return basis


def lssh_objective(x, t, codes, latent, dictionary, link, text_basis, p: LsshParams, alpha: float) -> float:
    """||X - S D||^2 + 2 alpha |S|_1 + lambda ||Y - S R||^2 + mu ||T - Y A||^2 (alpha: the lasso penalty)."""
    return float(
        np.sum((x - codes @ dictionary) ** 2)
        + 2 * alpha * np.abs(codes).sum()
        + p.lam * np.sum((latent - codes @ link) ** 2)
        + p.mu * np.sum((t - latent @ text_basis) ** 2)
    )


@register_method("lssh")
class Lssh(HashMethod):
    """Latent Semantic Sparse Hashing: sparse image codes and text factors tied in a latent space."""

    supervised = False
    reference = Reference("Zhou, Ding & Guo", "Latent Semantic Sparse Hashing for Cross-Modal Similarity Search",
                          "SIGIR", 2014)  # fmt: skip
    Params = LsshParams

    def image_rows(self, features: np.ndarray) -> np.ndarray:
        """PCA-reduced, L2-normalised image rows."""
        reduced = self.pca_.transform(features.astype(np.float64))
        norms = np.linalg.norm(reduced, axis=1, keepdims=True)
        return reduced / np.where(norms > 0, norms, 1.0)

    def fit(self, train: TrainView, bits: int, *, seed: int, device: str = "cpu") -> Lssh:
        p, rng = self.params, np.random.default_rng(seed)
        image = train.image.astype(np.float64)
        self.pca_ = PCA(n_components=min(bits, image.shape[1], train.n), random_state=seed).fit(image)
        x = self.image_rows(image)
        self.text_mean_ = train.text.astype(np.float64).mean(axis=0)
        t = train.text.astype(np.float64) - self.text_mean_
        atoms = min(p.atoms, train.n)
        dictionary = x[rng.choice(train.n, atoms, replace=False)]
        self.alpha_ = p.rho * float(np.median(np.abs(x @ dictionary.T).max(axis=1)))
        link = rng.standard_normal((atoms, bits)) / np.sqrt(bits)
        text_basis = rng.standard_normal((bits, t.shape[1])) / np.sqrt(t.shape[1])
        latent = rng.standard_normal((train.n, bits))
        root = np.sqrt(p.lam)
        self.objective_, codes = [], None
        for _ in range(p.iters):
            codes = lasso(np.hstack([x, root * latent]), np.hstack([dictionary, root * link]), self.alpha_, codes)
            dictionary = update_rows(x, codes, dictionary)
            link = update_rows(latent, codes, link)
            text_basis = update_rows(t, latent, text_basis)
            gram = p.lam * np.eye(bits) + p.mu * text_basis @ text_basis.T
            latent = np.linalg.solve(gram, (p.lam * codes @ link + p.mu * t @ text_basis.T).T).T
            self.objective_.append(lssh_objective(x, t, codes, latent, dictionary, link, text_basis, p, self.alpha_))
        self.dictionary_, self.link_, self.text_basis_ = dictionary, link, text_basis
        self.text_inverse_ = np.linalg.inv(text_basis @ text_basis.T + p.lam / p.mu * np.eye(bits))
        return self

    def image_latent(self, features: np.ndarray) -> np.ndarray:
        """s(x) R: the image's sparse code over D, mapped to the latent space."""
        return lasso(self.image_rows(features), self.dictionary_, self.alpha_) @ self.link_

    def text_projection(self, features: np.ndarray) -> np.ndarray:
        """t A^T, with t the centred text."""
        return (features.astype(np.float64) - self.text_mean_) @ self.text_basis_.T

    def encode(self, modality: str, features: np.ndarray) -> np.ndarray:
        if modality == "image":
            return sign_bits(self.image_latent(features))
        return sign_bits(self.text_projection(features) @ self.text_inverse_)

    def encode_database(self, image: np.ndarray, text: np.ndarray) -> dict[str, np.ndarray]:
        if self.params.db_codes == "modality":
            return super().encode_database(image, text)
        p = self.params
        unified = sign_bits((p.lam / p.mu * self.image_latent(image) + self.text_projection(text)) @ self.text_inverse_)
        return {"image": unified, "text": unified}

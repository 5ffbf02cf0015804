"""SePH: Semantics-Preserving Hashing (Lin, Ding, Hu, Wang; CVPR 2015), random and k-means anchors.

Supervised, two stages.

1. **Training codes.** The label affinity P (single-label: 1 for the same
   class; multi-label: cosine of the label vectors; zero diagonal, symmetric,
   normalised to sum 1, floored at the smallest positive float) is matched by
   the distribution Q_ij ∝ 1/(1 + ||h_i - h_j||^2 / 4) of real-valued codes H
   (n x c). With M = (P - Q) ∘ (1 + ||h_i - h_j||^2 / 4)^-1, the exact
   gradient of KL(P||Q) is (diag(M 1) - M) H (the t-SNE derivation with
   h = 2u). The released code, copying t-SNE, steps along 4 (diag(M 1) - M) H
   + 2 alpha (|H| - 1) ∘ sign(H); we keep that step, which is the gradient of
   ``J = 4 KL(P||Q) + alpha || |H| - 1 ||^2`` (so the factor 4 only weights the
   KL term against alpha, as released), and ``cost_`` records J. Optimiser as
   released: H0 = 1e-4 randn, momentum 0.5, learning rate 500, delta-bar-delta
   gains (+0.2 / x0.8, floor 0.01), 100 iterations, columns re-centred after
   each step, and the iterate of lowest J is kept; alpha = 1e-2 / (c n).
   Training codes B = sign(H). The cost is O(n^2) per iteration, so at most
   ``train_size`` training items (5,000, as the paper samples) are used.
2. **Hash functions.** Per modality, RBF features k(x) = exp(-||x - z||^2 /
   sigma^2) against m anchors z (sigma^2: mean squared pairwise distance of
   the centred training features), and per bit kernel logistic regression:
   min_w sum_i log(1 + exp(-B_ib k_i^T w)) + C w^T K0 w, no bias, C = 0.01,
   from w = 0 by L-BFGS. The problem separates over bits, so all bits are
   solved as one L-BFGS problem over W (m x c); its minimiser is the per-bit
   one, though the iterates (and the stopping point) differ from per-bit runs.
   The solver runs in whitened variables (see ``kernel_logistic_regression``),
   and by default it is trust-region Newton-CG rather than the released
   L-BFGS: the same minimiser (objective equal to 1e-6 relative on Wikipedia
   at 64 bits) in about a third of the time; ``solver="lbfgs"`` restores
   L-BFGS.

Hash: an item gets sign(k(x)^T W) from each modality. The paper gives database
items unified codes from both modalities, sign(p1+ p2+ - p1- p2-), p+ =
sigmoid(k(x)^T W) (``--db-codes unified``); the released demo hashes each
database modality on its own, as hashbench does by default.
``seph-rnd`` uses the same random training items as anchors in both
modalities; ``seph-km`` uses k-means centres per modality (scikit-learn,
seeded). Features are centred with the training mean first.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.optimize
from scipy.special import expit
from sklearn.cluster import KMeans

from hashbench.data import MODALITIES, TrainView
from hashbench.errors import UsageError
from hashbench.method import HashMethod, Reference, sign_bits
from hashbench.methods._linear import centred_training_features
from hashbench.registry import register_method
from hashbench.space import FloatRange, IntRange, SearchSpace

TINY = np.finfo(np.float64).tiny


@dataclass(frozen=True)
class SephParams:
    """SePH parameters (released defaults).

    anchors: number of RBF anchors m.
    train_size: at most this many training items (sampled from the seed) enter the O(n^2) stage.
    iters, learning_rate, momentum: the stage-1 optimiser.
    alpha_scale: alpha = alpha_scale / (bits * n).
    kernel_c: weight C of the w^T K0 w regulariser of the logistic regressions.
    solver: "trust-ncg" (default, faster) or "lbfgs" (as released) for the logistic regressions.
    """

    anchors: int = 500
    train_size: int = 5000
    iters: int = 100
    learning_rate: float = 500.0
    momentum: float = 0.5
    alpha_scale: float = 1e-2
    kernel_c: float = 0.01
    solver: str = "trust-ncg"

    def __post_init__(self) -> None:
        if self.solver not in ("trust-ncg", "lbfgs"):
            raise UsageError(f"solver={self.solver}: expected 'trust-ncg' or 'lbfgs'")
        for name in ("anchors", "train_size", "iters"):
            if getattr(self, name) < 1:
                raise UsageError(f"{name}={getattr(self, name)}: expected a positive integer")


def label_affinity(labels: np.ndarray) -> np.ndarray:
    """P: cosine of label vectors (1/0 for single-label data), zero diagonal, summing to 1, floored."""
    labels = labels.astype(np.float64)
    norms = np.linalg.norm(labels, axis=1, keepdims=True)
    unit = np.divide(labels, norms, out=np.zeros_like(labels), where=norms > 0)
    affinity = unit @ unit.T
    np.fill_diagonal(affinity, 0.0)
    affinity = (affinity + affinity.T) / 2
    return np.maximum(affinity / affinity.sum(), TINY)


class CodeObjective:
    """J(H) = 4 KL(P||Q) + alpha || |H| - 1 ||^2 and its gradient, the released update direction.

    Q's floor at the smallest positive float binds only on its zero diagonal,
    where P is floored too, so the diagonal adds nothing to J or its gradient;
    KL is summed over the entries where P is above its floor.
    """

    def __init__(self, affinity: np.ndarray, alpha: float) -> None:
        self.affinity, self.alpha = affinity, alpha
        self.support = np.nonzero(affinity > TINY)
        positive = affinity[self.support]
        self.entropy_term = float(np.sum(positive * np.log(positive)))
        self.positive = positive
        n = affinity.shape[0]
        self._kernel, self._weights = np.empty((n, n)), np.empty((n, n))

    def __call__(self, codes: np.ndarray) -> tuple[float, np.ndarray]:
        kernel, weights = self._kernel, self._weights
        squared_norms = np.sum(codes**2, axis=1)
        np.matmul(codes, codes.T, out=kernel)
        kernel *= -2.0
        kernel += squared_norms[:, None]
        kernel += squared_norms[None, :]
        np.maximum(kernel, 0.0, out=kernel)
        kernel *= 0.25
        kernel += 1.0
        np.reciprocal(kernel, out=kernel)  # (1 + ||h_i - h_j||^2 / 4)^-1
        np.fill_diagonal(kernel, 0.0)
        total = kernel.sum()
        kl = self.entropy_term - float(np.sum(self.positive * np.log(kernel[self.support] / total)))
        np.multiply(kernel, -1.0 / total, out=weights)  # -Q
        weights += self.affinity
        weights *= kernel  # M = (P - Q) o kernel
        gradient = 4 * (weights.sum(axis=1)[:, None] * codes - weights @ codes)
        magnitude = np.abs(codes) - 1
        gradient += 2 * self.alpha * magnitude * np.sign(codes)
        return 4 * kl + self.alpha * float(np.sum(magnitude**2)), gradient


def learn_training_codes(affinity: np.ndarray, bits: int, params: SephParams, rng: np.random.Generator):
    """Stage 1: real-valued codes H by the released gradient descent; returns (H of lowest J, J per iteration)."""
    n = affinity.shape[0]
    objective = CodeObjective(affinity, params.alpha_scale / (bits * n))
    codes = 1e-4 * rng.standard_normal((n, bits))
    update, gains = np.zeros_like(codes), np.ones_like(codes)
    best, best_cost, costs = codes, np.inf, []
    for _ in range(params.iters):
        cost, gradient = objective(codes)
        costs.append(cost)
        if cost < best_cost:
            best, best_cost = codes, cost
        same_direction = np.sign(gradient) == np.sign(update)
        gains = np.where(same_direction, gains * 0.8, gains + 0.2)
        gains = np.maximum(gains, 0.01)
        update = params.momentum * update - params.learning_rate * gains * gradient
        codes = codes + update
        codes = codes - codes.mean(axis=0)
    cost, _ = objective(codes)
    costs.append(cost)
    if cost < best_cost:
        best = codes
    return best, costs


def rbf_features(features: np.ndarray, anchors: np.ndarray, sigma_squared: float) -> np.ndarray:
    """exp(-||x - z||^2 / sigma^2) for every row x and anchor z."""
    squared = np.sum(features**2, axis=1)[:, None] + np.sum(anchors**2, axis=1)[None, :] - 2 * features @ anchors.T
    return np.exp(-np.maximum(squared, 0.0) / sigma_squared)


def logistic_objective(
    flat_weights: np.ndarray, features: np.ndarray, signs: np.ndarray, c: float
) -> tuple[float, np.ndarray]:
    """Sum over bits of log(1 + exp(-B_ib f_i^T v_b)) + c ||v_b||^2, and its gradient."""
    weights = flat_weights.reshape(features.shape[1], signs.shape[1])
    margins = signs * (features @ weights)
    loss = float(np.sum(np.logaddexp(0.0, -margins))) + c * float(np.sum(weights**2))
    gradient = features.T @ (-signs * expit(-margins)) + 2 * c * weights
    return loss, gradient.ravel()


def logistic_hessian_product(
    flat_weights: np.ndarray, flat_direction: np.ndarray, features: np.ndarray, signs: np.ndarray, c: float
) -> np.ndarray:
    """The Hessian of :func:`logistic_objective` at ``flat_weights`` times ``flat_direction``."""
    shape = (features.shape[1], signs.shape[1])
    margins = signs * (features @ flat_weights.reshape(shape))
    curvature = expit(margins) * expit(-margins)
    direction = flat_direction.reshape(shape)
    return (features.T @ (curvature * (features @ direction)) + 2 * c * direction).ravel()


def kernel_logistic_regression(
    kernel: np.ndarray, anchor_kernel: np.ndarray, signs: np.ndarray, c: float, solver: str
) -> np.ndarray:
    """W (m x bits) minimising sum_b sum_i log(1 + exp(-B_ib k_i^T w_b)) + c w_b^T K0 w_b, from W = 0.

    Solved in the variables v = K0^(1/2) w (w = U diag(lambda)^-1/2 v from
    K0's eigendecomposition), where the regulariser is c ||v||^2: the same
    problem and minimiser, but far better conditioned (L-BFGS needs a few
    hundred iterations instead of many thousands). Eigenvalues of K0 are
    floored at 1e-10 of the largest, which only matters when anchors coincide.
    ``solver`` is "lbfgs" (as released) or "trust-ncg" (Newton-CG with exact
    Hessian-vector products: the same minimiser about 3x faster).
    """
    eigenvalues, eigenvectors = np.linalg.eigh(anchor_kernel)
    eigenvalues = np.maximum(eigenvalues, eigenvalues[-1] * 1e-10)
    to_weights = eigenvectors / np.sqrt(eigenvalues)
    features = kernel @ to_weights
    newton = solver == "trust-ncg"
    solution = scipy.optimize.minimize(
        logistic_objective,
        np.zeros(features.shape[1] * signs.shape[1]),
        args=(features, signs, c),
        jac=True,
        hessp=logistic_hessian_product if newton else None,
        method="trust-ncg" if newton else "L-BFGS-B",
        options={"gtol": 1e-4} if newton else None,
    )
    return to_weights @ solution.x.reshape(features.shape[1], signs.shape[1])


class _Seph(HashMethod):
    supervised = True
    reference = Reference("Lin, Ding, Hu & Wang", "Semantics-Preserving Hashing for Cross-View Retrieval", "CVPR", 2015)
    Params = SephParams
    unified_codes = True
    search_space = SearchSpace(1, {
        "anchors": IntRange(100, 1000, step=50),
        "kernel_c": FloatRange(1e-4, 1.0, log=True),
        "alpha_scale": FloatRange(1e-4, 1.0, log=True),
    })  # fmt: skip

    def _anchors(self, features: dict[str, np.ndarray], rng: np.random.Generator, seed: int) -> dict[str, np.ndarray]:
        raise NotImplementedError

    def fit(self, train: TrainView, bits: int, *, seed: int, device: str = "cpu") -> _Seph:
        p = self.params
        rng = np.random.default_rng(seed)
        features, self.means_ = centred_training_features(train)
        labels = self.training_labels(train)
        if train.n > p.train_size:
            chosen = np.sort(rng.choice(train.n, p.train_size, replace=False))
            features = {m: x[chosen] for m, x in features.items()}
            labels = labels[chosen]
        real_codes, self.cost_ = learn_training_codes(label_affinity(labels), bits, p, rng)
        signs = np.where(real_codes >= 0, 1.0, -1.0)
        anchors = self._anchors(features, rng, seed)
        self.anchors_, self.sigma_squared_, self.weights_ = {}, {}, {}
        for modality in MODALITIES:
            x = features[modality]
            self.sigma_squared_[modality] = max(2 * float(np.mean(np.sum((x - x.mean(0)) ** 2, axis=1))), TINY)
            self.anchors_[modality] = anchors[modality]
            self.weights_[modality] = kernel_logistic_regression(
                rbf_features(x, anchors[modality], self.sigma_squared_[modality]),
                rbf_features(anchors[modality], anchors[modality], self.sigma_squared_[modality]),
                signs,
                p.kernel_c,
                p.solver,
            )
        return self

    def _scores(self, modality: str, features: np.ndarray) -> np.ndarray:
        centred = features.astype(np.float64) - self.means_[modality]
        return rbf_features(centred, self.anchors_[modality], self.sigma_squared_[modality]) @ self.weights_[modality]

    def encode(self, modality: str, features: np.ndarray) -> np.ndarray:
        return sign_bits(self._scores(modality, features))

    def encode_unified(self, image: np.ndarray, text: np.ndarray) -> np.ndarray:
        image_scores, text_scores = self._scores("image", image), self._scores("text", text)
        return sign_bits(expit(image_scores) * expit(text_scores) - expit(-image_scores) * expit(-text_scores))


@register_method("seph-rnd")
class SephRandom(_Seph):
    """SePH with random training items as anchors (the same items in both modalities)."""

    def _anchors(self, features, rng, seed):
        n = next(iter(features.values())).shape[0]
        chosen = rng.choice(n, min(self.params.anchors, n), replace=False)
        return {m: x[chosen] for m, x in features.items()}


@register_method("seph-km")
class SephKmeans(_Seph):
    """SePH with k-means centres of each modality's training features as anchors."""

    def _anchors(self, features, rng, seed):
        return {
            m: KMeans(n_clusters=min(self.params.anchors, x.shape[0]), n_init=1, random_state=seed)
            .fit(x)
            .cluster_centers_
            for m, x in features.items()
        }

"""Building blocks shared by the linear (shallow) methods: centring, k-NN graphs, cross-view eigenproblems."""

from __future__ import annotations

import numpy as np
import scipy.linalg
from sklearn.neighbors import kneighbors_graph

from hashbench.data import MODALITIES, TrainView
from hashbench.method import HashMethod, sign_bits

#: Generalised eigenvalues below this fraction of the largest count as zero (no cross-modal signal).
RELATIVE_EIGEN_FLOOR = 1e-10


def centred_training_features(train: TrainView) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Training features of both modalities in float64, centred by their training means.

    Returns ``(features, means)``; the means are what ``encode`` subtracts later,
    for queries and database alike.
    """
    means, features = {}, {}
    for modality in MODALITIES:
        x = train.features(modality).astype(np.float64)
        means[modality] = x.mean(axis=0)
        features[modality] = x - means[modality]
    return features, means


def knn_laplacian(features: np.ndarray, neighbours: int) -> np.ndarray:
    """L = D - W of the symmetrised binary k-nearest-neighbour graph (Euclidean), dense."""
    graph = kneighbors_graph(features, min(neighbours, len(features) - 1), mode="connectivity", include_self=False)
    weights = graph.maximum(graph.T).toarray()
    return np.diag(weights.sum(axis=1)) - weights


def larger_first(features: dict[str, np.ndarray]) -> list[tuple[str, np.ndarray]]:
    """The modalities as (name, matrix) pairs, the one with more dimensions first (the x side)."""
    return sorted(features.items(), key=lambda item: -item[1].shape[1])


class LinearHashMethod(HashMethod):
    """A method whose hash function is sign((x - training mean) W) per modality.

    ``fit`` sets ``means_`` and ``projections_`` (modality -> array).
    """

    def centred(self, modality: str, features: np.ndarray) -> np.ndarray:
        """``features`` minus the training mean of ``modality``, in float64."""
        return features.astype(np.float64) - self.means_[modality]

    def encode(self, modality: str, features: np.ndarray) -> np.ndarray:
        return sign_bits(self.centred(modality, features) @ self.projections_[modality])


def _fix_signs(vectors: np.ndarray) -> np.ndarray:
    """Make the largest-magnitude entry of each column positive, so results do not depend on the solver."""
    pivots = np.abs(vectors).argmax(axis=0)
    signs = np.sign(vectors[pivots, np.arange(vectors.shape[1])])
    signs[signs == 0] = 1.0
    return vectors * signs


def cross_view_eigen(
    cross: np.ndarray, cov_x: np.ndarray, cov_y: np.ndarray, count: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Top ``count`` solutions of ``C_xy C_yy^-1 C_xy^T w = eta C_xx w`` and their partner projections.

    ``cross`` is C_xy (d_x x d_y), ``cov_x`` and ``cov_y`` the regularised
    covariances. Returns ``(eta, W_x, W_y)``, eigenvalues descending, with
    ``W_y = C_yy^-1 C_xy^T W_x diag(eta)^-1/2``. ``eta`` is floored before the
    inverse square root, so no projection is NaN or complex; at most
    ``min(count, d_x)`` pairs come back.
    """
    d_x = cov_x.shape[0]
    count = min(count, d_x)
    solved = scipy.linalg.solve(cov_y, cross.T, assume_a="pos")  # C_yy^-1 C_xy^T
    lhs = cross @ solved
    lhs = (lhs + lhs.T) / 2
    eta, w_x = scipy.linalg.eigh(lhs, cov_x, subset_by_index=[d_x - count, d_x - 1])
    eta, w_x = eta[::-1], _fix_signs(w_x[:, ::-1])
    floor = max(float(eta[0]), 0.0) * RELATIVE_EIGEN_FLOOR + np.finfo(np.float64).tiny
    w_y = solved @ w_x / np.sqrt(np.maximum(eta, floor))
    return eta, w_x, w_y


def informative_count(eta: np.ndarray) -> int:
    """How many leading eigenvalues carry cross-modal signal (above the relative floor)."""
    return int((eta > max(float(eta[0]), 0.0) * RELATIVE_EIGEN_FLOOR).sum()) if eta.size else 0


def fill_with_random_hyperplanes(
    w_x: np.ndarray, w_y: np.ndarray, informative: int, bits: int, rng: np.random.Generator
) -> tuple[np.ndarray, np.ndarray]:
    """Keep the first ``informative`` projection pairs and add random hyperplanes up to ``bits``.

    A cross-view linear method finds at most rank(C_xy) correlated directions
    (10 on Wikipedia, whose text is 10-d); beyond them the eigenproblem returns
    directions with zero cross-modal correlation, whose codes would be noise.
    The extra bits are instead sign-random projections (Charikar, STOC 2002)
    of the shared informative subspace, the same hyperplanes for both
    modalities, so they approximate the angle between the projected image and
    text. The draw comes from the run's seed.
    """
    keep_x, keep_y = w_x[:, :informative], w_y[:, :informative]
    extra = bits - informative
    if extra <= 0:
        return keep_x[:, :bits], keep_y[:, :bits]
    if informative == 0:
        raise ValueError("no cross-modal direction with a positive eigenvalue: the views are uncorrelated")
    hyperplanes = rng.standard_normal((informative, extra))
    return np.hstack([keep_x, keep_x @ hyperplanes]), np.hstack([keep_y, keep_y @ hyperplanes])


def itq_rotation(
    embedded: np.ndarray, bits: int, iterations: int, rng: np.random.Generator
) -> tuple[np.ndarray, list[float]]:
    """ITQ (Gong et al., TPAMI 2013): an orthogonal map R (r x bits) minimising ||sign(V R) - V R||^2.

    ``embedded`` is V (n x r). For r < bits the rows of R are orthonormal (a
    rectangular Procrustes problem), so the extra bits are learned combinations
    of the r dimensions. Starts from a random orthogonal matrix drawn from
    ``rng``; returns R and the quantisation loss before each update.
    """
    rank = embedded.shape[1]
    size = max(rank, bits)
    rotation = np.linalg.qr(rng.standard_normal((size, size)))[0][:rank, :bits]
    losses = []
    for _ in range(iterations):
        projected = embedded @ rotation
        codes = np.where(projected >= 0, 1.0, -1.0)
        losses.append(float(np.sum((codes - projected) ** 2)))
        left, _, right = np.linalg.svd(embedded.T @ codes, full_matrices=False)
        rotation = left @ right
    return rotation, losses

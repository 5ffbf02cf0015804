"""CCA-ITQ: CCA followed by Iterative Quantization (Gong, Lazebnik, Gordo, Perronnin; TPAMI 2013).

Unsupervised reference method. Centre both modalities, project each to the
shared CCA space (regularised covariances), stack the projected training data
of both modalities, and learn one orthogonal rotation R by ITQ: alternate
B = sign(V R) and R from the SVD of V^T B (50 iterations). Hash: sign(X W R)
per modality.

CCA has at most rank(C_xy) <= min(d_image, d_text) directions (10 on
Wikipedia). Where the code is longer than that, R maps the r CCA dimensions to
the c bits with orthonormal rows (the rectangular Procrustes solution), so the
extra bits are ITQ-learned combinations of the CCA space rather than noise;
``cca_dims_`` records r. The CCA directions are not rescaled by their
eigenvalues.
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
    informative_count,
    itq_rotation,
    larger_first,
)
from hashbench.registry import register_method


@dataclass(frozen=True)
class CcaItqParams:
    """CCA-ITQ parameters. reg: ridge added to both covariances; iters: ITQ iterations."""

    reg: float = 1e-4
    iters: int = 50


@register_method("cca-itq")
class CcaItq(LinearHashMethod):
    """CCA projections of both modalities, rotated by ITQ, thresholded at zero."""

    supervised = False
    reference = Reference(
        "Gong, Lazebnik, Gordo & Perronnin",
        "Iterative Quantization: A Procrustean Approach to Learning Binary Codes for Large-Scale Image Retrieval",
        "TPAMI",
        2013,
    )
    Params = CcaItqParams

    def fit(self, train: TrainView, bits: int, *, seed: int, device: str = "cpu") -> CcaItq:
        features, self.means_ = centred_training_features(train)
        (x_name, x), (y_name, y) = larger_first(features)
        cov_x = x.T @ x + self.params.reg * np.eye(x.shape[1])
        cov_y = y.T @ y + self.params.reg * np.eye(y.shape[1])
        eta, w_x, w_y = cross_view_eigen(x.T @ y, cov_x, cov_y, bits)
        self.cca_dims_ = max(1, min(bits, informative_count(eta)))
        w_x, w_y = w_x[:, : self.cca_dims_], w_y[:, : self.cca_dims_]
        shared = np.vstack([x @ w_x, y @ w_y])
        rotation, self.quantisation_loss_ = itq_rotation(shared, bits, self.params.iters, np.random.default_rng(seed))
        self.projections_ = {x_name: w_x @ rotation, y_name: w_y @ rotation}
        return self

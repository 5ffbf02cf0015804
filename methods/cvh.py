"""CVH: Cross-View Hashing (Kumar & Udupa, IJCAI 2011).

Unsupervised, for paired data: with centred features, the generalised
eigenproblem C_xy C_yy^-1 C_xy^T w = eta C_xx w (C_xx = X^T X + lambda I,
C_yy = Y^T Y + lambda I) gives W_x, and W_y = C_yy^-1 C_xy^T W_x Lambda^-1/2.
Hash: sign(X W_x), sign(Y W_y).

Departures, each deliberate:

* A widely copied re-implementation multiplies by C_yy instead of inverting it
  and does not centre; this one inverts and centres, as the paper says.
* The larger modality is the ``x`` side, eigenvalues are floored before the
  inverse square root, and beyond rank(C_xy) <= min(d_image, d_text) (10 on
  Wikipedia) the bits are random hyperplanes in the informative subspace
  (see ``fill_with_random_hyperplanes``); ``informative_bits_`` says how many
  came from the eigenproblem.
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


@dataclass(frozen=True)
class CvhParams:
    """CVH parameters. lam: ridge added to both covariances."""

    lam: float = 1e-4


@register_method("cvh")
class Cvh(LinearHashMethod):
    """Cross-View Hashing: CCA-style projections of both views, thresholded at zero."""

    supervised = False
    reference = Reference("Kumar & Udupa", "Learning Hash Functions for Cross-View Similarity Search", "IJCAI", 2011)
    Params = CvhParams

    def fit(self, train: TrainView, bits: int, *, seed: int, device: str = "cpu") -> Cvh:
        features, self.means_ = centred_training_features(train)
        (x_name, x), (y_name, y) = larger_first(features)
        cov_x = x.T @ x + self.params.lam * np.eye(x.shape[1])
        cov_y = y.T @ y + self.params.lam * np.eye(y.shape[1])
        eta, w_x, w_y = cross_view_eigen(x.T @ y, cov_x, cov_y, bits)
        self.informative_bits_ = min(bits, informative_count(eta))
        w_x, w_y = fill_with_random_hyperplanes(w_x, w_y, self.informative_bits_, bits, np.random.default_rng(seed))
        self.projections_ = {x_name: w_x, y_name: w_y}
        return self

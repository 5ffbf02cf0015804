"""IMH, QCH, LSSH and STMH mechanics, on hand-worked cases and the real Wikipedia training data."""

import itertools

import numpy as np
import pytest

from hashbench.methods.imh import Imh, imh_system, knn_laplacian, regression_residual
from hashbench.methods.lssh import Lssh, update_rows
from hashbench.methods.qch import Qch, procrustes
from hashbench.methods.stmh import Stmh, squared_distances, top_half
from hashbench.runner import load_dataset


@pytest.fixture(scope="module")
def wiki_train():
    return load_dataset("wiki").train_view(with_labels=False)


def never_increases(values, slack=1e-9):
    return all(b <= a + slack * abs(a) for a, b in itertools.pairwise(values))


def test_knn_laplacian_of_points_on_a_line():
    # 0, 1, 3, 7 with k = 1: nearest neighbours 0->1, 1->0, 3->1, 7->3; symmetrised edges 0-1, 1-3, 3-7
    laplacian = knn_laplacian(np.array([[0.0], [1.0], [3.0], [7.0]]), 1)
    expected = np.array([[1, -1, 0, 0], [-1, 2, -1, 0], [0, -1, 2, -1], [0, 0, -1, 1]], dtype=float)
    np.testing.assert_array_equal(laplacian, expected)


def test_imh_system_matches_the_released_formula_where_it_is_well_conditioned():
    rng = np.random.default_rng(0)
    x_1, x_2 = rng.standard_normal((12, 3)), rng.standard_normal((12, 4))
    residuals = (regression_residual(x_1, 1.0), regression_residual(x_2, 1.0))
    laplacians = (knn_laplacian(x_1, 3), knn_laplacian(x_2, 3))
    u, lam = 10.0, 0.7  # small enough that I - C can be formed by subtraction without cancellation
    identity = np.eye(12)
    c = np.linalg.solve(residuals[1] + lam * laplacians[1] + u * identity, u * identity)
    want = residuals[0] + c.T @ residuals[1] @ c + (identity - c).T @ (u * identity) @ (identity - c)
    want += lam * laplacians[0] + lam * c.T @ laplacians[1] @ c
    d, coupling = imh_system(residuals, laplacians, lam, u)
    np.testing.assert_allclose(coupling, c, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(d, (want + want.T) / 2, rtol=1e-9, atol=1e-10)


def test_imh_thresholds_each_bit_at_its_training_median(wiki_train):
    method = Imh().fit(wiki_train, 16, seed=0)
    for modality in ("image", "text"):
        ones = method.encode(modality, wiki_train.features(modality)).mean(axis=0)
        np.testing.assert_allclose(ones, 0.5, atol=1 / wiki_train.n)


def test_procrustes_beats_every_other_orthonormal_matrix():
    rng = np.random.default_rng(1)
    for shape in [(6, 3), (3, 6)]:
        target = rng.standard_normal(shape)
        best = np.trace(procrustes(target).T @ target)
        for _ in range(200):
            other = procrustes(rng.standard_normal(shape))  # a random orthonormal matrix of the same shape
            assert np.trace(other.T @ target) <= best + 1e-12


@pytest.mark.parametrize("bits", [8, 32])  # fewer and more bits than the 10-d text
def test_qch_objective_never_decreases_and_projections_stay_orthonormal(wiki_train, bits):
    method = Qch(iters=20).fit(wiki_train, bits, seed=0)
    assert len(method.objective_) == 20
    assert all(b >= a - 1e-9 * abs(a) for a, b in itertools.pairwise(method.objective_))
    for modality in ("image", "text"):
        w = method.projections_[modality]
        w = w / np.linalg.norm(w, 2)  # the stored projection carries the modality's scale
        small = w.T @ w if w.shape[0] >= w.shape[1] else w @ w.T
        np.testing.assert_allclose(small, np.eye(len(small)), atol=1e-9)


def test_update_rows_lowers_the_loss_keeps_norms_at_most_one_and_solves_the_last_row():
    rng = np.random.default_rng(2)
    codes, target, start = rng.standard_normal((40, 5)), rng.standard_normal((40, 3)) * 3, rng.standard_normal((5, 3))
    basis = update_rows(target, codes, start)
    assert (np.linalg.norm(basis, axis=1) <= 1 + 1e-12).all()
    assert np.sum((target - codes @ basis) ** 2) <= np.sum((target - codes @ start) ** 2)
    residual = target - codes[:, :4] @ basis[:4]  # the last row is the best in the unit ball, the others fixed
    loss = np.sum((residual - np.outer(codes[:, 4], basis[4])) ** 2)
    for _ in range(200):
        row = rng.standard_normal(3)
        row /= max(1.0, np.linalg.norm(row))
        assert loss <= np.sum((residual - np.outer(codes[:, 4], row)) ** 2) + 1e-9


def test_lssh_objective_never_increases_and_database_codes_follow_db_codes(wiki_train):
    method = Lssh(iters=6).fit(wiki_train, 16, seed=0)
    assert len(method.objective_) == 6 and never_increases(method.objective_, slack=1e-6)
    image, text = wiki_train.image[:50], wiki_train.text[:50]
    per_modality = method.encode_database(image, text)
    np.testing.assert_array_equal(per_modality["image"], method.encode("image", image))
    unified = Lssh(iters=6, db_codes="unified").fit(wiki_train, 16, seed=0).encode_database(image, text)
    np.testing.assert_array_equal(unified["image"], unified["text"])


def test_top_half_picks_the_larger_half_and_breaks_ties_by_index():
    scores = np.array([[0.1, 0.9, 0.5, 0.3], [1.0, 1.0, 1.0, 1.0]])
    np.testing.assert_array_equal(top_half(scores), [[0, 1, 1, 0], [1, 1, 0, 0]])


def test_squared_distances_match_the_direct_computation():
    rng = np.random.default_rng(3)
    rows, centres = rng.standard_normal((5, 4)), rng.standard_normal((3, 4))
    direct = ((rows[:, None, :] - centres[None, :, :]) ** 2).sum(axis=2)
    np.testing.assert_allclose(squared_distances(rows, centres), direct, atol=1e-12)


def test_stmh_codes_have_exactly_half_ones(wiki_train):
    method = Stmh().fit(wiki_train, 16, seed=0)
    assert 1 <= len(method.objective_) <= 10 and np.isfinite(method.objective_).all()
    for modality in ("image", "text"):
        assert (method.encode(modality, wiki_train.features(modality)).sum(axis=1) == 8).all()

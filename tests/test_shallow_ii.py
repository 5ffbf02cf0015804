"""IMH, QCH, LSSH and STMH mechanics, on hand-worked cases and the real Wikipedia training data."""

import itertools

import numpy as np
import pytest

from hashbench.harness.runner import load_dataset
from hashbench.methods._linear import knn_laplacian
from hashbench.methods.imh import Imh, imh_system, regression_residual
from hashbench.methods.lssh import Lssh, lasso, row_bounded_least_squares
from hashbench.methods.qch import Qch, procrustes
from hashbench.methods.stmh import Stmh, squared_distances, top_half


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


def bounded_rows_by_projected_gradient(target, codes, bound=1.0, steps=20_000):
    """The slow, obvious solver: projected gradient descent on the primal, rows projected onto the ball."""
    basis, rate = np.zeros((codes.shape[1], target.shape[1])), 1 / np.linalg.norm(codes, 2) ** 2
    for _ in range(steps):
        basis -= rate * codes.T @ (codes @ basis - target)
        basis /= np.maximum(1.0, np.linalg.norm(basis, axis=1, keepdims=True) / bound)
    return basis


def test_the_dual_basis_update_finds_the_constrained_least_squares_minimiser():
    rng = np.random.default_rng(2)
    codes = rng.standard_normal((60, 6)) * (rng.random((60, 6)) < 0.5)
    codes[:, 5] = 0  # an atom no code uses
    codes[:, 4] = codes[:, 3]  # two atoms that always appear together: G is singular
    target = rng.standard_normal((60, 3)) * 2
    basis, multipliers = row_bounded_least_squares(target, codes)
    again, _ = row_bounded_least_squares(target, codes, start=multipliers * 3)  # a warm start: the same minimiser
    np.testing.assert_allclose(again, basis, atol=1e-7)
    assert (np.linalg.norm(basis, axis=1) <= 1 + 1e-6).all() and not basis[5].any()
    reference = bounded_rows_by_projected_gradient(target, codes)
    loss = np.sum((target - codes @ basis) ** 2)
    assert loss == pytest.approx(np.sum((target - codes @ reference) ** 2), rel=1e-7)
    assert (np.linalg.norm(basis[:4], axis=1) > 0.999).any()  # the bound binds: not a plain least-squares fit


def test_the_lasso_penalty_is_a_ratio_of_each_rows_own_zeroing_penalty():
    rng = np.random.default_rng(3)
    dictionary, rows = rng.standard_normal((12, 5)), rng.standard_normal((4, 5))
    rows[1] *= 30  # the ratio makes codes scale with their row
    codes = lasso(rows, dictionary, 0.3)
    for row, code in zip(rows, codes, strict=True):
        penalty = 0.3 * np.abs(dictionary @ row).max()
        correlation = dictionary @ (row - code @ dictionary)  # lasso optimality: |corr| <= p, = p sign(s) where s != 0
        assert (np.abs(correlation) <= penalty * (1 + 1e-6)).all()
        np.testing.assert_allclose(correlation[code != 0], penalty * np.sign(code[code != 0]), rtol=1e-5)
    np.testing.assert_allclose(lasso(rows[1:2] / 30, dictionary, 0.3) * 30, codes[1:2], rtol=1e-6, atol=1e-9)
    near_zeroing = lasso(rows, dictionary, 0.999)  # just below its zeroing penalty a row uses one atom: the likeliest
    np.testing.assert_array_equal(np.flatnonzero(near_zeroing[0]), [np.abs(dictionary @ rows[0]).argmax()])


def test_lssh_trains_unit_length_inputs_and_its_unified_codes_follow_the_release(wiki_train):
    method = Lssh(iters=3).fit(wiki_train, 16, seed=0)
    assert len(method.objective_) == 3 and method.objective_[-1] < method.objective_[0]
    image, text = wiki_train.image[:50], wiki_train.text[:50]
    np.testing.assert_allclose(np.linalg.norm(method.text_rows(text), axis=1), 1.0)
    np.testing.assert_allclose(np.linalg.norm(method.image_rows(image), axis=1), 1.0)
    p = method.params
    latent = (p.lam / p.mu * method.image_latent(image) + method.text_projection(text)) @ method.text_inverse_
    np.testing.assert_array_equal(method.encode_unified(image, text), (latent >= 0).astype(np.uint8))
    np.testing.assert_array_equal(method.encode("image", image), (method.image_latent(image) >= 0).astype(np.uint8))


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

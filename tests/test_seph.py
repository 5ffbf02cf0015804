"""SePH mechanics: the affinity, the stage-1 objective and gradient, the kernel logistic regressions."""

import numpy as np
import pytest
import scipy.optimize

from hashbench.devkit.conformance import check_datasets
from hashbench.methods.seph import (
    CodeObjective,
    SephKmeans,
    SephParams,
    SephRandom,
    kernel_logistic_regression,
    label_affinity,
    learn_training_codes,
    logistic_hessian_product,
    logistic_objective,
)

TINY = np.finfo(np.float64).tiny


def slow_objective(codes, affinity, alpha):
    """4 KL(P||Q) + alpha || |H| - 1 ||^2 written pair by pair."""
    n = len(codes)
    kernel = np.array(
        [[0.0 if i == j else 1 / (1 + np.sum((codes[i] - codes[j]) ** 2) / 4) for j in range(n)] for i in range(n)]
    )
    q = np.maximum(kernel / kernel.sum(), TINY)
    kl = sum(
        affinity[i, j] * np.log(affinity[i, j] / q[i, j]) for i in range(n) for j in range(n) if affinity[i, j] > TINY
    )
    return 4 * kl + alpha * np.sum((np.abs(codes) - 1) ** 2)


def test_affinity_is_same_class_for_single_label_and_cosine_for_multi_label():
    single = label_affinity(np.eye(3, dtype=bool)[[0, 0, 1, 2, 2]])
    assert single.sum() == pytest.approx(1.0)
    assert single[0, 1] == pytest.approx(1 / 4) and single[3, 4] == pytest.approx(1 / 4)
    assert single[0, 2] == TINY and single[0, 0] == TINY
    multi = label_affinity(np.array([[1, 1, 0], [1, 0, 0], [0, 0, 1]], dtype=bool))
    cosine = 1 / np.sqrt(2)
    assert multi[0, 1] == pytest.approx(cosine / (2 * cosine)) and multi[0, 2] == TINY


@pytest.mark.parametrize("multi_label", [False, True])
def test_stage_one_objective_and_gradient_match_the_slow_formula_and_finite_differences(multi_label):
    rng = np.random.default_rng(multi_label)
    labels = rng.random((7, 3)) < 0.5 if multi_label else np.eye(3, dtype=bool)[rng.integers(0, 3, 7)]
    labels[:, 0] |= ~labels.any(axis=1)
    affinity, alpha = label_affinity(labels), 0.3
    codes = rng.standard_normal((7, 4))
    cost, gradient = CodeObjective(affinity, alpha)(codes)
    assert cost == pytest.approx(slow_objective(codes, affinity, alpha), rel=1e-10)
    step = 1e-6
    numeric = np.zeros_like(codes)
    for index in np.ndindex(codes.shape):
        shifted = codes.copy()
        shifted[index] += step
        numeric[index] = (slow_objective(shifted, affinity, alpha) - slow_objective(codes, affinity, alpha)) / step
    np.testing.assert_allclose(gradient, numeric, rtol=1e-4, atol=1e-6)


def test_stage_one_keeps_the_iterate_of_lowest_cost_and_lowers_it():
    small, _ = check_datasets()
    affinity = label_affinity(small.split_labels("train"))
    codes, costs = learn_training_codes(affinity, 16, SephParams(), np.random.default_rng(0))
    objective = CodeObjective(affinity, SephParams().alpha_scale / (16 * len(codes)))
    assert objective(codes)[0] == pytest.approx(min(costs))
    assert min(costs) < 0.2 * costs[0]


def logistic_problem(seed=0):
    rng = np.random.default_rng(seed)
    features = rng.standard_normal((40, 6))
    signs = np.where(rng.standard_normal((40, 3)) >= 0, 1.0, -1.0)
    return features, signs


def test_logistic_gradient_and_hessian_product_match_finite_differences():
    features, signs = logistic_problem()
    point, direction = np.random.default_rng(1).standard_normal((2, 18))
    assert (
        scipy.optimize.check_grad(
            lambda w: logistic_objective(w, features, signs, 0.1)[0],
            lambda w: logistic_objective(w, features, signs, 0.1)[1],
            point,
        )
        < 1e-5
    )
    step = 1e-6
    numeric = (
        logistic_objective(point + step * direction, features, signs, 0.1)[1]
        - logistic_objective(point, features, signs, 0.1)[1]
    ) / step
    np.testing.assert_allclose(logistic_hessian_product(point, direction, features, signs, 0.1), numeric, atol=1e-4)


def test_both_solvers_reach_the_same_kernel_logistic_regression():
    small, _ = check_datasets()
    x = small.features("image", "train").astype(np.float64)
    x -= x.mean(axis=0)
    anchors = x[:50]
    kernel = np.exp(-((x[:, None] - anchors[None]) ** 2).sum(-1) / 0.1)
    anchor_kernel = np.exp(-((anchors[:, None] - anchors[None]) ** 2).sum(-1) / 0.1)
    signs = np.where(np.random.default_rng(0).standard_normal((len(x), 4)) >= 0, 1.0, -1.0)
    solutions = {s: kernel_logistic_regression(kernel, anchor_kernel, signs, 0.01, s) for s in ("lbfgs", "trust-ncg")}

    def objective(w):  # in the original variables: logistic loss + c w^T K0 w
        margins = signs * (kernel @ w)
        return np.logaddexp(0, -margins).sum() + 0.01 * np.sum(w * (anchor_kernel @ w))

    assert objective(solutions["trust-ncg"]) == pytest.approx(objective(solutions["lbfgs"]), rel=1e-5)


@pytest.mark.parametrize("cls", [SephRandom, SephKmeans])
def test_unified_codes_are_the_papers_product_rule_over_both_modalities(cls):
    small, _ = check_datasets()
    method = cls().fit(small.train_view(with_labels=True), 16, seed=0)
    image, text = small.features("image", "database"), small.features("text", "database")
    positive = 1 / (1 + np.exp(-method._scores("image", image))) / (1 + np.exp(-method._scores("text", text)))
    negative = 1 / (1 + np.exp(method._scores("image", image))) / (1 + np.exp(method._scores("text", text)))
    np.testing.assert_array_equal(method.encode_unified(image, text), (positive - negative >= 0).astype(np.uint8))
    where_both_agree = method.encode("image", image) == method.encode("text", text)
    np.testing.assert_array_equal(method.encode_unified(image, text)[where_both_agree],
                                  method.encode("image", image)[where_both_agree])  # fmt: skip


def test_random_anchors_are_the_same_items_in_both_modalities():
    small, _ = check_datasets()
    method = SephRandom(anchors=20).fit(small.train_view(with_labels=True), 8, seed=0)
    image_rows = [
        np.flatnonzero((np.abs(small.features("image", "train") - method.means_["image"] - a) < 1e-6).all(1))
        for a in method.anchors_["image"]
    ]
    text_rows = [
        np.flatnonzero((np.abs(small.features("text", "train") - method.means_["text"] - a) < 1e-6).all(1))
        for a in method.anchors_["text"]
    ]
    assert [r[0] for r in image_rows] == [r[0] for r in text_rows]


def test_training_subsample_bounds_the_quadratic_stage():
    small, _ = check_datasets()
    method = SephRandom(train_size=100, anchors=30).fit(small.train_view(with_labels=True), 8, seed=0)
    assert len(method.cost_) == 101  # 100 iterations and the last iterate

"""SMFH: its graph and objective against hand-worked and direct sums, the V step against scipy's Sylvester
solver, the objective never increasing, and real data."""

import itertools

import numpy as np
import pytest
import scipy.linalg
from wiki_scores import query_maps

from hashbench.data import TrainView
from hashbench.errors import UsageError
from hashbench.harness.runner import load_dataset
from hashbench.methods.smfh import Smfh, joint_laplacian


@pytest.fixture(scope="module")
def wiki():
    return load_dataset("wiki")


def tiny_problem(n=8, seed=0):
    rng = np.random.default_rng(seed)
    return TrainView(image=rng.standard_normal((n, 4)), text=rng.standard_normal((n, 3)),
                     labels=rng.random((n, 3)) < 0.5)  # fmt: skip


def test_the_label_graph_counts_shared_labels():
    labels = np.array([[1, 0], [1, 1], [0, 1]], dtype=bool)
    far_apart = {"x": np.array([[0.0], [10.0], [30.0]])}  # 1-NN graph: 0-1 and 1-2
    knn = np.array([[1, -1, 0], [-1, 2, -1], [0, -1, 1]], dtype=float)
    label_part = np.array([[1, -1, 0], [-1, 2, -1], [0, -1, 1]], dtype=float)  # W = Y Y^T, diagonal cancels
    np.testing.assert_array_equal(joint_laplacian(far_apart, labels, 1), knn + label_part)


def fitted_tiny(**params):
    train = tiny_problem()
    method = Smfh(**params).fit(train, 3, seed=0)
    features = {m: train.features(m) - method.means_[m] for m in ("image", "text")}
    graph = joint_laplacian(features, train.labels, method.params.neighbours)
    return method, features, graph


def test_the_objective_is_the_sum_the_docstring_writes():
    method, features, graph = fitted_tiny(alpha=0.3, beta=2.0, gamma=0.5, lam=0.1, neighbours=2, max_iters=1)
    latent = np.random.default_rng(5).random((8, 3))
    u, proj = method.factors_, method.projections_
    direct = 0.0
    for i in range(8):
        for m, weight in (("image", 0.3), ("text", 0.7)):
            x = features[m]
            direct += weight * sum((x[i, j] - sum(latent[i, k] * u[m][j, k] for k in range(3))) ** 2
                                   for j in range(x.shape[1]))  # fmt: skip
            direct += 2.0 * sum((latent[i, k] - sum(x[i, j] * proj[m][j, k] for j in range(x.shape[1]))) ** 2
                                for k in range(3))  # fmt: skip
    direct += 0.5 * sum(graph[i, j] * latent[i] @ latent[j] for i in range(8) for j in range(8))
    direct += 0.1 * sum(np.sum(a**2) for a in (*u.values(), *proj.values(), latent))
    values, vectors = scipy.linalg.eigh(graph)
    assert method.objective(features, latent, values, vectors) == pytest.approx(direct, rel=1e-10)


def test_the_v_step_is_the_sylvester_solution_of_the_release():
    method, features, graph = fitted_tiny(gamma=0.7, neighbours=2, max_iters=1)
    p = method.params
    u_image, u_text = method.factors_["image"], method.factors_["text"]
    a = 2 * (p.alpha * u_image.T @ u_image + (1 - p.alpha) * u_text.T @ u_text + (2 * p.beta + p.lam) * np.eye(3))
    c = -2 * (p.alpha * u_image.T @ features["image"].T + (1 - p.alpha) * u_text.T @ features["text"].T
              + p.beta * sum((x @ method.projections_[m]).T for m, x in features.items()))  # fmt: skip
    want = scipy.linalg.solve_sylvester(a, p.gamma * (graph + graph.T), -c)  # MATLAB's lyap(A, B, C)
    values, vectors = scipy.linalg.eigh(graph)
    np.testing.assert_allclose(method._latent(features, values, vectors), want.T, rtol=1e-9, atol=1e-11)


def test_the_objective_never_increases_on_wikipedia(wiki):
    objective = Smfh(tol=0.0, max_iters=12).fit(wiki.train_view(with_labels=True), 16, seed=2).objective_
    assert len(objective) == 12
    assert all(b <= a + 1e-9 * abs(a) for a, b in itertools.pairwise(objective))


def test_well_above_chance_both_ways(wiki):
    """(Determinism is checked for every method by `hashbench check`, test_conformance.py.)"""
    first = Smfh().fit(wiki.train_view(with_labels=True), 16, seed=3)
    maps = query_maps(first, wiki, 16)
    assert min(maps.values()) > 0.2, maps  # chance on Wikipedia is about 0.11


def test_bad_parameters_are_usage_errors():
    with pytest.raises(UsageError, match="alpha=1"):
        Smfh(alpha=1)
    with pytest.raises(UsageError, match="neighbours=0"):
        Smfh(neighbours=0)

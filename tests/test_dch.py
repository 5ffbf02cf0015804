"""DCH: its objective against a direct sum, DCC's coordinate-wise optimum, J never increasing, real data."""

import itertools

import numpy as np
import pytest
from wiki_scores import query_maps

from hashbench.data import TrainView
from hashbench.errors import UsageError
from hashbench.harness.runner import load_dataset
from hashbench.methods.dch import Dch, dcc_step


@pytest.fixture(scope="module")
def wiki_train():
    return load_dataset("wiki").train_view(with_labels=True)


def tiny_problem(n=9, seed=0):
    rng = np.random.default_rng(seed)
    labels = rng.random((n, 3)) < 0.4
    return TrainView(image=rng.standard_normal((n, 4)), text=rng.standard_normal((n, 2)), labels=labels)


def test_the_objective_is_the_sum_the_docstring_writes():
    train = tiny_problem()
    method = Dch(lam=0.7, mu=2.0, gamma=0.3, iters=1).fit(train, 3, seed=0)
    features = {m: train.features(m) - method.means_[m] for m in ("image", "text")}
    codes, w = method.codes_, method.classifier_
    direct = 0.0
    for i in range(train.n):
        for c in range(3):
            direct += (train.labels[i, c] - sum(codes[i, k] * w[k, c] for k in range(3))) ** 2
        for m, x in features.items():
            p = method.projections_[m]
            for k in range(3):
                direct += 2.0 * (codes[i, k] - sum(x[i, j] * p[j, k] for j in range(x.shape[1]))) ** 2
    direct += 0.7 * sum(v**2 for v in w.ravel())
    direct += 2.0 * 0.3 * sum(v**2 for m in features for v in method.projections_[m].ravel())
    assert method.objective(features, train.labels.astype(float), codes) == pytest.approx(direct, rel=1e-12)


def test_dcc_ends_where_no_single_bit_flip_lowers_its_objective():
    rng = np.random.default_rng(3)
    classifier, target = rng.standard_normal((5, 4)), rng.standard_normal((30, 5))
    codes = dcc_step(np.where(rng.random((30, 5)) < 0.5, 1.0, -1.0), classifier, target, sweeps=50)

    def cost(row):  # the B-step objective of one item: ||b W||^2 - 2 b q
        return row @ classifier @ classifier.T @ row - 2 * row @ target[i]

    for i, bit in itertools.product(range(30), range(5)):
        flipped = codes[i].copy()
        flipped[bit] *= -1
        assert cost(codes[i]) <= cost(flipped) + 1e-12


def test_the_objective_never_increases_on_wikipedia(wiki_train):
    objective = Dch(iters=8).fit(wiki_train, 32, seed=1).objective_
    assert len(objective) == 2 * 8 + 1
    assert all(b <= a + 1e-9 * abs(a) for a, b in itertools.pairwise(objective))
    assert objective[-1] < objective[0]


def test_same_seed_same_codes_and_well_above_chance_both_ways(wiki_train):
    wiki = load_dataset("wiki")
    first, second = (Dch().fit(wiki_train, 16, seed=4) for _ in range(2))
    for modality in ("image", "text"):
        features = wiki.features(modality, "query")
        np.testing.assert_array_equal(first.encode(modality, features), second.encode(modality, features))
    maps = query_maps(first, wiki, 16)
    assert min(maps.values()) > 0.2, maps  # chance on Wikipedia is about 0.11


def test_bad_parameters_and_missing_labels_are_usage_errors(wiki_train):
    with pytest.raises(UsageError, match="mu=0"):
        Dch(mu=0)
    with pytest.raises(UsageError, match="sweeps=0"):
        Dch(sweeps=0)
    with pytest.raises(UsageError, match="supervised"):
        Dch().fit(load_dataset("wiki").train_view(with_labels=False), 8, seed=0)

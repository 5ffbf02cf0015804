"""CMDVH: its objective and losses against direct formulas, the B and W steps' optima, real data."""

import itertools

import numpy as np
import pytest
import torch
from wiki_scores import query_maps

from hashbench.errors import UsageError
from hashbench.harness.runner import load_dataset
from hashbench.methods.cmdvh import (
    Cmdvh,
    classifier_step,
    code_step,
    stage_one_objective,
    variational_loss,
)


def tiny_problem(n=12, bits=4, label_count=3, seed=0):
    rng = np.random.default_rng(seed)
    codes = np.where(rng.random((n, bits)) < 0.5, 1.0, -1.0)
    signed_labels = np.where(rng.random((n, label_count)) < 0.4, 1.0, -1.0)
    return codes, signed_labels, rng.standard_normal((label_count, bits)), np.tanh(rng.standard_normal((n, bits)))


def test_the_objective_is_the_sum_the_docstring_writes():
    codes, labels, classifier, fused = tiny_problem()
    direct = 0.0
    for i, label in itertools.product(range(12), range(3)):
        score = sum(classifier[label, k] * codes[i, k] for k in range(4))
        direct += max(0.0, 1.0 - labels[i, label] * score) ** 2
    direct += 0.3 * sum(w**2 for w in classifier.ravel())
    direct += 2.0 * sum((codes[i, k] - fused[i, k]) ** 2 for i in range(12) for k in range(4))
    assert stage_one_objective(codes, classifier, labels, fused, lam=0.3, eta=2.0) == pytest.approx(direct, rel=1e-12)


def test_the_code_step_ends_where_no_single_bit_flip_lowers_the_objective_and_never_raises_it():
    codes, labels, classifier, fused = tiny_problem(n=30, bits=5, seed=3)
    before = stage_one_objective(codes, classifier, labels, fused, lam=0.3, eta=0.7)
    found = code_step(codes, classifier, labels, fused, eta=0.7, sweeps=50)
    assert stage_one_objective(found, classifier, labels, fused, lam=0.3, eta=0.7) <= before
    for i, bit in itertools.product(range(30), range(5)):
        flipped = found.copy()
        flipped[i, bit] *= -1
        assert (
            stage_one_objective(found, classifier, labels, fused, 0.3, 0.7)
            <= stage_one_objective(flipped, classifier, labels, fused, 0.3, 0.7) + 1e-12
        )


def test_the_classifier_step_is_where_the_objectives_gradient_in_w_vanishes():
    codes, labels, _, _ = tiny_problem(n=40, bits=6, seed=5)
    labels[:, 2] = -1.0  # a label no item carries gets w = 0
    classifier = classifier_step(codes, labels, lam=0.5, seed=0)
    assert not classifier[2].any()
    for label in range(2):
        margins = np.maximum(0.0, 1.0 - labels[:, label] * (codes @ classifier[label]))
        gradient = -2.0 * (margins * labels[:, label]) @ codes + 2.0 * 0.5 * classifier[label]
        assert np.abs(gradient).max() < 1e-4


def test_the_variational_loss_is_the_reconstruction_plus_the_weighted_kl():
    mean, log_variance = torch.tensor([[0.5, -1.0]]), torch.tensor([[0.2, -0.4]])
    codes, noise = torch.tensor([[1.0, -1.0]]), torch.tensor([[0.3, -0.2]])
    sample = [0.5 + np.exp(0.1) * 0.3, -1.0 + np.exp(-0.2) * -0.2]
    reconstruction = (1.0 - sample[0]) ** 2 + (-1.0 - sample[1]) ** 2
    kl = 0.5 * sum(np.exp(v) + m**2 - 1.0 - v for m, v in ((0.5, 0.2), (-1.0, -0.4)))
    value = variational_loss(mean, log_variance, codes, noise, kl_weight=0.1)
    assert float(value) == pytest.approx(reconstruction + 0.1 * kl, rel=1e-6)


def test_above_chance_both_ways_with_settled_codes_and_a_falling_variational_loss():
    """(Determinism is checked for every method by `hashbench check`, test_conformance.py.)"""
    wiki = load_dataset("wiki")
    method = Cmdvh(iters=4, epochs=10).fit(wiki.train_view(with_labels=True), 16, seed=1)
    maps = query_maps(method, wiki, 16)
    assert min(maps.values()) > 0.16, maps  # chance on Wikipedia is about 0.11
    losses = method.fit_info()["losses"]
    assert len(losses) == 14 and losses[3]["bits_changed"] < losses[0]["bits_changed"]
    assert losses[-1]["loss_variational"] < losses[4]["loss_variational"]


def test_bad_parameters_are_usage_errors():
    with pytest.raises(UsageError, match="eta=0"):
        Cmdvh(eta=0)
    with pytest.raises(UsageError, match="iters=0"):
        Cmdvh(iters=0)

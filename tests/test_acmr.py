"""ACMR: its losses against direct formulas, the reversal layer, determinism and real data."""

import numpy as np
import pytest
import torch
from wiki_scores import query_maps

from hashbench.errors import UsageError
from hashbench.harness.runner import load_dataset
from hashbench.methods._deep import label_loss
from hashbench.methods.acmr import (
    Acmr,
    ReverseGradient,
    hardest_negatives,
    reversal_scale,
    triplet_loss,
)


def test_the_reversal_layer_passes_values_and_negates_scaled_gradients():
    values = torch.tensor([1.0, -2.0, 3.0], requires_grad=True)
    out = ReverseGradient.apply(values, 0.3)
    assert torch.equal(out, values.detach())
    (out * torch.tensor([1.0, 2.0, 3.0])).sum().backward()
    assert torch.allclose(values.grad, torch.tensor([-0.3, -0.6, -0.9]))
    assert reversal_scale(0.0, 0.5) == 0.0
    assert reversal_scale(1.0, 0.5) == pytest.approx(0.5 * (2 / (1 + np.exp(-10)) - 1))


def test_label_loss_is_the_mean_of_minus_sum_y_log_softmax():
    logits = torch.tensor([[1.0, 2.0, 0.5], [0.0, -1.0, 3.0]])
    labels = torch.tensor([[1.0, 0.0, 1.0], [0.0, 1.0, 0.0]])
    rows = []
    for z, y in zip(logits.tolist(), labels.tolist(), strict=True):
        log_total = np.log(sum(np.exp(v) for v in z))
        rows.append(-sum(t * (v - log_total) for v, t in zip(z, y, strict=True)))
    assert float(label_loss(logits, labels)) == pytest.approx(np.mean(rows), rel=1e-6)


def test_the_hardest_negative_shares_no_label_and_is_the_most_similar_input():
    rng = np.random.default_rng(0)
    inputs = rng.standard_normal((7, 4))
    labels = np.array([[1, 0], [1, 0], [0, 1], [0, 1], [1, 1], [0, 1], [1, 0]], dtype=np.float32)
    chosen, usable = hardest_negatives(torch.from_numpy(inputs), torch.from_numpy(labels))
    for i in range(7):
        candidates = [j for j in range(7) if not (labels[i] @ labels[j])]
        assert bool(usable[i]) == bool(candidates)
        if candidates:
            cosine = [inputs[i] @ inputs[j] / np.linalg.norm(inputs[i]) / np.linalg.norm(inputs[j]) for j in candidates]
            assert int(chosen[i]) == candidates[int(np.argmax(cosine))]
    assert not bool(usable[4])  # item 4 has both labels: every other item shares one


def test_the_triplet_term_is_one_hinge_over_the_batch_sums():
    a, p, n = (torch.tensor(x) for x in ([[0.0, 1.0], [1.0, 1.0]], [[0.0, 0.0], [1.0, 0.5]], [[2.0, 1.0], [0.0, 0.0]]))
    positive = 0.5 * (1.0 + 0.25)
    negative = 0.5 * (4.0 + 2.0)
    assert float(triplet_loss(a, p, n, alpha=6.0, margin=0.1)) == pytest.approx(0.1 + 6 * positive - negative)
    assert float(triplet_loss(a, p, n, alpha=1.0, margin=0.1)) == 0.0


def test_above_chance_both_ways_with_falling_losses():
    """(Determinism is checked for every method by `hashbench check`, test_conformance.py.)"""
    wiki = load_dataset("wiki")
    first = Acmr(epochs=5).fit(wiki.train_view(with_labels=True), 16, seed=1)
    maps = query_maps(first, wiki, 16)
    assert min(maps.values()) > 0.16, maps  # chance on Wikipedia is about 0.11
    losses = first.fit_info()["losses"]
    assert len(losses) == 5 and losses[-1]["loss_embedding"] < losses[0]["loss_embedding"]


def test_bad_parameters_are_usage_errors():
    with pytest.raises(UsageError, match="lr=0"):
        Acmr(lr=0)
    with pytest.raises(UsageError, match="alpha=-1"):
        Acmr(alpha=-1)

"""CMNN: its contrastive and label losses against direct formulas, real data."""

import itertools

import numpy as np
import pytest
import torch
from wiki_scores import query_maps

from hashbench.errors import UsageError
from hashbench.harness.runner import load_dataset
from hashbench.methods.cmnn import Cmnn, contrastive_loss


def direct_contrastive(first, second, relevant, margin, skip_diagonal):
    values = []
    for i, j in itertools.product(range(len(first)), range(len(second))):
        if skip_diagonal and i == j:
            continue
        distance = sum((a - b) ** 2 for a, b in zip(first[i], second[j], strict=True)) / (4 * len(first[i]))
        values.append(distance if relevant[i][j] else max(0.0, margin - distance))
    return np.mean(values)


@pytest.mark.parametrize("skip_diagonal", [False, True])
def test_the_contrastive_loss_is_the_mean_over_the_pairs(skip_diagonal):
    rng = np.random.default_rng(0)
    first, second = np.tanh(rng.standard_normal((5, 3))), np.tanh(rng.standard_normal((5, 3)))
    relevant = rng.random((5, 5)) < 0.4
    value = contrastive_loss(torch.from_numpy(first), torch.from_numpy(second), torch.from_numpy(relevant), 0.6,
                             skip_diagonal)  # fmt: skip
    assert float(value) == pytest.approx(direct_contrastive(first, second, relevant, 0.6, skip_diagonal), rel=1e-9)


def test_a_batch_sums_the_intra_terms_of_both_modalities_and_their_label_losses():
    torch.manual_seed(0)
    method = Cmnn(hidden=4, margin=0.5)
    method.networks_ = {"image": torch.nn.Linear(3, 2), "text": torch.nn.Linear(2, 2), "labels": torch.nn.Linear(2, 2)}
    inputs = {"image": torch.randn(4, 3), "text": torch.randn(4, 2)}
    labels = torch.tensor([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 1.0]])
    terms = method.batch_losses(inputs, labels)
    image, text = method.networks_["image"](inputs["image"]), method.networks_["text"](inputs["text"])
    relevant = (labels @ labels.T > 0).numpy()
    image, text = image.detach().numpy(), text.detach().numpy()
    assert float(terms["loss_inter"].detach()) == pytest.approx(
        direct_contrastive(image, text, relevant, 0.5, False), 1e-5
    )
    intra = direct_contrastive(image, image, relevant, 0.5, True) + direct_contrastive(text, text, relevant, 0.5, True)
    assert float(terms["loss_intra"].detach()) == pytest.approx(intra, rel=1e-5)


def test_above_chance_both_ways_with_falling_losses():
    """(Determinism is checked for every method by `hashbench check`, test_conformance.py.)"""
    wiki = load_dataset("wiki")
    method = Cmnn(epochs=8).fit(wiki.train_view(with_labels=True), 16, seed=1)
    maps = query_maps(method, wiki, 16)
    assert min(maps.values()) > 0.16, maps  # chance on Wikipedia is about 0.11
    losses = method.fit_info()["losses"]
    assert all(losses[-1][name] < losses[0][name] for name in ("loss_inter", "loss_intra", "loss_labels"))


def test_bad_parameters_are_usage_errors():
    with pytest.raises(UsageError, match="margin=0"):
        Cmnn(margin=0)
    with pytest.raises(UsageError, match="intra=-1"):
        Cmnn(intra=-1)

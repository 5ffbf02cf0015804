"""UGACH: its losses against direct formulas, the correlation graph, sampling, gradient paths, training habits."""

import numpy as np
import pytest
import torch
from deep_habits import assert_resumes_like_uninterrupted, assert_seeded_and_encodes_from_one_modality

from hashbench import registry
from hashbench.data import TrainView
from hashbench.errors import UsageError
from hashbench.methods.ugach import (
    Ugach,
    UgachTraining,
    correlation_graph,
    l2_penalty,
    nearest,
    policy_gradient_loss,
    sample_excluding,
    triplet_hinge,
)

SMALL = {"epochs": 2, "pretrain_epochs": 1, "hidden": 32, "candidates": 20}


def test_the_triplet_hinge_and_the_policy_gradient_loss_match_direct_formulas():
    rng = np.random.default_rng(0)
    query, positive, negative = rng.random((3, 4, 6))
    triplets = zip(query, positive, negative, strict=True)
    want = [max(0.0, 0.1 + sum((q - p) ** 2) - sum((q - n) ** 2)) for q, p, n in triplets]
    got = triplet_hinge(*map(torch.tensor, (query, positive, negative)), 0.1).numpy()
    np.testing.assert_allclose(got, want, rtol=1e-12)
    assert 0 < np.count_nonzero(got) < 4  # both sides of the hinge are exercised

    scores, reward = rng.standard_normal((3, 5)), rng.random((3, 2))
    picked = [[0, 4], [2, 2], [1, 3]]
    want = -np.mean([
        np.log(np.exp(scores[i, j]) / np.exp(scores[i]).sum()) * reward[i, d]
        for i in range(3) for d, j in enumerate(picked[i])
    ])  # fmt: skip
    log_probabilities = torch.log_softmax(torch.tensor(scores), dim=1)
    got = policy_gradient_loss(log_probabilities, torch.tensor(picked), torch.tensor(reward))
    assert float(got) == pytest.approx(want, rel=1e-12)


def test_the_l2_penalty_is_half_the_sum_of_squares_of_every_parameter():
    layer = torch.nn.Linear(3, 2).requires_grad_(False)
    want = 0.5 * (float((layer.weight**2).sum()) + float((layer.bias**2).sum()))
    assert float(l2_penalty([layer, torch.nn.Sequential()])) == pytest.approx(want)


def test_the_correlation_graph_holds_the_item_and_its_nearest_in_each_modality():
    image = torch.tensor([[0.0], [1.0], [3.0], [7.0]])
    text = torch.tensor([[0.0], [9.0], [8.5], [0.2]])
    np.testing.assert_array_equal(nearest(image, 1).numpy().ravel(), [1, 0, 1, 2])
    np.testing.assert_array_equal(nearest(torch.tensor([[0.0], [1.0], [2.0]]), 1).numpy().ravel(), [1, 0, 1])
    graph = correlation_graph(image, text, 1).numpy()
    np.testing.assert_array_equal(graph, [[0, 1, 3], [1, 0, 2], [2, 1, 1], [3, 2, 0]])


def test_sampling_never_draws_an_excluded_candidate_and_follows_the_scores():
    scores = torch.tensor([[5.0, 0.0, 9.0], [0.0, 0.0, 0.0], [1.0, 2.0, 3.0]])
    excluded = torch.tensor([[False, False, True], [True, False, True], [True, True, True]])
    drawn = sample_excluding(scores, excluded, 200, torch.Generator().manual_seed(0))
    assert set(drawn[0].tolist()) <= {0, 1} and (drawn[0] == 0).float().mean() > 0.95  # e^5 : 1
    assert set(drawn[1].tolist()) == {1}
    assert set(drawn[2].tolist()) == {0, 1, 2}  # every candidate excluded: all may be drawn


@pytest.fixture(scope="module")
def wiki_train():
    view = registry.datasets.get("wiki")().train_view(with_labels=False)
    return TrainView(view.image[:300], view.text[:300], None)


def test_drawn_triplets_pair_each_query_with_a_graph_positive_and_a_non_positive(wiki_train):
    torch.manual_seed(0)
    training = UgachTraining(Ugach(**SMALL), wiki_train, 8, seed=0, device="cpu")
    for hashes in (None, training.generator_hashes()):  # uniform, then the generator's scores
        triplets = training.draw_triplets("i2t", torch.Generator().manual_seed(1), hashes)
        assert triplets.shape == (300 * 2, 3)
        positives = training.positives[triplets[:, 0]]
        assert (positives == triplets[:, 1:2]).any(dim=1).all()
        assert not (positives == triplets[:, 2:3]).any(dim=1).any()


def test_each_pass_trains_its_own_networks_only(wiki_train):
    torch.manual_seed(0)
    training = UgachTraining(Ugach(**SMALL), wiki_train, 8, seed=0, device="cpu")
    snapshot = {name: [p.detach().clone() for p in net.parameters()] for name, net in training.networks.items()}

    def changed():
        moved = set()
        for name, network in training.networks.items():
            pairs = zip(snapshot[name], network.parameters(), strict=True)
            if any(not torch.equal(before, now) for before, now in pairs):
                moved.add(name)
        return moved

    training.generator_pass(torch.Generator().manual_seed(0))
    assert changed() == {"generator_image", "generator_text"}  # the reward reaches G as a constant, D stays
    hashes = training.generator_hashes()
    triplets = {d: training.draw_triplets(d, torch.Generator().manual_seed(0), hashes) for d in ("i2t", "t2i")}
    training.discriminator_pass(triplets, torch.Generator().manual_seed(0))
    assert changed() == set(training.networks)


def test_an_unsupervised_fit_needs_no_labels_and_encodes_one_modality_deterministically(wiki_train):
    assert Ugach.supervised is False and wiki_train.labels is None
    assert_seeded_and_encodes_from_one_modality(lambda: Ugach(**SMALL), wiki_train, "image")
    phases = [entry["phase"] for entry in Ugach(**SMALL).fit(wiki_train, 8, seed=0).fit_info()["losses"]]
    assert phases == [0.0, 1.0, 1.0]  # one pre-training epoch of the discriminator, then two adversarial


def test_an_interrupted_fit_resumes_and_ends_like_an_uninterrupted_one(wiki_train, tmp_path, monkeypatch):
    assert_resumes_like_uninterrupted(lambda: Ugach(**SMALL), wiki_train, 8, tmp_path / "run.pt", monkeypatch,
                                      UgachTraining, "generator_pass", fail_on_call=3, epoch=2)  # fmt: skip


@pytest.mark.parametrize(("params", "message"), [({"val_fraction": 0.1}, "unsupervised"), ({"select": 0}, "select=0")])
def test_bad_parameters_are_usage_errors(wiki_train, params, message):
    with pytest.raises(UsageError, match=message):
        Ugach(**SMALL, **params).fit(wiki_train, 8, seed=0)

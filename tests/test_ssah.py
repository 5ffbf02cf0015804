"""SSAH: its losses against direct formulas, the adversarial gradient's path, multi-scale fusion, training habits."""

import math

import numpy as np
import pytest
import torch
from deep_habits import assert_resumes_like_uninterrupted, assert_seeded_and_encodes_from_one_modality

from hashbench import registry
from hashbench.data import TrainView
from hashbench.errors import UsageError
from hashbench.methods.ssah import (
    MultiScaleFusion,
    Outputs,
    PairBlock,
    Ssah,
    SsahTraining,
    discriminator_loss,
    fool_loss,
    mean_pairwise_nll,
    semantic_loss_terms,
)

SMALL = {"epochs": 2, "label_hidden": 64, "text_hidden": 64, "semantic_width": 32}


def softplus(x):
    return math.log1p(math.exp(-abs(x))) + max(x, 0.0)


def slow_terms(feature, hashed, predicted, anchor_features, anchor_hashes, similarity, codes, labels):
    """SSAH's four supervised terms written out with loops (float64), each a mean over its elements."""
    n, batch = similarity.shape
    feature_pairs = hash_pairs = 0.0
    for i in range(n):
        for j in range(batch):
            theta_f = 0.5 * anchor_features[i] @ feature[j]
            theta_h = 0.5 * anchor_hashes[i] @ hashed[j]
            feature_pairs += softplus(theta_f) - similarity[i, j] * theta_f
            hash_pairs += softplus(theta_h) - similarity[i, j] * theta_h
    return {
        "feature_pairs": feature_pairs / (n * batch),
        "hash_pairs": hash_pairs / (n * batch),
        "quantisation": ((codes - hashed) ** 2).sum() / codes.size,
        "labels": ((labels - predicted) ** 2).sum() / labels.size,
    }


def test_semantic_terms_match_the_direct_formulas():
    rng = np.random.default_rng(0)
    n, batch, width, bits, classes = 6, 3, 5, 4, 3
    arrays = {
        "feature": rng.random((batch, width)) * 3,
        "hashed": np.tanh(rng.standard_normal((batch, bits))),
        "predicted": rng.random((batch, classes)),
        "anchor_features": rng.random((n, width)) * 3,
        "anchor_hashes": np.tanh(rng.standard_normal((n, bits))),
        "similarity": (rng.random((n, batch)) < 0.4).astype(float),
        "codes": np.sign(rng.standard_normal((batch, bits))),
        "labels": (rng.random((batch, classes)) < 0.5).astype(float),
    }
    t = {k: torch.tensor(v) for k, v in arrays.items()}
    output = Outputs(t["feature"], t["hashed"], t["predicted"])
    pairs = PairBlock(t["anchor_features"], t["anchor_hashes"], t["similarity"])
    terms = semantic_loss_terms(output, pairs, t["codes"], t["labels"])
    want = slow_terms(**arrays)
    assert {k: float(v) for k, v in terms.items()} == pytest.approx(want, rel=1e-12)


def test_weights_fold_copies_of_rows_and_columns_into_the_same_mean():
    rng = np.random.default_rng(1)
    theta, similarity = torch.tensor(rng.standard_normal((3, 2))), torch.tensor(rng.random((3, 2)) < 0.5).double()
    rows, columns = torch.tensor([0, 0, 1, 2, 2, 2]), torch.tensor([1, 0, 1, 1])
    unfolded = mean_pairwise_nll(theta[rows][:, columns], similarity[rows][:, columns])
    weights = torch.tensor([2.0, 1.0, 3.0])[:, None] * torch.tensor([1.0, 3.0])[None, :]
    assert float(mean_pairwise_nll(theta, similarity, weights)) == pytest.approx(float(unfolded), rel=1e-12)
    logits, label_logits = torch.tensor(rng.standard_normal((4, 1))), torch.tensor(rng.standard_normal((2, 1)))
    copies = torch.tensor([[3.0], [1.0]])
    unfolded = discriminator_loss(logits, label_logits[torch.tensor([0, 0, 0, 1])])
    assert float(discriminator_loss(logits, label_logits, copies)) == pytest.approx(float(unfolded), rel=1e-12)


def test_folding_label_sets_gives_the_losses_and_gradients_of_every_pair(wiki_train):
    """Wikipedia's items have ten label sets: the training folds them, and must match the sums over all pairs."""
    torch.manual_seed(0)
    training = SsahTraining(Ssah(**SMALL), wiki_train, 8, seed=0, device="cpu")
    training.network_pass("label", torch.Generator().manual_seed(0))
    training.refresh_label_caches()
    batch = torch.arange(40, 104)
    for name in ("label", "image", "text"):
        network = training.networks[name]
        output = training.batch_outputs(name, batch)
        direct = network(training.labels[batch] if name == "label" else training.sources[name](batch))
        torch.testing.assert_close(output.hashed, direct.hashed)
        folded = training.batch_terms(name, batch, output)
        anchor = training.caches
        everything = PairBlock(anchor["label_feature"], anchor["label_hash"], training.similarity(batch))
        unfolded = semantic_loss_terms(direct, everything, anchor["codes"][batch], training.labels[batch],
                                       training.hash_scale)  # fmt: skip
        for term, value in unfolded.items():
            assert float(folded[term].detach()) == pytest.approx(float(value.detach()), rel=1e-5), (name, term)
        parameters = [p for p in network.parameters() if p.requires_grad]
        want = torch.autograd.grad(unfolded["feature_pairs"] + unfolded["hash_pairs"], parameters, allow_unused=True)
        got = torch.autograd.grad(folded["feature_pairs"] + folded["hash_pairs"], parameters, allow_unused=True)
        for a, b in zip(got, want, strict=True):
            assert (a is None) == (b is None)
            if a is not None:
                torch.testing.assert_close(a, b, rtol=1e-4, atol=1e-7)


def test_adversarial_losses_are_the_binary_cross_entropies():
    modality, label = torch.tensor([[0.3], [-2.0]]), torch.tensor([[1.5], [0.1]])
    sigmoid = torch.sigmoid
    want_fool = -torch.log(sigmoid(modality)).mean()
    want_d = (-torch.log(1 - sigmoid(modality)).mean() - torch.log(sigmoid(label)).mean()) / 2
    assert float(fool_loss(modality)) == pytest.approx(float(want_fool), rel=1e-6)
    assert float(discriminator_loss(modality, label)) == pytest.approx(float(want_d), rel=1e-6)


def test_multi_scale_fusion_keeps_the_raw_vector_and_clamps_long_windows():
    fusion = MultiScaleFusion(10)
    assert fusion.windows == (10, 10, 10, 10, 5) and fusion.output_width() == 60
    text = torch.arange(20, dtype=torch.float32).reshape(2, 10)
    fused = fusion(text).reshape(2, 6, 10)
    torch.testing.assert_close(fused[:, 0], text)
    with torch.no_grad():
        scale, shift = fusion.scales[0].weight.item(), fusion.scales[0].bias.item()
        expected = torch.relu(scale * text.mean(dim=1) + shift)  # a window over the whole vector: its mean
    torch.testing.assert_close(fused[:, 1], expected[:, None].expand(2, 10))


@pytest.fixture(scope="module")
def wiki_train():
    view = registry.datasets.get("wiki")().train_view(with_labels=True)
    rows = np.arange(300)
    return TrainView(view.image[rows], view.text[rows], view.labels[rows])


def test_the_adversarial_gradient_reaches_the_modality_network_and_leaves_the_discriminator(wiki_train):
    torch.manual_seed(0)
    training = SsahTraining(Ssah(**SMALL), wiki_train, 8, seed=0, device="cpu")
    batch = torch.arange(16)
    output = training.networks["image"](training.sources["image"](batch))
    training.batch_terms("image", batch, output)["adversarial"].backward()
    image_gradients = [p.grad for p in training.networks["image"].semantic.parameters()]
    assert all(g is not None and g.abs().sum() > 0 for g in image_gradients)  # zero if the features were detached
    assert all(p.grad is None for p in training.networks["discriminator_image"].parameters())
    judge = training.networks["discriminator_image"]
    before = [p.detach().clone() for p in judge.parameters()]
    training.network_pass("image", torch.Generator().manual_seed(0))
    assert all(torch.equal(a, b) for a, b in zip(before, judge.parameters(), strict=True))


def test_same_seed_same_codes_and_encoding_needs_one_modality(wiki_train):
    assert_seeded_and_encodes_from_one_modality(lambda: Ssah(**SMALL), wiki_train, "image")


def test_an_interrupted_fit_resumes_and_ends_like_an_uninterrupted_one(wiki_train, tmp_path, monkeypatch):
    assert_resumes_like_uninterrupted(lambda: Ssah(**{**SMALL, "epochs": 3}), wiki_train, 8, tmp_path / "run.pt",
                                      monkeypatch, SsahTraining, "update_codes", fail_on_call=2, epoch=1)  # fmt: skip


def test_an_unknown_schedule_is_a_usage_error(wiki_train):
    with pytest.raises(UsageError, match="lr_schedule='steep'"):
        Ssah(**SMALL, lr_schedule="steep").fit(wiki_train, 8, seed=0)

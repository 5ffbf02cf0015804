"""UDSPH: the cross-modal attention against a direct formula, padding, gradient paths, switches, training habits."""

import math

import numpy as np
import pytest
import torch
from deep_habits import assert_resumes_like_uninterrupted, assert_seeded_and_encodes_from_one_modality

from hashbench import registry
from hashbench.data import TrainView
from hashbench.errors import UsageError
from hashbench.methods.udsph import (
    Udsph,
    UdsphTraining,
    attention_weights,
    local_similarity,
    present_words,
)

SMALL = {"epochs": 2, "label_hidden": 64, "text_hidden": 64, "semantic_width": 32, "attention_width": 16}


def cosine(a, b):
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def softmax(values):
    exp = np.exp(np.asarray(values) - max(values))
    return exp / exp.sum()


def slow_local_similarity(words, regions, smoothing):
    """R(I, T) written out per pair with explicit attended vectors (float64); words are lists of present words."""
    result = np.zeros((len(regions), len(words)))
    for a, image in enumerate(regions):
        for b, text in enumerate(words):
            if not text:
                continue
            text_to_image = []
            for word in text:
                weights = softmax([smoothing * cosine(word, region) for region in image])
                text_to_image.append(cosine(word, sum(w * r for w, r in zip(weights, image, strict=True))))
            image_to_text = []
            for region in image:
                weights = softmax([smoothing * cosine(word, region) for word in text])
                image_to_text.append(cosine(region, sum(w * v for w, v in zip(weights, text, strict=True))))
            result[a, b] = (np.mean(text_to_image) + np.mean(image_to_text)) / 2
    return result


@pytest.fixture()
def tiny():
    """Three texts of 3, 1 and 0 present words (padded to 3) and two images of 4 regions, d = 5."""
    rng = np.random.default_rng(0)
    texts = [[rng.standard_normal(5) for _ in range(count)] for count in (3, 1, 0)]
    padded = np.zeros((3, 3, 5))
    for t, text in enumerate(texts):
        for k, word in enumerate(text):
            padded[t, k] = word
    return texts, padded, rng.standard_normal((2, 4, 5))


def test_local_similarity_matches_the_direct_formula(tiny):
    texts, padded, regions = tiny
    got = local_similarity(torch.tensor(padded), torch.tensor(regions), 9.0).numpy()
    np.testing.assert_allclose(got, slow_local_similarity(texts, regions, 9.0), rtol=1e-10, atol=1e-12)
    assert np.all(got[:, 2] == 0)  # a text without words


def test_attention_weights_sum_to_one_over_present_words_and_ignore_padding(tiny):
    _, padded, regions = tiny
    present = torch.tensor([[True, True, False], [True, False, False], [False, False, False]])
    cosines = torch.randn(2, 3, 3, 4, dtype=torch.float64)
    weights = attention_weights(cosines, present[None, :, :, None], 9.0, dim=2)  # regions attend over words
    torch.testing.assert_close(weights.sum(dim=2)[:, :2], torch.ones(2, 2, 4, dtype=torch.float64))
    assert torch.all(weights[:, 0, 2] == 0) and torch.all(weights[:, 1, 1:] == 0) and torch.all(weights[:, 2] == 0)
    more_padding = np.concatenate([padded, np.zeros((3, 2, 5))], axis=1)  # two more absent words per text
    torch.testing.assert_close(local_similarity(torch.tensor(more_padding), torch.tensor(regions), 9.0),
                               local_similarity(torch.tensor(padded), torch.tensor(regions), 9.0))  # fmt: skip


def test_present_words_keeps_the_largest_positive_values_with_ties_to_the_lower_index():
    text = np.array([[0.0, 0.5, 0.2, 0.5], [0.0, 0.0, 0.0, 0.3], [0.0, 0.0, 0.0, 0.0]], np.float32)
    index, values = present_words(text, max_words=2)
    np.testing.assert_array_equal(index.numpy()[0], [1, 3])
    np.testing.assert_allclose(values.numpy(), [[0.5, 0.5], [0.3, 0.0], [0.0, 0.0]])
    assert present_words(text, max_words=10)[0].shape == (3, 3)  # as wide as the wordiest text


@pytest.fixture(scope="module")
def wiki_train():
    view = registry.datasets.get("wiki")().train_view(with_labels=True)
    rows = np.arange(300)
    return TrainView(view.image[rows], view.text[rows], view.labels[rows])


@pytest.mark.parametrize("trained", ["image", "text"])
def test_the_attention_gradient_reaches_only_the_network_being_trained(wiki_train, trained):
    torch.manual_seed(0)
    training = UdsphTraining(Udsph(**SMALL), wiki_train, 8, seed=0, device="cpu")
    batch = torch.arange(16)
    output = training.networks[trained](training.sources[trained](batch))
    training.attention_term(trained, batch, output).backward()
    shared = {
        "image": training.networks["image"].semantic[0].weight,  # ImageNet's semantic layer
        "text": training.networks["text"].trunk[1].weight,  # TextNet's first layer: the word embeddings
    }
    assert shared[trained].grad is not None and shared[trained].grad.abs().sum() > 0
    other = "text" if trained == "image" else "image"
    assert all(p.grad is None for p in training.networks[other].parameters())


@pytest.mark.parametrize(
    ("switch", "absent", "anchor"),
    [("attention", {"image_attention", "text_attention"}, "label"),
     ("adversarial", {"image_adversarial", "text_adversarial", "loss_discriminators"}, "label"),
     ("label_net", {"loss_label", "label_feature_pairs", "label_hash_pairs", "label_quantisation", "label_labels"},
      "text")],
)  # fmt: skip
def test_each_switch_removes_its_part(wiki_train, switch, absent, anchor):
    params = {**SMALL, "epochs": 1, switch: False}
    torch.manual_seed(0)
    training = UdsphTraining(Udsph(**params), wiki_train, 8, seed=0, device="cpu")
    assert training.anchor("image") == anchor
    losses = training.run_epoch(0)
    full = UdsphTraining(Udsph(**{**SMALL, "epochs": 1}), wiki_train, 8, seed=0, device="cpu").run_epoch(0)
    assert set(full) - set(losses) == absent and set(losses) < set(full)
    assert all(math.isfinite(value) for value in losses.values())


def test_same_seed_same_codes_and_encoding_needs_one_modality(wiki_train):
    assert_seeded_and_encodes_from_one_modality(lambda: Udsph(**SMALL), wiki_train, "text")


def test_an_interrupted_fit_resumes_and_ends_like_an_uninterrupted_one(wiki_train, tmp_path, monkeypatch):
    assert_resumes_like_uninterrupted(lambda: Udsph(**{**SMALL, "epochs": 3}), wiki_train, 8, tmp_path / "run.pt",
                                      monkeypatch, UdsphTraining, "update_codes", fail_on_call=2, epoch=1)  # fmt: skip


@pytest.mark.parametrize(("param", "value"), [("tau", -1.0), ("slots", 0), ("max_words", 0)])
def test_bad_attention_parameters_are_usage_errors(wiki_train, param, value):
    with pytest.raises(UsageError, match=f"{param}="):
        Udsph(**SMALL, **{param: value}).fit(wiki_train, 8, seed=0)

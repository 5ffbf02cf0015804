"""DCMH and the deep plumbing: the loss against the paper's formula, training, determinism, resume, backbone mode
and raw-image datasets."""

import math
import sys

import numpy as np
import pytest
import torch
from deep_habits import assert_resumes_like_uninterrupted
from PIL import Image

from hashbench import registry
from hashbench.data import TrainView
from hashbench.errors import UsageError
from hashbench.harness.runner import RunConfig, execute, make_method
from hashbench.ingest.single_file import load_feature_file
from hashbench.methods import _deep, dcmh
from hashbench.methods._deep import lean_pairwise_nll, pairwise_nll
from hashbench.methods.dcmh import Dcmh, batch_loss, objective


def slow_loss_and_gradient(output, other, similarity, codes, others_sum, gamma, eta):
    """The batch's J and dJ/d output written out term by term (float64, loops), divided by n x batch."""
    n, batch = similarity.shape
    loss, gradient = 0.0, np.zeros_like(output)
    for i in range(n):
        for j in range(batch):
            theta = 0.5 * other[i] @ output[j]
            loss += math.log1p(math.exp(theta)) - similarity[i, j] * theta
            gradient[j] += 0.5 * (1 / (1 + math.exp(-theta)) - similarity[i, j]) * other[i]
    total = others_sum + output.sum(axis=0)
    loss += gamma * ((codes - output) ** 2).sum() + eta * (total**2).sum()
    gradient += 2 * gamma * (output - codes) + 2 * eta * total
    return loss / (n * batch), gradient / (n * batch)


def test_batch_loss_and_its_gradient_match_the_papers_formula():
    rng = np.random.default_rng(0)
    n, batch, bits = 7, 3, 5
    other, output = rng.standard_normal((n, bits)), rng.standard_normal((batch, bits))
    similarity = (rng.random((n, batch)) < 0.4).astype(float)
    codes, others_sum = np.sign(rng.standard_normal((batch, bits))), rng.standard_normal(bits)
    want_loss, want_gradient = slow_loss_and_gradient(output, other, similarity, codes, others_sum, 0.7, 1.3)
    tensor = torch.tensor(output, requires_grad=True)
    loss = batch_loss(tensor, *(torch.tensor(a) for a in (other, similarity, codes, others_sum)), 0.7, 1.3)
    loss.backward()
    assert float(loss.detach()) == pytest.approx(want_loss, rel=1e-12)
    np.testing.assert_allclose(tensor.grad.numpy(), want_gradient, rtol=1e-10, atol=1e-14)


def test_the_lean_likelihood_has_the_value_and_gradient_of_the_autograd_one():
    rng = np.random.default_rng(2)
    theta = torch.tensor(rng.standard_normal((6, 4)) * 5, requires_grad=True)
    similarity = torch.tensor(rng.random((6, 4)) < 0.5).double()
    assert torch.autograd.gradcheck(lambda t: lean_pairwise_nll(t, similarity), (theta,))
    torch.testing.assert_close(lean_pairwise_nll(theta, similarity), pairwise_nll(theta, similarity))


def test_loss_stays_finite_for_large_inner_products():
    output = torch.full((1, 4), 400.0, dtype=torch.float64, requires_grad=True)
    loss = batch_loss(output, torch.full((2, 4), 400.0, dtype=torch.float64), torch.tensor([[1.0], [0.0]]),
                      torch.ones(1, 4), torch.zeros(4), 1.0, 1.0)  # fmt: skip
    loss.backward()
    assert math.isfinite(float(loss.detach())) and torch.isfinite(output.grad).all()


def test_objective_is_the_sum_of_its_terms():
    rng = np.random.default_rng(1)
    image, text = (torch.tensor(rng.standard_normal((5, 3))) for _ in range(2))
    labels = torch.tensor(rng.random((5, 2)) < 0.5, dtype=torch.float64)
    codes = torch.sign(image + text)
    similarity = (labels @ labels.T > 0).double()
    theta = 0.5 * image @ text.T
    want = -(similarity * theta - torch.log1p(torch.exp(theta))).sum()
    want += 2 * (((codes - image) ** 2).sum() + ((codes - text) ** 2).sum())
    want += 3 * ((image.sum(0) ** 2).sum() + (text.sum(0) ** 2).sum())
    assert objective(image, text, labels, codes, gamma=2.0, eta=3.0) == pytest.approx(float(want), rel=1e-12)
    assert objective(image, text, labels, codes, 2.0, 3.0, rows=torch.arange(5)) == pytest.approx(float(want))


def test_objective_on_a_sample_of_rows_scales_their_likelihood_to_the_whole_set():
    rng = np.random.default_rng(2)
    image, text = (torch.tensor(rng.standard_normal((6, 3))) for _ in range(2))
    labels = torch.tensor(rng.random((6, 2)) < 0.5, dtype=torch.float64)
    codes = torch.sign(image + text)
    rows = torch.tensor([1, 4])
    theta = 0.5 * image[rows] @ text.T
    similarity = (labels[rows] @ labels.T > 0).double()
    want = 3 * (torch.nn.functional.softplus(theta) - similarity * theta).sum()  # 2 of 6 rows, scaled by 6 / 2
    want += ((codes - image) ** 2).sum() + ((codes - text) ** 2).sum()
    want += (image.sum(0) ** 2).sum() + (text.sum(0) ** 2).sum()
    assert objective(image, text, labels, codes, 1.0, 1.0, rows=rows) == pytest.approx(float(want), rel=1e-12)
    assert dcmh.objective_rows(dcmh.OBJECTIVE_ROWS, seed=0) is None
    sample = dcmh.objective_rows(dcmh.OBJECTIVE_ROWS + 10, seed=0)
    assert len(sample) == dcmh.OBJECTIVE_ROWS == len(set(sample.tolist()))
    assert torch.equal(sample, dcmh.objective_rows(dcmh.OBJECTIVE_ROWS + 10, seed=0))


@pytest.fixture(scope="module")
def wiki_train():
    wiki = registry.datasets.get("wiki")()
    view = wiki.train_view(with_labels=True)
    rows = np.arange(400)
    return TrainView(view.image[rows], view.text[rows], view.labels[rows])


SMALL = {"epochs": 4, "text_hidden": 256}


def test_training_lowers_the_objective(wiki_train):
    method = Dcmh(**SMALL).fit(wiki_train, 16, seed=0)
    objectives = [entry["objective_per_pair"] for entry in method.fit_info()["losses"]]
    assert len(objectives) == 4 and objectives[-1] < objectives[0]


def test_the_same_seed_gives_the_same_codes_and_another_seed_does_not(wiki_train):
    codes = [Dcmh(**SMALL).fit(wiki_train, 16, seed=seed).encode("text", wiki_train.text) for seed in (3, 3, 4)]
    np.testing.assert_array_equal(codes[0], codes[1])
    assert (codes[0] != codes[2]).any()


def test_codes_do_not_depend_on_the_encoding_batch_size(wiki_train, monkeypatch):
    method = Dcmh(**SMALL).fit(wiki_train, 16, seed=0)
    whole = {m: method.encode(m, wiki_train.features(m)) for m in ("image", "text")}
    monkeypatch.setattr(_deep, "ENCODE_BATCH", 7)
    for modality, codes in whole.items():
        np.testing.assert_array_equal(method.encode(modality, wiki_train.features(modality)), codes)


def test_an_interrupted_fit_resumes_from_its_last_epoch_and_ends_where_an_uninterrupted_one_does(
    wiki_train, tmp_path, monkeypatch
):
    assert_resumes_like_uninterrupted(lambda: Dcmh(**SMALL), wiki_train, 16, tmp_path / "run.pt", monkeypatch,
                                      dcmh, "objective_terms", fail_on_call=3, epoch=2)  # fmt: skip


def test_a_checkpoint_of_another_configuration_is_not_resumed(wiki_train, tmp_path):
    first = Dcmh(**SMALL)
    first.checkpoint_path = tmp_path / "run.pt"
    first.fit(wiki_train, 16, seed=0)
    other = Dcmh(**SMALL)
    other.checkpoint_path = tmp_path / "run.pt"
    other.fit(wiki_train, 16, seed=1)
    assert other.fit_info()["resumed_from_epoch"] == 0


def test_a_validation_split_from_the_training_set_picks_the_epoch(wiki_train):
    info = Dcmh(**SMALL, val_fraction=0.25).fit(wiki_train, 16, seed=0).fit_info()
    scores = [entry["val_map"] for entry in info["losses"]]
    assert info["selection"].startswith("best validation mAP")
    assert info["selected_epoch"] == 1 + int(np.argmax(scores))


def test_bad_shared_parameters_are_usage_errors(wiki_train):
    for params, message in [({"val_fraction": 1.0}, "val_fraction=1.0"), ({"backbone": "lenet"}, "backbone='lenet'"),
                            ({"epochs": 0}, "expected positive integers"), ({"optimizer": "rmsprop"}, "'rmsprop'"),
                            ({"lr_decay": 0.5}, "lr_decay=0.5")]:  # fmt: skip
        with pytest.raises(UsageError, match=message):
            Dcmh(**params).fit(wiki_train, 16, seed=0)
    with pytest.raises(UsageError, match="'rmsprop'"):
        Dcmh(optimizer="rmsprop")  # refused when the method is made, not hours into a grid


@pytest.mark.parametrize(
    ("method", "params", "message"),
    [("dcmh", {"lr_image": -1.0}, "lr_image=-1.0: expected a positive learning rate"),
     ("dcmh", {"lr_decay": 0.5}, "lr_decay=0.5: expected a factor >= 1"),
     ("ssah", {"lr_discriminator": 0.0}, "lr_discriminator=0.0: expected a positive learning rate"),
     ("ugach", {"lr_generator": -1e-4}, "lr_generator=-0.0001: expected a positive learning rate")],
)  # fmt: skip
def test_learning_rates_are_checked_when_a_deep_method_is_made(method, params, message):
    with pytest.raises(UsageError, match=message):
        registry.methods.get(method)(**params)


def test_the_papers_preset_runs_sgd_at_its_rates_with_the_linear_image_head(wiki_train):
    paper = {**Dcmh.presets["paper"], "epochs": 2, "text_hidden": 64}
    method = Dcmh(**paper).fit(wiki_train, 16, seed=0)
    assert (method.params.optimizer, method.params.lr_image, method.params.lr_text) == ("sgd", 10**-1.5, 10**-1.5)
    assert [type(layer).__name__ for layer in method.networks_["image"]] == ["ImageInput", "Linear"]
    assert all(math.isfinite(entry["objective_per_pair"]) for entry in method.fit_info()["losses"])


class TinyBackbone(torch.nn.Module):
    """A small CNN in place of a torchvision backbone: the mechanics of backbone mode without torchvision."""

    def __init__(self):
        super().__init__()
        self.features = torch.nn.Sequential(torch.nn.Conv2d(3, 4, 3), torch.nn.ReLU(), torch.nn.AdaptiveAvgPool2d(2))

    def forward(self, images):
        return self.features(images).flatten(1)


def test_backbone_mode_fine_tunes_the_backbone_on_image_files(tmp_path, monkeypatch):
    monkeypatch.setitem(_deep.BACKBONES, "tiny", lambda pretrained: (TinyBackbone(), 16))
    rng = np.random.default_rng(0)
    paths = []
    for i in range(6):  # real PNG files of different sizes; the loader resizes them
        path = tmp_path / f"{i}.png"
        Image.fromarray(rng.integers(0, 256, (20 + i, 24, 3), dtype=np.uint8)).save(path)
        paths.append(str(path))
    labels = np.eye(6, 3, dtype=bool) | np.eye(6, 3, k=-3, dtype=bool)
    train = TrainView(np.array(paths), rng.random((6, 12)).astype(np.float32), labels)
    params = {"backbone": "tiny", "image_size": 16, "epochs": 1, "batch_size": 3, "text_hidden": 32}
    method = Dcmh(**params).fit(train, 8, seed=0)
    torch.manual_seed(0)  # fit seeds torch, then builds the backbone before anything else draws
    initial = TinyBackbone().state_dict()
    trained = method.networks_["image"][0].backbone.state_dict()
    assert all(not torch.equal(initial[k], trained[k]) for k in initial)  # fine-tuned, not frozen
    codes = method.encode("image", np.array(paths))
    assert codes.shape == (6, 8) and set(np.unique(codes)) <= {0, 1}
    pixels = np.stack([np.asarray(Image.open(p).convert("RGB").resize((16, 16))).transpose(2, 0, 1) for p in paths])
    np.testing.assert_array_equal(method.encode("image", pixels), codes)  # an array of images codes alike
    assert method.fit_info()["input_mode"] == "backbone tiny"


def write_png_dataset(folder, rng, n_train=6, n_query=3):
    """A feature file in the real layout whose I_ arrays are PNG paths relative to it (files of varying sizes)."""
    names = []
    for i in range(n_train + n_query):
        name = f"img{i}.png"
        Image.fromarray(rng.integers(0, 256, (18 + i, 20, 3), dtype=np.uint8)).save(folder / name)
        names.append(name)
    labels = np.eye(n_train + n_query, 3, dtype=np.uint8) | np.eye(n_train + n_query, 3, k=-3, dtype=np.uint8)
    text = rng.random((n_train + n_query, 12)).astype(np.float32)
    path = folder / "raw.npz"
    np.savez(path, I_tr=np.array(names[:n_train]), T_tr=text[:n_train], L_tr=labels[:n_train],
             I_te=np.array(names[n_train:]), T_te=text[n_train:], L_te=labels[n_train:])  # fmt: skip
    return path


def test_a_feature_file_of_image_paths_runs_backbone_mode_through_the_harness(tmp_path, monkeypatch):
    monkeypatch.setitem(_deep.BACKBONES, "tiny", lambda pretrained: (TinyBackbone(), 16))
    dataset = load_feature_file(write_png_dataset(tmp_path, np.random.default_rng(1)))
    assert dataset.summary()["raw_images"] and dataset.summary()["image_dim"] is None
    params = {"backbone": "tiny", "image_size": 16, "epochs": 1, "batch_size": 3, "text_hidden": 32}
    config = RunConfig("dcmh", dataset.card.name, 8, 0, params)
    record = execute(config, dataset, make_method(config)).record
    assert record.fit_info["input_mode"] == "backbone tiny" and record.dataset_summary["raw_images"]
    assert 0 <= record.metrics["i2t"]["map"] <= 1


def test_image_input_that_the_method_does_not_take_is_a_usage_error(tmp_path):
    raw = load_feature_file(write_png_dataset(tmp_path, np.random.default_rng(2)))
    with pytest.raises(UsageError, match="holds raw images, but method 'cmfh' with these parameters takes image"):
        execute(RunConfig("cmfh", "raw", 8), raw, make_method(RunConfig("cmfh")))
    wiki = registry.datasets.get("wiki")()
    config = RunConfig("dcmh", "wiki", 8, 0, {"backbone": "vgg16"})
    with pytest.raises(UsageError, match="takes raw images, but dataset 'wiki' holds image features"):
        execute(config, wiki, make_method(config))


def test_a_missing_image_file_is_named_in_the_error(tmp_path):
    path = write_png_dataset(tmp_path, np.random.default_rng(3))
    (tmp_path / "img4.png").unlink()
    with pytest.raises(UsageError, match=r"image paths: .*img4\.png: no such file"):
        load_feature_file(path)


def test_a_torchvision_backbone_that_cannot_be_imported_is_a_usage_error(monkeypatch):
    monkeypatch.setitem(sys.modules, "torchvision", None)  # import torchvision raises ImportError
    with pytest.raises(UsageError, match="backbone='vgg16': torchvision cannot be imported"):
        _deep.BACKBONES["vgg16"](False)

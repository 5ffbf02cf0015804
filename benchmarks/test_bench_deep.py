"""Speed of DCMH's training loop, against the bare cost of its two networks measured in the same run.

Run with ``tox -e bench -- -k test_epoch``. Each group times
two epochs of 16-bit DCMH (``dcmh``, the whole ``fit``: inputs, cached outputs,
similarity blocks, losses, B-update, per-epoch objective) and the same number
of mini-batch steps of the image and text networks alone with the same
optimisers (``networks``: forward, a stand-in loss, backward, step), so the
ratio is what DCMH's loop adds to the cost that no implementation can avoid.

* ``epoch-wiki``: the bundled Wikipedia training set (2,173 x 128 image, 10-d text);
* ``epoch-mirflickr-size``: generated features at MIRFlickr-25K's size (20,015
  x 4,096 image features, 1,386-d binary tags at 1 % density, 24 labels at
  15 %), for the timing only.
"""

import numpy as np
import pytest
import torch
from torch import nn

from hashbench import registry
from hashbench.data import TrainView
from hashbench.methods._deep import batches, linear, make_optimizer
from hashbench.methods.dcmh import DEFAULT_RATES, Dcmh, DcmhParams

EPOCHS, BITS = 2, 16


def mirflickr_sized() -> TrainView:
    rng = np.random.default_rng(0)
    n = 20_015
    image = rng.random((n, 4_096), dtype=np.float32)
    text = (rng.random((n, 1_386)) < 0.01).astype(np.float32)
    return TrainView(image, text, rng.random((n, 24)) < 0.15)


@pytest.fixture(scope="module", params=["wiki", "mirflickr-size"])
def training_set(request):
    if request.param == "wiki":
        return request.param, registry.datasets.get("wiki")().train_view(with_labels=True)
    return request.param, mirflickr_sized()


def networks_only(view: TrainView) -> None:
    """The unavoidable part: EPOCHS passes of mini-batch steps through both networks with DCMH's optimisers."""
    p = DcmhParams()
    networks = {
        "image": linear(view.image.shape[1], BITS, p.init_std),
        "text": nn.Sequential(linear(view.text.shape[1], p.text_hidden, p.init_std), nn.ReLU(),
                              linear(p.text_hidden, BITS, p.init_std)),
    }  # fmt: skip
    rates = dict(zip(("image", "text"), DEFAULT_RATES[p.optimizer], strict=True))
    inputs = {m: torch.from_numpy(view.features(m)) for m in networks}
    optimizers = {m: make_optimizer(p.optimizer, networks[m].parameters(), rates[m], p.weight_decay) for m in networks}
    for epoch in range(EPOCHS):
        for modality, network in networks.items():
            for batch in batches(view.n, p.batch_size, torch.Generator().manual_seed(epoch)):
                loss = network(inputs[modality][batch]).square().mean()
                optimizers[modality].zero_grad()
                loss.backward()
                optimizers[modality].step()


@pytest.mark.parametrize("loop", ["dcmh", "networks"])
def test_epoch(benchmark, training_set, loop):
    name, view = training_set
    benchmark.group = f"epoch-{name}"
    rounds = 3 if name == "wiki" else 1
    if loop == "dcmh":
        benchmark.pedantic(lambda: Dcmh(epochs=EPOCHS).fit(view, BITS, seed=0), rounds=rounds, iterations=1)
    else:
        benchmark.pedantic(networks_only, args=(view,), rounds=rounds, iterations=1)

"""Speed of the deep methods' training, against the bare cost of DCMH's two networks measured in the same run.

Run with ``tox -e bench -- -k deep``.

``default-fit-wiki``: a whole default ``fit`` of each deep method on the bundled Wikipedia training set at 16
bits (the goal: under 30 s each on the 2-core machine), beside ``networks``, the bare mini-batch steps of DCMH's
two default networks over the same number of epochs, so that each row's ratio says what its method costs per
unit of unavoidable work.

``epoch-*`` groups time
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
from hashbench.methods._deep import batches, hash_head, make_optimizer
from hashbench.methods.dcmh import Dcmh, DcmhParams

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


def networks_only(view: TrainView, epochs: int = EPOCHS) -> None:
    """The unavoidable part: ``epochs`` passes of mini-batch steps through DCMH's default networks with its
    optimisers."""
    p = DcmhParams()
    networks = {
        "image": nn.Sequential(*hash_head(view.image.shape[1], p.image_hidden, BITS, p.init_std)),
        "text": nn.Sequential(*hash_head(view.text.shape[1], p.text_hidden, BITS, p.init_std)),
    }
    rates = {"image": p.lr_image, "text": p.lr_text}
    inputs = {m: torch.from_numpy(view.features(m)) for m in networks}
    optimizers = {m: make_optimizer(p.optimizer, networks[m].parameters(), rates[m], p.weight_decay) for m in networks}
    for epoch in range(epochs):
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


@pytest.mark.parametrize("method", ["dcmh", "ssah", "udsph", "ugach", "networks"])
def test_default_fit(benchmark, method):
    view = registry.datasets.get("wiki")().train_view(with_labels=True)
    benchmark.group = "default-fit-wiki"
    if method == "networks":
        benchmark.pedantic(networks_only, args=(view, DcmhParams().epochs), rounds=1, iterations=1)
    else:
        cls = registry.methods.get(method)
        train = view if cls.supervised else TrainView(view.image, view.text)
        benchmark.pedantic(lambda: cls().fit(train, BITS, seed=0), rounds=1, iterations=1)

"""CMNN: Cross-Media hashing with Neural Networks (Zhuang, Yu, Wang, Wu, Tang & Shao; ACM MM 2014).

Supervised. One network per modality maps an item to r tanh outputs, h(x) for images and g(t) for texts, whose
signs are its code. The paper restricts its objective in two ways: the codes of relevant cross-media items are
similar, and the codes predict the class labels. hashbench's objective, per mini-batch:

* **inter-modal**: over every image-text pair (i, j) of the batch, with s_ij = 1 when i and j share a label and
  0 otherwise, and d_ij = ||h_i - g_j||^2 / (4 r) (in [0, 1]),
  l_ij = s_ij d_ij + (1 - s_ij) max(0, margin - d_ij), mean over the pairs;
* **intra-modal**: the same loss over the image-image and the text-text pairs (i != j), weight ``intra``;
* **labels**: one linear classifier on the tanh outputs of both modalities, softmax cross-entropy
  (-sum_l y_l log p_l), weight ``label_weight``.

Adam on the sum; hash: sign(h(x)) and sign(g(t)).

No code released by the authors was found (the search tool found only the paper's listings), so these choices
were open and are hashbench's: the contrastive form of "similar" and "dissimilar" (the hinge on a margin used by
the siamese cross-modal hashing networks of the time, e.g. Masci et al.'s MMNN), with the distance scaled to
[0, 1] so that one margin serves every code length; relevance as sharing a label, so that multi-label data
fits; the intra-modal term (the issue's "intra- and inter-modal similarity"; its weight may be 0); the networks
(each modality -> ``hidden`` tanh units -> r tanh outputs) on the given feature vectors; and Adam. Defaults:
hashbench's tuning protocol's choice (``configs/tuned/cmnn.toml``, ``hashbench tune cmnn --trials 14``:
validation mAP 0.400 on a split of Wikipedia's *training* set, against 0.342 for the starting values lr 1e-3,
margin 0.5, intra 1, label_weight 1, 50 epochs), to three digits.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional

from hashbench.data import TrainView
from hashbench.method import Reference, check_params
from hashbench.methods._deep import (
    FAST,
    DeepMethod,
    DeepParams,
    ImageInput,
    TrainingState,
    batch_source,
    batches,
    epoch_generator,
    label_loss,
    layer_stack,
    optimise_epoch,
)
from hashbench.registry import register_method
from hashbench.space import FloatRange, IntRange, SearchSpace


@dataclass(frozen=True)
class CmnnParams(DeepParams):
    """CMNN parameters (the shared ones are documented on :class:`DeepParams`).

    hidden: width of each network's hidden layer.
    lr: Adam's learning rate.
    margin: the distance in [0, 1] beyond which a pair sharing no label costs nothing.
    intra: weight of the intra-modal terms beside the inter-modal one.
    label_weight: weight of the label classifier's loss.
    weight_decay: Adam's L2 weight decay.
    """

    # Defaults: configs/tuned/cmnn.toml (hashbench tune on Wikipedia's training set), to three digits.
    epochs: int = 100
    hidden: int = 512
    lr: float = 1.22e-3
    margin: float = 0.132
    intra: float = 2.93
    label_weight: float = 38.0
    weight_decay: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        check_params(self, ("hidden",), lambda value: value >= 1, "a positive integer")
        check_params(self, ("margin",), lambda value: 0 < value <= 1, "a number in (0, 1]")
        check_params(self, ("intra", "label_weight", "weight_decay"), lambda v: v >= 0, "a number of at least 0")


def contrastive_loss(
    first: torch.Tensor, second: torch.Tensor, relevant: torch.Tensor, margin: float, skip_diagonal: bool = False
) -> torch.Tensor:
    """Mean over the pairs (i, j) of s_ij d_ij + (1 - s_ij) max(0, margin - d_ij), d_ij = ||f_i - s_j||^2 / (4 r);
    ``skip_diagonal`` leaves out the pairs i = j (for the pairs within one modality)."""
    squared = (first**2).sum(1)[:, None] + (second**2).sum(1)[None, :] - 2.0 * first @ second.T
    distance = squared.clamp(min=0.0) / (4.0 * first.shape[1])
    losses = torch.where(relevant, distance, functional.relu(margin - distance))
    if skip_diagonal:
        off = ~torch.eye(len(first), dtype=torch.bool, device=first.device)
        return losses[off].mean() if off.any() else losses.sum() * 0.0
    return losses.mean()


@register_method("cmnn")
class Cmnn(DeepMethod):
    """CMNN: a tanh network per modality; contrastive inter- and intra-modal terms and a label classifier."""

    supervised = True
    reference = Reference(
        "Zhuang, Yu, Wang, Wu, Tang & Shao", "Cross-Media Hashing with Neural Networks", "ACM Multimedia", 2014
    )
    Params = CmnnParams
    search_space = SearchSpace(1, {
        "lr": FloatRange(1e-4, 1e-2, log=True),
        "margin": FloatRange(0.1, 1.0),
        "intra": FloatRange(0.01, 10.0, log=True),
        "label_weight": FloatRange(0.01, 100.0, log=True),
        "epochs": IntRange(20, 100, step=20),
    })  # fmt: skip

    def fit(self, train: TrainView, bits: int, *, seed: int, device: str = "cpu") -> Cmnn:
        p = self.params
        labels = self.training_labels(train)
        fit_rows, val_rows = self.prepare_fit(train, seed)
        image_input = ImageInput(p)
        networks = {
            "image": nn.Sequential(image_input, layer_stack([image_input.output_width(train.image), p.hidden, bits],
                                                            nn.Tanh)),
            "text": layer_stack([train.text.shape[1], p.hidden, bits], nn.Tanh),
            "labels": nn.Linear(bits, labels.shape[1]),
        }  # fmt: skip
        self.place_networks(networks, device)
        parameters = [w for network in self.networks_.values() for w in network.parameters()]
        optimizer = torch.optim.Adam(parameters, lr=p.lr, weight_decay=p.weight_decay, **FAST["adam"])
        state = TrainingState(self.networks_, {"adam": optimizer}, {})
        sources = {m: batch_source(self.inputs_[m], train.features(m)[fit_rows], device) for m in ("image", "text")}
        label_tensor = torch.from_numpy(labels[fit_rows].astype(np.float32)).to(device)

        def losses(_: int, batch: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
            terms = self.batch_losses({m: sources[m](batch) for m in ("image", "text")}, label_tensor[batch])
            return terms["loss_inter"] + p.intra * terms["loss_intra"] + p.label_weight * terms["loss_labels"], terms

        def run_epoch(epoch: int) -> dict[str, float]:
            return optimise_epoch(batches(len(fit_rows), p.batch_size, epoch_generator(seed, epoch)), optimizer, losses)

        self.run_training(state, run_epoch, train, bits, seed, (fit_rows, val_rows))
        return self

    def batch_losses(self, inputs: dict[str, torch.Tensor], labels: torch.Tensor) -> dict[str, torch.Tensor]:
        """The inter-modal, intra-modal (image and text summed) and label losses of one batch."""
        margin = self.params.margin
        image, text = self.networks_["image"](inputs["image"]), self.networks_["text"](inputs["text"])
        relevant = (labels @ labels.T) > 0
        return {
            "loss_inter": contrastive_loss(image, text, relevant, margin),
            "loss_intra": contrastive_loss(image, image, relevant, margin, skip_diagonal=True)
            + contrastive_loss(text, text, relevant, margin, skip_diagonal=True),
            "loss_labels": label_loss(self.networks_["labels"](image), labels)
            + label_loss(self.networks_["labels"](text), labels),
        }

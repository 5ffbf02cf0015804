"""ACMR: Adversarial Cross-Modal Retrieval (Wang, Yang, Xu, Hanjalic & Shen; ACM MM 2017), hashed.

Supervised. A feature projector per modality maps its input into a common space; a label classifier on that
space and a triplet term between the modalities shape it (the embedding loss), while a modality classifier
tries to tell image from text points and the projectors, through a gradient reversal layer, try to make it
fail. As in the released TensorFlow demo:

* projectors: image d -> 512 -> 100 -> c, text d_t -> c -> 100 -> c, tanh after every layer; the common
  space has c = the code length dimensions;
* label loss: softmax cross-entropy of one linear classifier on both modalities' points, -sum_k y_k log p_k
  (TF's ``softmax_cross_entropy_with_logits`` with the label row as given), mean over the batch;
* triplet loss over the batch, as released: max(0, margin + alpha P_v - N_v) + max(0, margin + alpha P_t -
  N_t), where P_v = 1/2 sum_i ||v_i - t_i||^2 (the paired text is the positive) and N_v = 1/2 sum_i ||v_i -
  t_neg(i)||^2 with neg(i) the batch item, sharing no label with i, whose image input is the most
  cosine-similar to i's (likewise for text anchors with image positives and negatives);
* embedding loss = ``label_weight`` (100) x label loss + triplet loss;
* modality classifier: c -> c/2 -> c/4 -> 2, linear layers, after a gradient reversal layer whose scale rises
  over training as 2 / (1 + e^(-10 p)) - 1 (p: the fraction of training done); softmax cross-entropy;
* Adam with beta_1 = 0.5 (torch's fused kernel: the same update in one pass per parameter).

Hash: the sign of the common representation (its tanh output), the usual way hashing papers turn ACMR into a
baseline; the common layer's width is the code length, so that is also a tanh hash layer, and the two
readings of the issue coincide.

Departures, each deliberate:

* **One step per batch for the whole min-max**: the embedding and modality losses are summed and one Adam
  step updates projectors, label classifier and modality classifier, the reversal layer giving the
  projectors the negated modality gradient (the demo's ``total_train_op``; its loop instead runs one optimiser
  for the embedding loss on the projectors and one for the modality loss on the modality classifier alone,
  which leaves the projectors without any adversarial gradient).
* **Multi-label data**: a negative is an item sharing *no* label with the anchor; an anchor with no negative
  in its batch is left out of both sums of its triplet term.
* **Inputs** z-scored per dimension (``standardize``), and the negatives chosen by cosine similarity of those
  inputs; the demo reads pre-extracted features as given.
* **Defaults chosen by hashbench's tuning protocol** (``configs/tuned/acmr.toml``, ``hashbench tune acmr
  --trials 10``: validation mAP 0.446 on a split of Wikipedia's *training* set, against 0.398 for the demo's
  values at 100 epochs): 80 epochs of 32 items (the demo runs 5,000), Adam at 4.04e-4 (the demo's 1e-4), label
  weight 50.6 (100), alpha 1.53 (5) and a reversal ceiling of 0.0593 (1); the margin stays the demo's 0.01.
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
class AcmrParams(DeepParams):
    """ACMR parameters (the shared ones are documented on :class:`DeepParams`).

    lr: Adam's learning rate (beta_1 = 0.5, as released).
    label_weight: weight of the label loss in the embedding loss (released: 100).
    alpha: weight of the positive distances in the triplet term (released: 5).
    margin: the triplet term's margin (released: 0.01).
    adversarial: scale of the reversed modality gradient at the end of training (the schedule's ceiling, 1 as
        released; 0 switches the adversary off).
    weight_decay: Adam's L2 weight decay (released: none).
    """

    # Defaults: configs/tuned/acmr.toml (hashbench tune on Wikipedia's training set), to three digits.
    epochs: int = 80
    batch_size: int = 32
    lr: float = 4.04e-4
    label_weight: float = 50.6
    alpha: float = 1.53
    margin: float = 0.01
    adversarial: float = 0.0593
    weight_decay: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        names = ("label_weight", "alpha", "margin", "adversarial", "weight_decay")
        check_params(self, names, lambda value: value >= 0, "a number of at least 0")


class ReverseGradient(torch.autograd.Function):
    """The identity forward; the gradient times -scale backward (Ganin & Lempitsky's gradient reversal)."""

    @staticmethod
    def forward(ctx, values: torch.Tensor, scale: float) -> torch.Tensor:
        ctx.scale = scale
        return values.view_as(values)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        return -ctx.scale * grad, None


def reversal_scale(progress: float, ceiling: float) -> float:
    """The reversal layer's scale at a fraction ``progress`` of training: ceiling x (2 / (1 + e^(-10 p)) - 1)."""
    return ceiling * (2.0 / (1.0 + np.exp(-10.0 * progress)) - 1.0)


def hardest_negatives(inputs: torch.Tensor, labels: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per anchor row, the row sharing no label with it whose input is the most cosine-similar, and whether the
    anchor has any such row."""
    unit = functional.normalize(inputs.flatten(1), dim=1)
    negative = (labels @ labels.T) == 0
    similarity = torch.where(negative, unit @ unit.T, torch.tensor(-np.inf, dtype=unit.dtype))
    return similarity.argmax(dim=1), negative.any(dim=1)


def triplet_loss(
    anchors: torch.Tensor, positives: torch.Tensor, negatives: torch.Tensor, alpha: float, margin: float
) -> torch.Tensor:
    """max(0, margin + alpha/2 sum ||a - p||^2 - 1/2 sum ||a - n||^2) over the batch (one hinge, as released)."""
    positive = 0.5 * ((anchors - positives) ** 2).sum()
    negative = 0.5 * ((anchors - negatives) ** 2).sum()
    return functional.relu(margin + alpha * positive - negative)


@register_method("acmr")
class Acmr(DeepMethod):
    """ACMR: label classifier, triplet term and a modality adversary on a common space; codes are its signs."""

    supervised = True
    reference = Reference(
        "Wang, Yang, Xu, Hanjalic & Shen", "Adversarial Cross-Modal Retrieval", "ACM Multimedia", 2017
    )
    Params = AcmrParams
    search_space = SearchSpace(1, {
        "lr": FloatRange(1e-5, 1e-2, log=True),
        "label_weight": FloatRange(1.0, 1000.0, log=True),
        "alpha": FloatRange(1.0, 10.0, log=True),
        "adversarial": FloatRange(0.01, 1.0, log=True),
        "epochs": IntRange(20, 100, step=20),
    })  # fmt: skip

    def fit(self, train: TrainView, bits: int, *, seed: int, device: str = "cpu") -> Acmr:
        p = self.params
        labels = self.training_labels(train)
        fit_rows, val_rows = self.prepare_fit(train, seed)
        image_input = ImageInput(p)
        image_width = image_input.output_width(train.image)
        networks = {
            "image": nn.Sequential(image_input, layer_stack([image_width, 512, 100, bits], nn.Tanh)),
            "text": layer_stack([train.text.shape[1], bits, 100, bits], nn.Tanh),
            "labels": nn.Linear(bits, labels.shape[1]),
            "modality": layer_stack([bits, max(bits // 2, 1), max(bits // 4, 1), 2]),
        }
        self.place_networks(networks, device)
        parameters = [w for network in self.networks_.values() for w in network.parameters()]
        optimizer = torch.optim.Adam(
            parameters, lr=p.lr, betas=(0.5, 0.999), weight_decay=p.weight_decay, **FAST["adam"]
        )
        state = TrainingState(self.networks_, {"adam": optimizer}, {})
        sources = {m: batch_source(self.inputs_[m], train.features(m)[fit_rows], device) for m in ("image", "text")}
        label_tensor = torch.from_numpy(labels[fit_rows].astype(np.float32)).to(device)
        steps = p.epochs * -(-len(fit_rows) // p.batch_size)

        def run_epoch(epoch: int) -> dict[str, float]:
            chunks = batches(len(fit_rows), p.batch_size, epoch_generator(seed, epoch))

            def losses(number: int, batch: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
                scale = reversal_scale((epoch * len(chunks) + number) / steps, p.adversarial)
                embedding, modality = self.batch_losses(
                    {m: sources[m](batch) for m in ("image", "text")}, label_tensor[batch], scale
                )
                return embedding + modality, {"loss_embedding": embedding, "loss_modality": modality}

            return optimise_epoch(chunks, optimizer, losses)

        self.run_training(state, run_epoch, train, bits, seed, (fit_rows, val_rows))
        return self

    def batch_losses(
        self, inputs: dict[str, torch.Tensor], labels: torch.Tensor, scale: float
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """The embedding loss and the modality classifier's loss of one batch (reversal layer at ``scale``)."""
        p = self.params
        points = {m: self.networks_[m](inputs[m]) for m in ("image", "text")}
        classified = label_loss(self.networks_["labels"](points["image"]), labels)
        classified = classified + label_loss(self.networks_["labels"](points["text"]), labels)
        triplets = torch.zeros((), dtype=points["image"].dtype, device=points["image"].device)
        for anchor, other in (("image", "text"), ("text", "image")):
            negatives, usable = hardest_negatives(inputs[anchor], labels)
            triplets = triplets + triplet_loss(points[anchor][usable], points[other][usable],
                                               points[other][negatives][usable], p.alpha, p.margin)  # fmt: skip
        embedding = p.label_weight * classified + triplets
        modality = torch.zeros_like(embedding)
        for index, m in enumerate(("image", "text")):
            logits = self.networks_["modality"](ReverseGradient.apply(points[m], scale))
            target = torch.full((len(logits),), index, dtype=torch.long, device=logits.device)
            modality = modality + functional.cross_entropy(logits, target)
        return embedding, modality

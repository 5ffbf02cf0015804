"""SSAH: Self-Supervised Adversarial Hashing (Li, Deng, Li, Liu, Gao & Tao, CVPR 2018).

Supervised. A label network learns a semantic feature and a hash code from
each item's multi-hot labels; it supervises the image and text networks, and
two discriminators align each modality's semantic features with the label
network's.

Networks (each ends in a 512-d ReLU semantic feature F with two heads: a hash
layer tanh(512 -> c) and a label layer sigmoid(512 -> n_labels)):

* **LabelNet**: labels -> 4096 (ReLU) -> 512;
* **ImageNet**: image features -> 512 in feature mode (the layers above the
  frozen CNN); a fine-tuned torchvision backbone -> 512 in backbone mode;
* **TextNet**: multi-scale fusion of the text vector (average pooling with
  windows 50, 30, 15, 10 and 5, stride = window; a scalar 1x1 convolution and
  ReLU per branch; each branch resized back to the text length by linear
  interpolation; concatenated with the raw vector: 6 channels) -> 4096 (ReLU)
  -> 512;
* **discriminators** D_I and D_T: 512 -> 512 -> 256 -> 1 (ReLU), telling a
  modality's features (label 0) from LabelNet's (label 1).

Loss of network * in {L, I, T} on a mini-batch, with S_ij = 1 iff items i, j
share a label, F_L and H_L LabelNet's features and hash outputs cached over
the training set, Theta = 1/2 F_L F_*^T on features and 1/2 H_L H_*^T on hash
outputs, NLL(Theta) = -(S Theta - log(1 + e^Theta)) (softplus, stays finite)::

    alpha NLL(features) + gamma NLL(hash) + beta ||B - H_*||^2 + eta ||L - L_hat_*||^2 + delta adversarial

where adversarial (I and T only) is the cross-entropy of D calling the
modality's features label features; its gradient reaches the modality network
through D (whose own weights stay fixed in that step). Every term is a mean
over its elements (pairs, code entries, label entries, items), as the
released code's reductions. B = sign(H_L + H_I + H_T) after each epoch; an
epoch trains LabelNet (then refreshes F_L and H_L over the training set),
then the discriminators (on cached features), then ImageNet, then TextNet,
one pass each, with Adam. Hash: sign of the modality network's hash output
(``>= 0 -> 1``).

**Defaults chosen by hashbench's tuning protocol** (``configs/tuned/ssah.toml``,
``hashbench tune ssah --trials 16``: Optuna's TPE on a validation split of
Wikipedia's *training* set, objective the mean i2t/t2i mAP at 16 and 128
bits; validation mAP 0.483): 50 epochs; Adam at 4.85e-3 (LabelNet), 3.75e-3
(ImageNet), 1.63e-4 (TextNet), 1.19e-3 (discriminators); alpha 6.87e-3, eta
6.08, delta 8.55e-3; 256-wide LabelNet and TextNet trunks, a 512-wide hidden
layer in ImageNet above the features, and Theta of the hash likelihood scaled
to the range of 16 bits (``theta_bits``), so that long codes do not saturate
tanh. ``--preset paper`` gives the paper's weights, the released rates and
schedule and the paper's widths.

**Why the paper's settings fail here, measured at the former defaults** (16 bits,
seed 0, 20 epochs, ``hashbench run --method ssah --bits 16`` with the
parameters named; i2t / t2i mAP, chance 0.111). The paper's weights and the
released rates give chance-level codes (0.111 / 0.113). At rates 1e-4: alpha
= 1, delta = 0 gives 0.144 / 0.126; alpha = 0.01, delta = 1 gives 0.111 /
0.110; alpha = delta = 0 gives 0.250 / 0.218; alpha = delta = 0.01 (the
former defaults, with 4096-wide trunks) gives 0.230 / 0.208. Why, from the per-term losses in the record:
the feature likelihood is over unbounded ReLU features, whose products grow
without limit (the term's mean reaches 60-70 per pair) and saturate the tanh
hash layer; and the discriminators tell modality features from LabelNet's
(ten distinct label vectors on Wikipedia) at once, so the fool term (13-25)
swamps the modality networks' other terms. The released rates (10^-2
LabelNet, 10^-4.5 ImageNet, 10^-3.5 TextNet) were tuned for the released
squared-error loss: with the likelihood, Adam at 10^-2 (and at 10^-3, even
full-batch) collapsed the former 4096-wide LabelNet's hash codes to a few
patterns, while 10^-4 learnt ten distinct class codes; the tuned 256-wide
LabelNet trains at 4.85e-3. The issue that led to tuning measured the former
defaults under-trained (20 epochs at 1e-4: about 340 steps): all three rates
at 1e-3 gave 0.285 / 0.425 at 16 bits.

Where the released TensorFlow code departs from the paper (this follows the
paper):

* its pairwise term is the squared error ||S o Theta - log(1 + e^Theta)||^2,
  not the likelihood, and S is scaled by 0.999;
* its adversarial term never reaches the modality networks: the features are
  fed to the discriminators as constants;
* its quantisation target is the sign of the batch's own output rather than B;
* each "epoch" runs up to 10-15 passes per network with early stopping on the
  training loss, and every learning rate falls by sqrt(10) per epoch, so that
  training is effectively over after a handful of epochs.

Choices of this implementation: one pass per network per epoch;
``lr_schedule="released"`` divides every rate by sqrt(10) per epoch, the
default ``"gentle"`` lets them fall log-spaced by the same sqrt(10) over the
whole run; text windows longer than the text vector are clamped to its length
(Wikipedia's text is 10-d, so four branches average the whole vector).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any, ClassVar, NamedTuple

import numpy as np
import torch
from torch import nn
from torch.nn import functional

from hashbench.data import TrainView
from hashbench.errors import UsageError
from hashbench.method import Reference
from hashbench.methods._deep import (
    DeepMethod,
    DeepParams,
    ImageInput,
    TrainingState,
    batch_source,
    batches,
    epoch_generator,
    log_spaced_rates,
    make_optimizer,
    pairwise_nll,
    pairwise_nll_entries,
    set_learning_rate,
    sign_codes,
    split_validation,
    theta_scale,
)
from hashbench.registry import register_method
from hashbench.space import Choice, FloatRange, IntRange, SearchSpace

MULTI_SCALE_WINDOWS = (50, 30, 15, 10, 5)
#: The paper's weights and the released rates and schedule, at the paper's widths.
PAPER = {"alpha": 1.0, "gamma": 1.0, "beta": 1.0, "eta": 1.0, "delta": 1.0, "lr_label": 10**-2, "lr_image": 10**-4.5,
         "lr_text": 10**-3.5, "lr_discriminator": 10**-3, "lr_schedule": "released", "label_hidden": 4096,
         "text_hidden": 4096, "image_hidden": 0, "theta_bits": 0}  # fmt: skip
#: What ``hashbench tune`` searches for SSAH (and for UDSPH's global, label-guided part).
GLOBAL_SPACE = {
    "lr_label": FloatRange(1e-4, 1e-2, log=True),
    "lr_image": FloatRange(1e-4, 1e-2, log=True),
    "lr_text": FloatRange(1e-4, 1e-2, log=True),
    "lr_discriminator": FloatRange(1e-5, 1e-2, log=True),
    "alpha": FloatRange(1e-4, 1.0, log=True),
    "delta": FloatRange(1e-4, 1.0, log=True),
    "eta": FloatRange(1e-2, 10.0, log=True),
    "label_hidden": Choice((256, 512, 1024)),
    "text_hidden": Choice((256, 512, 1024)),
    "image_hidden": Choice((0, 512, 1024)),
    "epochs": IntRange(20, 60, step=10),
    "theta_bits": Choice((0, 16, 32)),
}
SCHEDULES = ("gentle", "released")
MODALITIES = ("image", "text")


@dataclass(frozen=True)
class SsahParams(DeepParams):
    """SSAH parameters (the shared ones are documented on :class:`DeepParams`).

    alpha, gamma, beta, eta, delta: weights of the feature likelihood, hash likelihood, quantisation,
        label prediction and adversarial terms.
    semantic_width: width of every network's semantic feature.
    label_hidden, text_hidden: widths of LabelNet's and TextNet's hidden layers.
    image_hidden: width of a hidden layer of ImageNet above the image features in feature mode (0: none).
    theta_bits: scale Theta of the hash likelihood by theta_bits / c, so that its range does not grow with the
        code length (0: 1/2 H_L H^T, as the paper).
    lr_label, lr_image, lr_text, lr_discriminator: Adam's starting learning rates.
    lr_schedule: "gentle" (fall log-spaced by sqrt(10) over the run) or "released" (divide by sqrt(10) per epoch).
    """

    # Defaults: configs/tuned/ssah.toml (hashbench tune on Wikipedia's training set), to three digits.
    epochs: int = 50
    alpha: float = 6.87e-3
    gamma: float = 1.0
    beta: float = 1.0
    eta: float = 6.08
    delta: float = 8.55e-3
    semantic_width: int = 512
    label_hidden: int = 256
    text_hidden: int = 256
    image_hidden: int = 512
    theta_bits: int = 16
    lr_label: float = 4.85e-3
    lr_image: float = 3.75e-3
    lr_text: float = 1.63e-4
    lr_discriminator: float = 1.19e-3
    lr_schedule: str = "gentle"

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.lr_schedule not in SCHEDULES:
            raise UsageError(f"lr_schedule={self.lr_schedule!r}: expected one of {', '.join(SCHEDULES)}")


class Outputs(NamedTuple):
    """What an SSAH network returns for a batch: semantic feature, hash output (tanh), label prediction."""

    feature: torch.Tensor
    hashed: torch.Tensor
    labels: torch.Tensor


class SemanticNet(nn.Module):
    """A trunk, then the semantic feature (linear + ReLU), then the hash and label heads."""

    def __init__(self, trunk: nn.Module, trunk_width: int, semantic_width: int, bits: int, n_labels: int) -> None:
        super().__init__()
        self.trunk = trunk
        self.semantic = nn.Sequential(nn.Linear(trunk_width, semantic_width), nn.ReLU())
        self.hash_head = nn.Linear(semantic_width, bits)
        self.label_head = nn.Linear(semantic_width, n_labels)

    def forward(self, inputs: torch.Tensor) -> Outputs:
        feature = self.semantic(self.trunk(inputs))
        return Outputs(feature, torch.tanh(self.hash_head(feature)), torch.sigmoid(self.label_head(feature)))


class MultiScaleFusion(nn.Module):
    """The text vector and its average-pooled versions at several scales, resized back: (b, d) -> (b, 6 d)."""

    def __init__(self, length: int, windows: tuple[int, ...] = MULTI_SCALE_WINDOWS) -> None:
        super().__init__()
        self.length = length
        self.windows = tuple(min(window, length) for window in windows)
        self.scales = nn.ModuleList(nn.Conv1d(1, 1, kernel_size=1) for _ in self.windows)

    def output_width(self) -> int:
        """Width of the fused vector."""
        return self.length * (1 + len(self.windows))

    def forward(self, text: torch.Tensor) -> torch.Tensor:
        signal = text.unsqueeze(1)
        branches = [signal]
        for window, scale in zip(self.windows, self.scales, strict=True):
            pooled = functional.avg_pool1d(signal, window, stride=window)
            pooled = functional.relu(pooled * scale.weight.view(()) + scale.bias)  # the 1x1 convolution, cheaper
            branches.append(functional.interpolate(pooled, size=self.length, mode="linear", align_corners=False))
        return torch.cat(branches, dim=1).flatten(1)


def discriminator(width: int) -> nn.Module:
    """D: semantic feature -> 512 -> 256 -> 1 logit (ReLU between)."""
    return nn.Sequential(nn.Linear(width, 512), nn.ReLU(), nn.Linear(512, 256), nn.ReLU(), nn.Linear(256, 1))


def mean_pairwise_nll(
    theta: torch.Tensor, similarity: torch.Tensor, weights: torch.Tensor | None = None
) -> torch.Tensor:
    """The pairwise likelihood term as a mean over its pairs; ``weights``: how many pairs each entry stands for
    (None: one each)."""
    if weights is None:
        return pairwise_nll(theta, similarity) / similarity.numel()
    return (pairwise_nll_entries(theta, similarity) * weights).sum() / weights.sum()


class PairBlock(NamedTuple):
    """The pairs that a batch's likelihood terms run over: cached anchor rows against batch columns.

    ``features``, ``hashes``: the anchor rows' cached semantic features and hash outputs (r rows);
    ``similarity``: S between the rows and the columns (r x q); ``columns``: which of the batch's outputs the
    columns are (None: all, in order); ``weights`` (r x q): how many (training item, batch item) pairs each
    entry stands for, where rows or columns that are exact copies of others are folded into one (None: one).
    """

    features: torch.Tensor
    hashes: torch.Tensor
    similarity: torch.Tensor
    columns: torch.Tensor | None = None
    weights: torch.Tensor | None = None


def fool_loss(logits: torch.Tensor) -> torch.Tensor:
    """Cross-entropy of the discriminator calling these features label features (label 1)."""
    return functional.binary_cross_entropy_with_logits(logits, torch.ones_like(logits))


def discriminator_loss(
    modality_logits: torch.Tensor, label_logits: torch.Tensor, label_weights: torch.Tensor | None = None
) -> torch.Tensor:
    """Cross-entropy of telling modality features (0) from label features (1), the two halves averaged;
    ``label_weights``: how many items each label row stands for (None: one each)."""
    fake = functional.binary_cross_entropy_with_logits(modality_logits, torch.zeros_like(modality_logits))
    if label_weights is None:
        label_weights = torch.ones_like(label_logits)
    real = functional.binary_cross_entropy_with_logits(
        label_logits, torch.ones_like(label_logits), weight=label_weights, reduction="sum"
    )
    return (fake + real / label_weights.sum()) / 2


def semantic_loss_terms(
    output: Outputs, pairs: PairBlock, codes: torch.Tensor, labels: torch.Tensor, hash_scale: float = 0.5
) -> dict[str, torch.Tensor]:
    """SSAH's supervised terms of one network on a batch, each a mean over its elements.

    ``pairs``: the cached outputs that supervise the batch (LabelNet's) and S between them and the batch;
    ``codes``, ``labels``: B and the labels of the batch; ``hash_scale``: Theta = hash_scale x H_L H^T on
    the hash outputs (1/2 in the paper).
    """
    features, hashed = output.feature, output.hashed
    if pairs.columns is not None:
        features, hashed = features[pairs.columns], hashed[pairs.columns]
    return {
        "feature_pairs": mean_pairwise_nll(0.5 * (pairs.features @ features.T), pairs.similarity, pairs.weights),
        "hash_pairs": mean_pairwise_nll(hash_scale * (pairs.hashes @ hashed.T), pairs.similarity, pairs.weights),
        "quantisation": ((codes - output.hashed) ** 2).mean(),
        "labels": ((labels - output.labels) ** 2).mean(),
    }


def weighted_sum(terms: dict[str, torch.Tensor], weights: dict[str, float]) -> torch.Tensor:
    """sum of weight x term over the terms present."""
    return sum(weights[name] * value for name, value in terms.items())


def epoch_rates(start: float, schedule: str, epochs: int) -> np.ndarray:
    """Per-epoch learning rates from ``start`` under ``schedule``."""
    if schedule == "released":
        return start * 10.0 ** (-0.5 * np.arange(epochs))
    return log_spaced_rates(start, math.sqrt(10), epochs)


def combined_codes(caches: dict[str, torch.Tensor], names: list[str]) -> torch.Tensor:
    """B = sign of the sum of the named networks' cached hash outputs."""
    return sign_codes(sum(caches[f"{name}_hash"] for name in names))


def share_a_label(rows: torch.Tensor, columns: torch.Tensor) -> torch.Tensor:
    """S between two sets of multi-hot label rows: 1.0 where a row and a column share a label, else 0.0."""
    return (rows @ columns.T > 0).float()


class LabelSets(NamedTuple):
    """The distinct label vectors among some items: the vectors, each item's vector, how many items have each
    (as floats) and the first item that has each."""

    rows: torch.Tensor
    inverse: torch.Tensor
    counts: torch.Tensor
    first: torch.Tensor


def label_sets(labels: torch.Tensor) -> LabelSets:
    """The distinct rows of ``labels`` (items x classes) and which items have each."""
    rows, inverse, counts = torch.unique(labels, dim=0, return_inverse=True, return_counts=True)
    return LabelSets(rows, inverse, counts.to(labels.dtype), first_items(inverse, len(rows)))


def first_items(inverse: torch.Tensor, groups: int) -> torch.Tensor:
    """The first item of each of ``groups`` groups, given each item's group."""
    items = torch.arange(len(inverse), device=inverse.device)
    return torch.full((groups,), len(inverse), device=inverse.device).scatter_reduce(0, inverse, items, "amin")


def build_networks(train: TrainView, labels: np.ndarray, bits: int, p: SsahParams) -> dict[str, nn.Module]:
    """LabelNet, ImageNet, TextNet and the two discriminators, freshly initialised."""
    n_labels, width = labels.shape[1], p.semantic_width
    image_input = ImageInput(p)
    image_width = image_input.output_width(train.image)
    image_trunk = image_input
    if p.image_hidden > 0:  # a hidden layer above the features (the paper's trunk is the whole CNN)
        image_trunk = nn.Sequential(image_input, nn.Linear(image_width, p.image_hidden), nn.ReLU())
        image_width = p.image_hidden
    fusion = MultiScaleFusion(train.text.shape[1])
    label_trunk = nn.Sequential(nn.Linear(n_labels, p.label_hidden), nn.ReLU())
    text_trunk = nn.Sequential(fusion, nn.Linear(fusion.output_width(), p.text_hidden), nn.ReLU())
    return {
        "label": SemanticNet(label_trunk, p.label_hidden, width, bits, n_labels),
        "image": SemanticNet(image_trunk, image_width, width, bits, n_labels),
        "text": SemanticNet(text_trunk, p.text_hidden, width, bits, n_labels),
        "discriminator_image": discriminator(width),
        "discriminator_text": discriminator(width),
    }


class SsahTraining:
    """One SSAH training run: networks, optimisers, caches and the epoch (subclasses add loss terms)."""

    def __init__(self, method: Ssah, train: TrainView, bits: int, seed: int, device: str) -> None:
        p = self.params = method.params
        labels = method.training_labels(train)
        self.seed = seed
        self.fit_rows, self.val_rows = split_validation(train.n, p.val_fraction, seed)
        n = len(self.fit_rows)
        method.fit_inputs(train, self.fit_rows)
        self.networks = self.build_networks(train, labels, bits)
        for network in self.networks.values():
            network.to(device)
        self.labels = torch.from_numpy(labels[self.fit_rows].astype(np.float32)).to(device)
        self.label_sets = label_sets(self.labels)
        self.sources = {
            m: batch_source(method.inputs_[m], train.features(m)[self.fit_rows], device) for m in MODALITIES
        }
        starts = {"label": p.lr_label, "image": p.lr_image, "text": p.lr_text}
        starts |= {f"discriminator_{m}": p.lr_discriminator for m in MODALITIES}
        starts = {name: start for name, start in starts.items() if name in self.networks}
        self.rates = {name: epoch_rates(start, p.lr_schedule, p.epochs) for name, start in starts.items()}
        self.optimizers = {name: make_optimizer("adam", self.networks[name].parameters(), start, 0.0)
                           for name, start in starts.items()}  # fmt: skip
        self.coded = [name for name in ("label", *MODALITIES) if name in self.networks]
        caches = {}
        for name in self.coded:  # random starting caches, as released
            caches[f"{name}_feature"] = torch.randn(n, p.semantic_width).to(device)
            caches[f"{name}_hash"] = torch.randn(n, bits).to(device)
        caches["codes"] = combined_codes(caches, self.coded)
        self.caches = caches
        self.state = TrainingState(self.networks, self.optimizers, caches)  # the same dict, restored on resume
        self.hash_scale = theta_scale(bits, p.theta_bits)
        self.weights = {"feature_pairs": p.alpha, "hash_pairs": p.gamma, "quantisation": p.beta, "labels": p.eta,
                        "adversarial": p.delta}  # fmt: skip

    def build_networks(self, train: TrainView, labels: np.ndarray, bits: int) -> dict[str, nn.Module]:
        """The networks this training runs (SSAH: all five of :func:`build_networks`)."""
        return build_networks(train, labels, bits, self.params)

    def anchor(self, name: str) -> str:
        """Whose cached outputs supervise network ``name`` and are the discriminators' real class: LabelNet's."""
        return "label"

    def similarity(self, batch: torch.Tensor, among: torch.Tensor | None = None) -> torch.Tensor:
        """S between the items ``among`` (every training item by default) and the batch: 1 where they share a
        label."""
        return share_a_label(self.labels if among is None else self.labels[among], self.labels[batch])

    def network_pass(self, name: str, generator: torch.Generator) -> dict[str, float]:
        """One pass of mini-batch steps of the label, image or text network; the mean of its loss and each term."""
        optimizer, records = self.optimizers[name], []
        for batch in batches(len(self.fit_rows), self.params.batch_size, generator):
            output = self.batch_outputs(name, batch)
            self.caches[f"{name}_feature"][batch] = output.feature.detach()
            self.caches[f"{name}_hash"][batch] = output.hashed.detach()
            terms = self.batch_terms(name, batch, output)
            loss = weighted_sum(terms, self.weights)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            records.append(
                {f"loss_{name}": float(loss.detach())} | {f"{name}_{k}": float(v.detach()) for k, v in terms.items()}
            )
        return {key: float(np.mean([record[key] for record in records])) for key in records[0]}

    def batch_label_sets(self, batch: torch.Tensor) -> LabelSets:
        """The distinct label sets of a batch's items (``inverse`` and ``first``: positions in the batch)."""
        sets, inverse, counts = torch.unique(self.label_sets.inverse[batch], return_inverse=True, return_counts=True)
        return LabelSets(
            self.label_sets.rows[sets], inverse, counts.to(self.labels.dtype), first_items(inverse, len(sets))
        )

    def batch_outputs(self, name: str, batch: torch.Tensor) -> Outputs:
        """Network ``name``'s outputs on a batch (LabelNet's depend on the labels alone: it runs once per distinct
        label set in the batch)."""
        network = self.networks[name]
        if name != "label":
            return network(self.sources[name](batch))
        in_batch = self.batch_label_sets(batch)
        return Outputs(*(part[in_batch.inverse] for part in network(in_batch.rows)))

    def pair_block(self, name: str, batch: torch.Tensor) -> PairBlock:
        """The pairs of network ``name``'s likelihood terms on a batch: every training item against the batch.

        LabelNet's outputs depend on the labels alone, so where they are the anchor, items with the same labels
        share their cached outputs and their S: each distinct label set is one row, weighted by its items (the
        same mean in a fraction of the work where label sets are few: Wikipedia has ten). In LabelNet's own
        pass its cache changes batch by batch, so the batch's columns are folded instead.
        """
        anchor = self.anchor(name)
        features, hashes = self.caches[f"{anchor}_feature"], self.caches[f"{anchor}_hash"]
        if anchor != "label":
            return PairBlock(features, hashes, self.similarity(batch))
        if name == "label":
            in_batch = self.batch_label_sets(batch)
            similarity = share_a_label(self.labels, in_batch.rows)
            return PairBlock(features, hashes, similarity, in_batch.first, in_batch.counts.expand_as(similarity))
        sets = self.label_sets
        similarity = share_a_label(sets.rows, self.labels[batch])
        weights = sets.counts[:, None].expand_as(similarity)
        return PairBlock(features[sets.first], hashes[sets.first], similarity, None, weights)

    def batch_terms(self, name: str, batch: torch.Tensor, output: Outputs) -> dict[str, torch.Tensor]:
        """The loss terms of network ``name`` on a batch (the :meth:`anchor`'s cached outputs supervise it)."""
        terms = semantic_loss_terms(output, self.pair_block(name, batch), self.caches["codes"][batch],
                                    self.labels[batch], self.hash_scale)  # fmt: skip
        if f"discriminator_{name}" in self.networks:
            judge = self.networks[f"discriminator_{name}"]
            judge.requires_grad_(False)  # the gradient flows through D into the modality network, D stays fixed
            terms["adversarial"] = fool_loss(judge(output.feature))
            judge.requires_grad_(True)
        return terms

    def real_features(self, modality: str, batch: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor | None]:
        """The real class of ``modality``'s discriminator on a batch: the anchor's cached features, and how many
        items each row stands for (LabelNet's: one row per distinct label set in the batch)."""
        anchor = self.anchor(modality)
        features = self.caches[f"{anchor}_feature"]
        if anchor != "label":
            return features[batch], None
        in_batch = self.batch_label_sets(batch)
        return features[batch[in_batch.first]], in_batch.counts[:, None]

    def discriminator_pass(self, generator: torch.Generator) -> float:
        """One pass of both discriminators over the cached features; the mean batch loss."""
        losses = []
        for batch in batches(len(self.fit_rows), self.params.batch_size, generator):
            for modality in MODALITIES:
                name = f"discriminator_{modality}"
                judge, optimizer = self.networks[name], self.optimizers[name]
                real, weights = self.real_features(modality, batch)
                logits = judge(torch.cat([self.caches[f"{modality}_feature"][batch], real]))  # one pass: half the cost
                loss = discriminator_loss(logits[: len(batch)], logits[len(batch) :], weights)
                optimizer.zero_grad()
                loss.backward()
                optimizer.step()
                losses.append(float(loss.detach()))
        return float(np.mean(losses))

    def run_epoch(self, epoch: int) -> dict[str, float]:
        """LabelNet, discriminators, ImageNet, TextNet (those present), then B; the epoch's mean losses."""
        for name, optimizer in self.optimizers.items():
            set_learning_rate(optimizer, self.rates[name][epoch])
        generator = epoch_generator(self.seed, epoch)
        losses = {}
        if "label" in self.networks:
            losses |= self.network_pass("label", generator)
            self.refresh_label_caches()
        if "discriminator_image" in self.networks:
            losses["loss_discriminators"] = self.discriminator_pass(generator)
        for modality in MODALITIES:
            losses |= self.network_pass(modality, generator)
        self.update_codes()
        return losses

    def refresh_label_caches(self) -> None:
        """F_L and H_L of the whole training set from LabelNet as it now is (labels are small: one forward pass)."""
        network, sets = self.networks["label"], self.label_sets
        network.eval()
        with torch.no_grad():
            output = network(sets.rows)  # one row per label set, so that items with the same labels agree exactly
        network.train()
        self.caches["label_feature"] = output.feature[sets.inverse]
        self.caches["label_hash"] = output.hashed[sets.inverse]

    def update_codes(self) -> None:
        """B = sign(H_L + H_I + H_T) over the training set (the networks present)."""
        self.caches["codes"] = combined_codes(self.caches, self.coded)


@register_method("ssah")
class Ssah(DeepMethod):
    """SSAH (Li et al., CVPR 2018): LabelNet supervision, adversarial alignment, pairwise likelihood."""

    supervised = True
    reference = Reference("Li, Deng, Li, Liu, Gao & Tao", "Self-Supervised Adversarial Hashing Networks for "
                          "Cross-Modal Retrieval", "CVPR", 2018)  # fmt: skip
    Params = SsahParams
    presets: ClassVar[dict[str, dict[str, Any]]] = {"paper": PAPER}
    search_space = SearchSpace(2, GLOBAL_SPACE)
    Training = SsahTraining

    def fit(self, train: TrainView, bits: int, *, seed: int, device: str = "cpu") -> Ssah:
        torch.manual_seed(seed)
        training = self.Training(self, train, bits, seed, device)
        self.networks_, self.device_ = training.networks, device
        self.run_training(training.state, training.run_epoch, train, bits, seed, (training.fit_rows, training.val_rows))
        return self

    def hash_output(self, output: Outputs) -> torch.Tensor:
        return output.hashed

"""UGACH: Unsupervised Generative Adversarial Cross-modal Hashing (Zhang, Peng & Yuan, AAAI 2018).

Unsupervised: labels are used for evaluation only.

* **Correlation graph.** The positives of training item i are its own other
  modality, the ``neighbours`` nearest items in image-feature space and the
  ``neighbours`` nearest in text-feature space (squared Euclidean distance on
  the standardised features): an image query's positives are those items'
  texts, a text query's their images.
* **Discriminator** (whose codes are the method's): per modality a two-layer
  network, feature -> ``hidden`` (tanh) -> c, h = sigmoid(output), code =
  round(h) (``output >= 0 -> 1``). On triplets (query, positive, generated) of
  both directions it minimises the hinge max(0, beta + ||h_q - h_pos||^2 -
  ||h_q - h_gen||^2), beta = c / 8, plus ``weight_decay`` x l2 (half the sum
  of squared weights and biases, as TensorFlow's l2_loss).
* **Generator**: networks of the same shape, scoring a candidate c of the
  other modality by -||h_q - h_c||^2 (its own sigmoid outputs); it samples
  ``select`` candidates per query from the softmax of those scores and learns
  by policy gradient, -mean(log p(candidate) x reward), with the
  discriminator's reward sigmoid(max(0, beta + d(q, pos) - d(q, candidate))):
  high when the candidate is as close to the query as a true positive.
* **Schedule**: ``pretrain_epochs`` epochs of the discriminator against
  uniformly drawn non-positive candidates (the released code pre-trains it
  separately), then ``epochs`` adversarial epochs, each: the generator draws
  ``select`` negatives per query and direction from ``candidates`` random
  candidates (positives excluded) and pairs each with a random positive; one
  discriminator pass over those triplets; ``generator_epochs`` generator passes.

Departures from the released code, measured on Wikipedia (16 bits, seed 0,
``hashbench run --method ugach --bits 16`` with the parameters named; i2t /
t2i mAP, chance 0.111):

* **Mini-batches.** The released code steps on one triplet at a time; here
  a step takes ``batch_size`` queries (a mean loss), and a generator batch
  scores one shared draw of ``candidates`` candidates (the released code
  draws per query). The discriminator's negatives are still drawn per query.
* **Optimiser.** With mean batch losses, plain SGD at the released rates
  (1e-3 for D, 1e-2 for G) hardly moves: ``optimizer=sgd lr_discriminator=1e-3
  lr_generator=0.01 epochs=10`` gives 0.188 / 0.147. The default is Adam at
  1e-4 for both (``epochs=10``: 0.233 / 0.171). The released rates also fall
  by 0.9 every 20,000 steps, which this budget never reaches.
* **Width.** The released networks are 8192 wide. Under the released weight
  decay (0.01 x l2 over all weights) that width is mostly penalty, and slow
  on a CPU: ``hidden=8192 epochs=10`` gives 0.169 / 0.138 in 133 s (one thread), against
  0.233 / 0.171 in 22 s at the default ``hidden=1024``.
* **Initialisation**: PyTorch's default for linear layers (the release draws
  weights from a truncated N(0, 0.1^2), biases 0).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn

from hashbench.data import TrainView
from hashbench.errors import UsageError
from hashbench.method import Reference
from hashbench.methods._deep import (
    ENCODE_BATCH,
    DeepMethod,
    DeepParams,
    ImageInput,
    ModalityInput,
    TrainingState,
    batch_source,
    batches,
    check_optimizer,
    epoch_generator,
    make_optimizer,
)
from hashbench.registry import register_method
from hashbench.space import Choice, FloatRange, IntRange, SearchSpace

DIRECTIONS = {"i2t": ("image", "text"), "t2i": ("text", "image")}
_DISTANCE_CHUNK = 1024


@dataclass(frozen=True)
class UgachParams(DeepParams):
    """UGACH parameters (the shared ones are documented on :class:`~hashbench.methods._deep.DeepParams`).

    epochs: adversarial epochs (after ``pretrain_epochs`` of the discriminator alone).
    hidden: width of every network's tanh layer.
    neighbours: nearest neighbours per modality in the correlation graph.
    candidates: candidates the generator scores per draw.
    select: negatives drawn per query and direction.
    generator_epochs: generator passes per adversarial epoch.
    weight_decay: weight of the l2 term of both networks.
    optimizer: "adam" or "sgd" (plain, as released).
    lr_discriminator, lr_generator: the optimisers' learning rates.
    """

    epochs: int = 30
    pretrain_epochs: int = 5
    hidden: int = 1024
    neighbours: int = 5
    candidates: int = 100
    select: int = 2
    generator_epochs: int = 2
    weight_decay: float = 0.01
    optimizer: str = "adam"
    lr_discriminator: float = 1e-4
    lr_generator: float = 1e-4

    def __post_init__(self) -> None:
        super().__post_init__()
        if min(self.hidden, self.neighbours, self.candidates, self.select, self.generator_epochs) < 1 or (
            self.pretrain_epochs < 0
        ):
            raise UsageError(
                f"hidden={self.hidden}, neighbours={self.neighbours}, candidates={self.candidates}, "
                f"select={self.select}, generator_epochs={self.generator_epochs}, pretrain_epochs="
                f"{self.pretrain_epochs}: expected positive integers (pretrain_epochs may be 0)"
            )
        if self.val_fraction:
            raise UsageError(f"val_fraction={self.val_fraction}: UGACH is unsupervised, so there are no labels to "
                             "validate with; expected 0")  # fmt: skip
        check_optimizer(self.optimizer)


def hash_network(inputs: nn.Module, width: int, hidden: int, bits: int) -> nn.Sequential:
    """input -> hidden (tanh) -> c logits; the hash output is their sigmoid."""
    return nn.Sequential(inputs, nn.Linear(width, hidden), nn.Tanh(), nn.Linear(hidden, bits))


def l2_penalty(networks: list[nn.Module]) -> torch.Tensor:
    """Half the sum of squares of every parameter (TensorFlow's l2_loss)."""
    return sum((parameter**2).sum() / 2 for network in networks for parameter in network.parameters())


def triplet_hinge(query: torch.Tensor, positive: torch.Tensor, negative: torch.Tensor, margin: float) -> torch.Tensor:
    """max(0, margin + ||q - pos||^2 - ||q - neg||^2) per triplet."""
    closer = ((query - positive) ** 2).sum(dim=1) - ((query - negative) ** 2).sum(dim=1)
    return torch.clamp(margin + closer, min=0)


def policy_gradient_loss(log_probabilities: torch.Tensor, picked: torch.Tensor, reward: torch.Tensor) -> torch.Tensor:
    """REINFORCE: -mean over the draws of log p(drawn candidate) x its reward (rewards are constants)."""
    return -(torch.gather(log_probabilities, 1, picked) * reward.detach()).mean()


def nearest(features: torch.Tensor, k: int) -> torch.Tensor:
    """The k nearest other rows of each row (squared Euclidean distance; ties to the lower index)."""
    k = min(k, len(features) - 1)
    rows = []
    for start in range(0, len(features), _DISTANCE_CHUNK):
        distances = torch.cdist(features[start : start + _DISTANCE_CHUNK], features).square()
        distances[torch.arange(len(distances)), torch.arange(start, start + len(distances))] = torch.inf
        rows.append(torch.sort(distances, dim=1, stable=True).indices[:, :k])
    return torch.cat(rows)


def correlation_graph(image: torch.Tensor, text: torch.Tensor, k: int) -> torch.Tensor:
    """Each item's positives: itself, its k nearest by image and its k nearest by text, (n, 2k + 1), a row's
    repeats kept (they weigh a positive that both modalities agree on twice when positives are drawn)."""
    own = torch.arange(len(image))[:, None]
    return torch.cat([own, nearest(image, k), nearest(text, k)], dim=1)


def sample_excluding(scores: torch.Tensor, excluded: torch.Tensor, count: int, generator: torch.Generator):
    """``count`` column indices per row drawn from softmax(scores), with replacement, never an excluded one
    (a row whose every column is excluded draws from all of them)."""
    allowed = ~excluded | excluded.all(dim=1, keepdim=True)
    probabilities = torch.softmax(scores.masked_fill(~allowed, -torch.inf), dim=1)
    return torch.multinomial(probabilities, count, replacement=True, generator=generator)


def graph_features_of(inputs: ModalityInput, features: np.ndarray, params: UgachParams) -> torch.Tensor:
    """What the correlation graph measures distances on: standardised features, or for raw images the
    features of the (pre-trained) backbone, computed in batches."""
    if inputs.standardizer is not None:
        return inputs(features, "cpu")
    backbone = ImageInput(params).eval()
    with torch.no_grad():
        return torch.cat([backbone(inputs(features[start : start + ENCODE_BATCH], "cpu"))
                          for start in range(0, len(features), ENCODE_BATCH)])  # fmt: skip


class UgachTraining:
    """One UGACH training run: graph, discriminator and generator networks, and the epoch."""

    def __init__(self, method: Ugach, train: TrainView, bits: int, seed: int, device: str) -> None:
        p = self.params = method.params
        self.seed, self.n, self.margin = seed, train.n, bits / 8
        self.fit_rows, self.val_rows = np.arange(train.n), np.arange(0)
        method.fit_inputs(train, self.fit_rows)
        self.sources = {m: batch_source(method.inputs_[m], train.features(m), device) for m in ("image", "text")}
        graph_features = {m: graph_features_of(method.inputs_[m], train.features(m), p) for m in ("image", "text")}
        self.positives = correlation_graph(graph_features["image"], graph_features["text"], p.neighbours)
        self.networks = {}
        for role in ("discriminator", "generator"):
            for modality in ("image", "text"):
                inputs = ImageInput(p) if modality == "image" else nn.Identity()
                width = inputs.output_width(train.image) if modality == "image" else train.text.shape[1]
                self.networks[f"{role}_{modality}"] = hash_network(inputs, width, p.hidden, bits).to(device)
        self.optimizers = {
            role: make_optimizer(p.optimizer, [q for m in ("image", "text")
                                               for q in self.networks[f"{role}_{m}"].parameters()], rate, 0.0)
            for role, rate in (("discriminator", p.lr_discriminator), ("generator", p.lr_generator))
        }  # fmt: skip
        self.state = TrainingState(self.networks, self.optimizers, {})

    def hashes(self, role: str, modality: str, rows: torch.Tensor) -> torch.Tensor:
        """h = sigmoid(network output) of ``role``'s network on training ``rows``."""
        return torch.sigmoid(self.networks[f"{role}_{modality}"](self.sources[modality](rows)))

    def generator_hashes(self) -> dict[str, torch.Tensor]:
        """The generator's h of every training item, per modality (no gradient), for drawing triplets."""
        everything = torch.arange(self.n)
        with torch.no_grad():
            return {m: self.hashes("generator", m, everything).cpu() for m in ("image", "text")}

    def draw_triplets(
        self, direction: str, generator: torch.Generator, hashes: dict[str, torch.Tensor] | None
    ) -> torch.Tensor:
        """(query, positive, negative) rows, ``select`` per query: negatives from the generator's softmax over
        ``candidates`` random candidates per query, scored with ``hashes`` (:meth:`generator_hashes`; uniform
        when None), positives excluded."""
        p, (query_modality, other) = self.params, DIRECTIONS[direction]
        queries = torch.arange(self.n).repeat_interleave(p.select)
        candidates = torch.randint(0, self.n, (self.n, p.candidates), generator=generator)
        excluded = (candidates[:, :, None] == self.positives[:, None, :]).any(dim=2)
        if hashes is None:
            scores = torch.zeros(candidates.shape)
        else:
            scores = -((hashes[query_modality][:, None, :] - hashes[other][candidates]) ** 2).sum(dim=2)
        picked = sample_excluding(scores, excluded, p.select, generator)
        negatives = torch.gather(candidates, 1, picked).flatten()
        which = torch.randint(0, self.positives.shape[1], (len(queries),), generator=generator)
        positives = self.positives[queries, which]
        return torch.stack([queries, positives, negatives], dim=1)

    def discriminator_pass(self, triplets: dict[str, torch.Tensor], generator: torch.Generator) -> float:
        """One pass over both directions' triplets in mini-batches; the mean batch loss."""
        networks = [self.networks["discriminator_image"], self.networks["discriminator_text"]]
        losses = []
        for direction, rows in triplets.items():
            query_modality, other = DIRECTIONS[direction]
            for batch in batches(len(rows), self.params.batch_size, generator):
                query, positive, negative = rows[batch].T
                hinge = triplet_hinge(self.hashes("discriminator", query_modality, query),
                                      self.hashes("discriminator", other, positive),
                                      self.hashes("discriminator", other, negative), self.margin)  # fmt: skip
                loss = hinge.mean() + self.params.weight_decay * l2_penalty(networks)
                self.step("discriminator", loss)
                losses.append(float(loss.detach()))
        return float(np.mean(losses))

    def generator_pass(self, generator: torch.Generator) -> tuple[float, float]:
        """One policy-gradient pass over every query of both directions; mean batch loss and mean reward."""
        p = self.params
        networks = [self.networks["generator_image"], self.networks["generator_text"]]
        losses, rewards = [], []
        for query_modality, other in DIRECTIONS.values():
            for batch in batches(self.n, p.batch_size, generator):
                candidates = torch.randint(0, self.n, (p.candidates,), generator=generator)
                query_hashes = self.hashes("generator", query_modality, batch)
                scores = -((query_hashes[:, None, :] - self.hashes("generator", other, candidates)[None]) ** 2).sum(2)
                log_probabilities = torch.log_softmax(scores, dim=1)
                picked = torch.multinomial(log_probabilities.detach().exp(), p.select, replacement=True,
                                           generator=generator)  # fmt: skip
                which = torch.randint(0, self.positives.shape[1], (len(batch), p.select), generator=generator)
                positives = self.positives[batch[:, None], which]
                with torch.no_grad():
                    query_d = self.hashes("discriminator", query_modality, batch)[:, None, :]
                    distance_pos = ((query_d - self.hashes("discriminator", other, positives.flatten()).view(
                        len(batch), p.select, -1)) ** 2).sum(2)  # fmt: skip
                    distance_gen = ((query_d - self.hashes("discriminator", other, candidates)[picked]) ** 2).sum(2)
                    reward = torch.sigmoid(torch.clamp(self.margin + distance_pos - distance_gen, min=0))
                loss = policy_gradient_loss(log_probabilities, picked, reward)
                loss = loss + p.weight_decay * l2_penalty(networks)
                self.step("generator", loss)
                losses.append(float(loss.detach()))
                rewards.append(float(reward.mean()))
        return float(np.mean(losses)), float(np.mean(rewards))

    def step(self, role: str, loss: torch.Tensor) -> None:
        """One optimiser step of ``role``'s two networks."""
        optimizer = self.optimizers[role]
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()

    def run_epoch(self, epoch: int) -> dict[str, float]:
        """A pre-training epoch of the discriminator, or an adversarial epoch; its mean losses."""
        generator = epoch_generator(self.seed, epoch)
        pretraining = epoch < self.params.pretrain_epochs
        hashes = None if pretraining else self.generator_hashes()  # once for both directions
        triplets = {d: self.draw_triplets(d, generator, hashes) for d in DIRECTIONS}
        losses = {"phase": 0.0 if pretraining else 1.0}
        losses["loss_discriminator"] = self.discriminator_pass(triplets, generator)
        if not pretraining:
            results = [self.generator_pass(generator) for _ in range(self.params.generator_epochs)]
            losses["loss_generator"] = float(np.mean([loss for loss, _ in results]))
            losses["reward"] = float(np.mean([reward for _, reward in results]))
        return losses


@register_method("ugach")
class Ugach(DeepMethod):
    """UGACH (Zhang, Peng & Yuan, AAAI 2018): a generator of hard cross-modal negatives against a triplet
    discriminator over a correlation graph; unsupervised."""

    supervised = False
    reference = Reference("Zhang, Peng & Yuan", "Unsupervised Generative Adversarial Cross-modal Hashing", "AAAI",
                          2018)  # fmt: skip
    Params = UgachParams
    presets: ClassVar[dict[str, dict[str, Any]]] = {
        "paper": {"optimizer": "sgd", "lr_discriminator": 1e-3, "lr_generator": 1e-2, "hidden": 8192, "epochs": 30,
                  "weight_decay": 0.01},
    }  # fmt: skip
    search_space = SearchSpace(1, {
        "lr_discriminator": FloatRange(1e-5, 1e-2, log=True),
        "lr_generator": FloatRange(1e-5, 1e-1, log=True),
        "weight_decay": FloatRange(1e-5, 1e-1, log=True),
        "hidden": Choice((256, 512, 1024, 2048)),
        "epochs": IntRange(10, 50, step=10),
        "neighbours": IntRange(2, 20),
        "standardize": Choice((True, False)),
    })  # fmt: skip

    def fit(self, train: TrainView, bits: int, *, seed: int, device: str = "cpu") -> Ugach:
        p = self.params
        torch.manual_seed(seed)
        training = UgachTraining(self, train, bits, seed, device)
        self.networks_ = {m: training.networks[f"discriminator_{m}"] for m in ("image", "text")}
        self.device_ = device
        self.run_training(training.state, training.run_epoch, train, bits, seed,
                          (training.fit_rows, training.val_rows), epochs=p.pretrain_epochs + p.epochs)  # fmt: skip
        return self

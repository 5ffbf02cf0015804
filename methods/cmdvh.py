"""CMDVH: Cross-Modal Deep Variational Hashing (Liong, Lu, Tan & Zhou; ICCV 2017).

Supervised, in two stages.

**Stage 1, unified codes.** A fusion network F reads an item's image and text together; one code b_i per
training item is learned to be read correctly by a linear classifier W (a hinge loss per label) and to stay
close to the fusion network's output:

    J = sum_i sum_l max(0, 1 - y_il w_l^T b_i)^2 + lam ||W||^2 + eta sum_i ||b_i - F(x_i, t_i)||^2,

with y_il = +1 where item i carries label l and -1 where not, b_i in {-1, +1}^r. Each of ``iters`` alternations
takes the three blocks in turn: W exactly (an L2-SVM per label, C = 1 / (2 lam), no intercept), F by
``fusion_epochs`` epochs of Adam on the mean ||b_i - F||^2, and B by coordinate descent over the bits, each
bit set to the value of lower J with the others fixed (a tie keeps it), so the B step never increases J.

**Stage 2, one variational network per modality.** Each modality's network q(z | x) outputs a mean mu(x) and a
log-variance; z = mu + sigma eps is drawn by the reparameterisation and fitted to the item's unified code
under a standard normal prior:

    L_m = mean_i ( ||b_i - z_i||^2 + kl_weight KL(N(mu_i, sigma_i^2) || N(0, I)) ),

for ``epochs`` epochs of Adam. Hash: sign(mu(x)), the posterior mean; the fusion network is used only in
training.

No code released by the authors was found (the search tool found only the paper's listings), so these choices
were open and are hashbench's: the networks (fusion: each modality -> ``hidden`` ReLU units, joined ->
``hidden`` ReLU -> r tanh; each variational network: -> ``hidden`` -> ``hidden`` ReLU -> mu and log-variance,
r each), on the given feature vectors; the one-vs-rest hinge per label, so that multi-label data fits the same
objective, squared (the L2-SVM), whose W step liblinear's primal Newton solver finds to its tolerance (the
plain hinge's dual solver did not converge on Wikipedia's codes in 20,000 iterations: many items share a
code); the standard normal prior; B starting as the signs of the untrained fusion network's outputs; and the
noise drawn from the epoch's own generator, so that a resumed fit draws what an uninterrupted one does. A label
that every training item carries, or none does, gets w_l = 0 (an SVM needs both classes).
Defaults: hashbench's tuning protocol's choice (``configs/tuned/cmdvh.toml``, ``hashbench tune cmdvh --trials
14``: validation mAP 0.432 on a split of Wikipedia's *training* set, 0.427 at the rounded values, against 0.329
for the starting values lr 1e-3, lam 1, eta 0.5, kl_weight 0.01, 50 epochs), to three digits.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from sklearn.svm import LinearSVC
from torch import nn

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
    layer_stack,
    optimise_epoch,
)
from hashbench.registry import register_method
from hashbench.space import FloatRange, IntRange, SearchSpace


@dataclass(frozen=True)
class CmdvhParams(DeepParams):
    """CMDVH parameters (the shared ones are documented on :class:`DeepParams`; ``epochs`` counts stage 2).

    iters: stage 1 alternations of the W, F and B steps.
    fusion_epochs: epochs of the fusion network per alternation.
    hidden: width of every hidden layer.
    lr: Adam's learning rate, both stages.
    lam: ridge on the label classifier W.
    eta: weight of ||B - F||^2 beside the hinge loss in the B step.
    kl_weight: weight of the KL term of the variational networks.
    sweeps: most coordinate-descent sweeps over the bits per B step (a sweep that changes no bit ends it).
    weight_decay: Adam's L2 weight decay.
    """

    # Defaults: configs/tuned/cmdvh.toml (hashbench tune on Wikipedia's training set), to three digits.
    epochs: int = 100
    iters: int = 10
    fusion_epochs: int = 5
    hidden: int = 512
    lr: float = 8.38e-4
    lam: float = 0.587
    eta: float = 0.00233
    kl_weight: float = 0.00663
    sweeps: int = 10
    weight_decay: float = 0.0

    def __post_init__(self) -> None:
        super().__post_init__()
        check_params(self, ("iters", "fusion_epochs", "hidden", "sweeps"), lambda v: v >= 1, "a positive integer")
        check_params(self, ("lam", "eta"), lambda value: value > 0, "a positive number")
        check_params(self, ("kl_weight", "weight_decay"), lambda value: value >= 0, "a number of at least 0")


def hinge_losses(scores: np.ndarray, signed_labels: np.ndarray) -> np.ndarray:
    """Per item, sum_l max(0, 1 - y_il s_il)^2 (``scores`` s = B W^T, ``signed_labels`` y in {-1, +1})."""
    return (np.maximum(0.0, 1.0 - signed_labels * scores) ** 2).sum(axis=1)


def stage_one_objective(
    codes: np.ndarray, classifier: np.ndarray, signed_labels: np.ndarray, fused: np.ndarray, lam: float, eta: float
) -> float:
    """J of the module docstring (``classifier`` W: labels x bits; ``fused``: the fusion network's outputs)."""
    hinge = hinge_losses(codes @ classifier.T, signed_labels).sum()
    return float(hinge + lam * np.sum(classifier**2) + eta * np.sum((codes - fused) ** 2))


def code_step(
    codes: np.ndarray, classifier: np.ndarray, signed_labels: np.ndarray, fused: np.ndarray, eta: float, sweeps: int
) -> np.ndarray:
    """B lowering J bit by bit from ``codes``: each bit takes the value of lower J with the others fixed."""
    codes = codes.copy()
    scores = codes @ classifier.T
    for _ in range(sweeps):
        changed = False
        for bit in range(codes.shape[1]):
            flipped = scores - 2.0 * np.outer(codes[:, bit], classifier[:, bit])
            # Flipping b to -b changes eta ||b - h||^2 by 4 eta b h.
            change = hinge_losses(flipped, signed_labels) - hinge_losses(scores, signed_labels)
            flip = change + 4.0 * eta * codes[:, bit] * fused[:, bit] < 0
            if flip.any():
                changed = True
                codes[flip, bit] *= -1.0
                scores[flip] = flipped[flip]
        if not changed:
            break
    return codes


def classifier_step(codes: np.ndarray, signed_labels: np.ndarray, lam: float, seed: int) -> np.ndarray:
    """W minimising the hinge losses + lam ||W||^2 for fixed codes: an L2-SVM per label (labels x bits)."""
    classifier = np.zeros((signed_labels.shape[1], codes.shape[1]))
    for label, column in enumerate(signed_labels.T):
        if len(np.unique(column)) == 2:
            svm = LinearSVC(C=1.0 / (2.0 * lam), fit_intercept=False, dual=False, random_state=seed, tol=1e-6)
            classifier[label] = svm.fit(codes, column).coef_[0]
    return classifier


class FusionNetwork(nn.Module):
    """F(x, t): a ReLU layer per modality, joined by a ReLU layer, then a tanh layer of the code length."""

    def __init__(self, image_input: ImageInput, image_width: int, text_width: int, hidden: int, bits: int) -> None:
        super().__init__()
        self.image = nn.Sequential(image_input, layer_stack([image_width, hidden], nn.ReLU))
        self.text = layer_stack([text_width, hidden], nn.ReLU)
        self.joint = nn.Sequential(layer_stack([2 * hidden, hidden], nn.ReLU), layer_stack([hidden, bits], nn.Tanh))

    def forward(self, image: torch.Tensor, text: torch.Tensor) -> torch.Tensor:
        return self.joint(torch.cat([self.image(image), self.text(text)], dim=1))


class VariationalNetwork(nn.Module):
    """q(z | x): two ReLU layers, then the mean and log-variance of a diagonal Gaussian of the code length."""

    def __init__(self, front: nn.Module, width: int, hidden: int, bits: int) -> None:
        super().__init__()
        self.body = nn.Sequential(front, layer_stack([width, hidden, hidden], nn.ReLU))
        self.mean = nn.Linear(hidden, bits)
        self.log_variance = nn.Linear(hidden, bits)

    def forward(self, inputs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        body = self.body(inputs)
        return self.mean(body), self.log_variance(body)


def variational_loss(
    mean: torch.Tensor, log_variance: torch.Tensor, codes: torch.Tensor, noise: torch.Tensor, kl_weight: float
) -> torch.Tensor:
    """mean_i ||b_i - z_i||^2 + kl_weight KL(N(mu_i, sigma_i^2) || N(0, I)), z = mu + sigma noise."""
    sample = mean + torch.exp(0.5 * log_variance) * noise
    kl = 0.5 * (log_variance.exp() + mean**2 - 1.0 - log_variance).sum(dim=1)
    return (((codes - sample) ** 2).sum(dim=1) + kl_weight * kl).mean()


@register_method("cmdvh")
class Cmdvh(DeepMethod):
    """CMDVH: unified codes from a fusion network and a per-label hinge; variational networks per modality."""

    supervised = True
    reference = Reference("Liong, Lu, Tan & Zhou", "Cross-Modal Deep Variational Hashing", "ICCV", 2017)
    Params = CmdvhParams
    search_space = SearchSpace(1, {
        "lr": FloatRange(1e-4, 1e-2, log=True),
        "lam": FloatRange(1e-3, 10.0, log=True),
        "eta": FloatRange(1e-3, 10.0, log=True),
        "kl_weight": FloatRange(1e-4, 1.0, log=True),
        "epochs": IntRange(20, 100, step=20),
    })  # fmt: skip

    def hash_output(self, output: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        return output[0]

    def fit(self, train: TrainView, bits: int, *, seed: int, device: str = "cpu") -> Cmdvh:
        p = self.params
        labels = self.training_labels(train)
        fit_rows, val_rows = self.prepare_fit(train, seed)
        image_input = ImageInput(p)
        image_width, text_width = image_input.output_width(train.image), train.text.shape[1]
        networks = {
            "fusion": FusionNetwork(image_input, image_width, text_width, p.hidden, bits),
            "image": VariationalNetwork(ImageInput(p), image_width, p.hidden, bits),
            "text": VariationalNetwork(nn.Identity(), text_width, p.hidden, bits),
        }
        self.place_networks(networks, device)
        optimizers = {
            name: torch.optim.Adam(self.networks_[name].parameters() if name == "fusion" else
                                   [w for m in ("image", "text") for w in self.networks_[m].parameters()],
                                   lr=p.lr, weight_decay=p.weight_decay, **FAST["adam"])
            for name in ("fusion", "modalities")
        }  # fmt: skip
        sources = {m: batch_source(self.inputs_[m], train.features(m)[fit_rows], device) for m in ("image", "text")}
        every = torch.arange(len(fit_rows))
        signed_labels = np.where(labels[fit_rows], 1.0, -1.0)
        initial = torch.from_numpy(np.where(self.fused(sources, every) >= 0, 1.0, -1.0))
        state = TrainingState(self.networks_, optimizers, {"codes": initial})

        def run_epoch(epoch: int) -> dict[str, float]:
            generator = epoch_generator(seed, epoch)
            codes = state.tensors["codes"].numpy()
            if epoch >= p.iters:
                return {"loss_variational": self.variational_epoch(sources, codes, generator, optimizers["modalities"])}
            classifier = classifier_step(codes, signed_labels, p.lam, seed)
            fusion_loss = 0.0
            for _ in range(p.fusion_epochs):
                fusion_loss = self.fusion_epoch(sources, codes, generator, optimizers["fusion"])
            fused = self.fused(sources, every)
            new_codes = code_step(codes, classifier, signed_labels, fused, p.eta, p.sweeps)
            state.tensors["codes"] = torch.from_numpy(new_codes)
            return {
                "objective": stage_one_objective(new_codes, classifier, signed_labels, fused, p.lam, p.eta),
                "loss_fusion": fusion_loss,
                "bits_changed": float(np.mean(new_codes != codes)),
            }

        self.run_training(state, run_epoch, train, bits, seed, (fit_rows, val_rows), epochs=p.iters + p.epochs)
        return self

    def fused(self, sources: dict[str, Any], rows: torch.Tensor) -> np.ndarray:
        """The fusion network's outputs for training ``rows`` (float64, no gradient)."""
        with torch.no_grad():
            return self.networks_["fusion"](sources["image"](rows), sources["text"](rows)).double().cpu().numpy()

    def fusion_epoch(self, sources, codes: np.ndarray, generator: torch.Generator, optimizer) -> float:
        """One epoch of Adam on mean ||b_i - F(x_i, t_i)||^2; the epoch's mean loss."""
        target = torch.from_numpy(codes).float().to(self.device_)

        def losses(_: int, batch: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
            output = self.networks_["fusion"](sources["image"](batch), sources["text"](batch))
            loss = ((target[batch.to(self.device_)] - output) ** 2).sum(dim=1).mean()
            return loss, {"loss": loss}

        return optimise_epoch(batches(len(codes), self.params.batch_size, generator), optimizer, losses)["loss"]

    def variational_epoch(self, sources, codes: np.ndarray, generator: torch.Generator, optimizer) -> float:
        """One epoch of Adam on both modalities' variational losses; the epoch's mean (summed over modalities)."""
        target = torch.from_numpy(codes).float().to(self.device_)

        def losses(_: int, batch: torch.Tensor) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
            loss = torch.zeros((), device=self.device_)
            for m in ("image", "text"):
                mean, log_variance = self.networks_[m](sources[m](batch))
                noise = torch.randn(mean.shape, generator=generator).to(self.device_)
                loss = loss + variational_loss(mean, log_variance, target[batch.to(self.device_)], noise,
                                               self.params.kl_weight)  # fmt: skip
            return loss, {"loss": loss}

        return optimise_epoch(batches(len(codes), self.params.batch_size, generator), optimizer, losses)["loss"]

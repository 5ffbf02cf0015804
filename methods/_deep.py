"""Plumbing shared by the deep methods: parameters, inputs, validation split, the epoch loop, checkpoints.

Every deep method trains through :func:`train_epochs`, which gives them the
same habits: a fixed epoch budget, or a validation split carved out of the
*training* set that picks the epoch (never the query set); per-epoch losses
kept for the record; a tqdm bar on an interactive terminal (quiet in logs);
and a checkpoint after every epoch from which an interrupted run resumes.

Two input modes for images (the text side is always a feature vector):

* **feature mode** (``backbone="none"``, the default, what runs on a CPU): the
  image modality is a feature matrix and the image network is the part of the
  paper's network above the frozen CNN layers;
* **backbone mode** (``backbone="vgg16"`` etc., for a GPU): a torchvision
  backbone (``pip install hashbench[vision]``), fine-tuned, under the same
  head. The image modality is then raw images: an (n, 3, H, W) array of 0..255
  values or an array of image file paths, resized to ``image_size``.

Randomness comes from the run's seed alone: ``torch.manual_seed`` before the
networks are built, and a generator per epoch (seed, epoch) for the batch
order, so a resumed run draws the same batches as an uninterrupted one.
"""

from __future__ import annotations

import copy
import itertools
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field, fields
from functools import partial
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import torch
from torch import nn
from torch.nn import functional
from tqdm.auto import tqdm

from hashbench.backbones import BACKBONES, image_tensor
from hashbench.codes import pack
from hashbench.data import TrainView
from hashbench.errors import UsageError
from hashbench.files import atomic_write
from hashbench.method import HashMethod
from hashbench.scoring.metrics import MAP_ONLY, evaluate

ENCODE_BATCH = 1024
LOG_2 = float(np.log(2.0))


@dataclass(frozen=True)
class DeepParams:
    """Parameters every deep method shares.

    epochs: the fixed training budget (or the most epochs, with a validation split).
    batch_size: mini-batch size.
    val_fraction: share of the training items held out to pick the epoch by validation mAP (0: fixed budget).
    backbone: "none" (feature mode) or a torchvision backbone: alexnet, vgg16, vgg19, resnet50.
    pretrained: start the backbone from torchvision's ImageNet weights (from its local cache).
    image_size: side of the square images fed to the backbone.
    standardize: z-score every feature dimension with training statistics.
    """

    epochs: int = 100
    batch_size: int = 128
    val_fraction: float = 0.0
    backbone: str = "none"
    pretrained: bool = True
    image_size: int = 224
    standardize: bool = True

    def __post_init__(self) -> None:
        check_deep_params(self)


class DeepMethod(HashMethod):
    """What every deep method shares: inputs, the epoch loop with its checkpoint and validation, encoding.

    A subclass's ``fit`` calls :meth:`fit_inputs`, sets ``networks_`` (one per modality, at least) and
    ``device_``, and ends with :meth:`run_training`; :meth:`hash_output` picks the hash layer's output when a
    network returns more than one tensor.
    """

    kind = "deep"
    resumable = True
    #: Per-epoch log entries that hold the objective's pairwise likelihood per pair (NLL); one still within 1 % of
    #: log 2 at the last epoch means the codes carry no pairwise information (the starting saddle). SSAH's per-term
    #: likelihoods do not qualify: with small tanh outputs a term can stay near log 2 while the signs, and so the
    #: codes, are right (a UDSPH run at 0.27 / 0.74 mAP ended with its text term at 0.6952).
    likelihood_entries: ClassVar[tuple[str, ...]] = ()

    def accepts_raw_images(self) -> bool:
        return self.params.backbone != "none"

    def fit_inputs(self, train: TrainView, rows: np.ndarray) -> None:
        """``inputs_``: each modality's input transform, from the training ``rows``."""
        self.inputs_ = {
            "image": ModalityInput.fit(train.image[rows], self.params, raw_images=self.accepts_raw_images()),
            "text": ModalityInput.fit(train.text[rows], self.params, raw_images=False),
        }

    def prepare_fit(self, train: TrainView, seed: int) -> tuple[np.ndarray, np.ndarray]:
        """Seed torch, carve the validation rows and fit the input transforms on the others; returns (training
        rows, validation rows)."""
        torch.manual_seed(seed)
        rows = split_validation(train.n, self.params.val_fraction, seed)
        self.fit_inputs(train, rows[0])
        return rows

    def place_networks(self, networks: dict[str, nn.Module], device: str) -> None:
        """``networks_`` (built on the CPU) moved to ``device``, and ``device_``."""
        for network in networks.values():
            network.to(device)
        self.networks_, self.device_ = networks, device

    def run_training(
        self,
        state: TrainingState,
        run_epoch: Callable[[int], dict[str, float]],
        train: TrainView,
        bits: int,
        seed: int,
        rows: tuple[np.ndarray, np.ndarray],
        epochs: int | None = None,
    ) -> None:
        """Run :func:`train_epochs` for this configuration (``rows``: training and validation rows; ``epochs``:
        the parameter ``epochs`` unless given); keep its log."""
        fit_rows, val_rows = rows
        validate = partial(validation_map, self.encode, train, fit_rows, val_rows) if len(val_rows) else None
        key = {"method": self.name, "params": self.get_params(), "bits": bits, "seed": seed, "n": train.n}
        self.log_ = train_epochs(
            state, run_epoch, epochs=epochs or self.params.epochs, key=key, validate=validate,
            checkpoint=self.checkpoint_path, description=f"{self.name} {bits} bits",
        )  # fmt: skip

    def hash_output(self, output: Any) -> torch.Tensor:
        """The real-valued hash output within what a network returns (the output itself by default)."""
        return output

    def encode(self, modality: str, features: np.ndarray) -> np.ndarray:
        return encode_with(self.networks_[modality], self.inputs_[modality], features, self.device_, self.hash_output)

    def fit_info(self) -> dict[str, Any]:
        mode = "features" if self.params.backbone == "none" else f"backbone {self.params.backbone}"
        return {"input_mode": mode, "device": self.device_, **self.log_.as_dict()}

    def fit_warnings(self) -> list[str]:
        last = self.log_.losses[-1] if self.log_.losses else {}
        return [
            f"{self.name}: {entry} = {last[entry]:.4f} after the last epoch, within 1% of log 2 = {LOG_2:.4f}: "
            "the pairwise likelihood never left its starting saddle, the codes learned nothing from it"
            for entry in self.likelihood_entries
            if entry in last and abs(last[entry] - LOG_2) <= 0.01 * LOG_2
        ]


def check_deep_params(params: DeepParams) -> None:
    """Usage errors for shared parameters out of range, and for a method's learning rates (``lr``, ``lr_*``: positive;
    ``lr_decay``: at least 1), at construction rather than when training starts."""
    if params.epochs < 1 or params.batch_size < 1:
        raise UsageError(f"epochs={params.epochs}, batch_size={params.batch_size}: expected positive integers")
    if not 0.0 <= params.val_fraction < 1.0:
        raise UsageError(f"val_fraction={params.val_fraction}: expected a number in [0, 1)")
    if params.backbone != "none" and params.backbone not in BACKBONES:
        raise UsageError(f"backbone={params.backbone!r}: expected none or one of {', '.join(BACKBONES)}")
    for name in (f.name for f in fields(params) if f.name == "lr" or f.name.startswith("lr_")):  # learning rates
        value = getattr(params, name)
        if name == "lr_decay" and not value >= 1:
            raise UsageError(f"lr_decay={value}: expected a factor >= 1 (the rates fall to start / lr_decay)")
        if name != "lr_decay" and isinstance(value, int | float) and not value > 0:
            raise UsageError(f"{name}={value}: expected a positive learning rate")


def split_validation(n: int, fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Training rows and held-out validation rows (none when ``fraction`` is 0), drawn from the seed."""
    held_out = round(n * fraction)
    if held_out == 0:
        return np.arange(n), np.arange(0)
    if held_out >= n - 1:
        raise UsageError(f"val_fraction={fraction}: leaves fewer than 2 of {n} training items to train on")
    order = np.random.default_rng([seed, 1]).permutation(n)
    return np.sort(order[held_out:]), np.sort(order[:held_out])


@dataclass
class Standardizer:
    """Per-dimension z-score with training statistics (identity when switched off)."""

    mean: np.ndarray
    scale: np.ndarray

    @classmethod
    def fit(cls, features: np.ndarray, enabled: bool) -> Standardizer:
        """Statistics of ``features`` (or an identity transform when not ``enabled``)."""
        d = features.shape[1]
        if not enabled:
            return cls(np.zeros(d, np.float32), np.ones(d, np.float32))
        std = features.std(axis=0)
        return cls(features.mean(axis=0).astype(np.float32), np.where(std > 0, std, 1.0).astype(np.float32))

    def __call__(self, features: np.ndarray) -> np.ndarray:
        return ((np.asarray(features, dtype=np.float32) - self.mean) / self.scale).astype(np.float32)


class ImageInput(nn.Module):
    """What the image head sees: the given features, or a backbone's features of raw images."""

    def __init__(self, params: DeepParams) -> None:
        super().__init__()
        self.backbone, self.backbone_width = None, None
        if params.backbone != "none":
            self.backbone, self.backbone_width = BACKBONES[params.backbone](params.pretrained)

    def output_width(self, images: np.ndarray) -> int:
        """Width of the vector handed to the head: the feature width, or the backbone's."""
        return images.shape[1] if self.backbone is None else self.backbone_width

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        return images if self.backbone is None else self.backbone(images)


@dataclass
class ModalityInput:
    """Turns one modality's rows into the tensor its network takes: standardised features or raw images."""

    standardizer: Standardizer | None  # None: raw images for a backbone
    image_size: int = 224

    @classmethod
    def fit(cls, features: np.ndarray, params: DeepParams, raw_images: bool) -> ModalityInput:
        """The input transform of one modality, from its training rows."""
        if raw_images:
            return cls(None, params.image_size)
        return cls(Standardizer.fit(np.asarray(features, dtype=np.float32), params.standardize))

    def __call__(self, rows: np.ndarray, device: str) -> torch.Tensor:
        if self.standardizer is None:
            return image_tensor(rows, self.image_size).to(device)
        return torch.from_numpy(self.standardizer(rows)).to(device)


def batch_source(inputs: ModalityInput, features: np.ndarray, device: str) -> Callable[[torch.Tensor], torch.Tensor]:
    """Rows of the training set as network input: features converted once, raw images loaded per batch."""
    if inputs.standardizer is None:
        return lambda rows: inputs(features[rows.numpy()], device)
    whole = inputs(features, device)
    return lambda rows: whole[rows.to(whole.device)]


def encode_with(
    network: nn.Module,
    inputs: ModalityInput,
    features: np.ndarray,
    device: str,
    hash_output: Callable[[Any], torch.Tensor] = lambda output: output,
) -> np.ndarray:
    """Codes of ``features`` from a network's real-valued hash output, ``>= 0 -> 1``, in fixed-size batches.

    ``hash_output`` picks the hash layer's output from what the network returns (the output itself by default).
    """
    network.eval()
    codes = []
    with torch.no_grad():
        for start in range(0, len(features), ENCODE_BATCH):
            output = hash_output(network(inputs(features[start : start + ENCODE_BATCH], device)))
            codes.append((output >= 0).to(torch.uint8).cpu().numpy())
    network.train()
    return np.concatenate(codes) if codes else np.zeros((0, 0), np.uint8)


def validation_map(
    encode: Callable[[str, np.ndarray], np.ndarray], train: TrainView, fit_rows: np.ndarray, val_rows: np.ndarray
) -> float:
    """Mean of i2t and t2i mAP with the validation items as queries against the other training items."""
    labels = np.asarray(train.labels, dtype=bool)
    scores = []
    for query, database in (("image", "text"), ("text", "image")):
        query_codes = encode(query, train.features(query)[val_rows])
        database_codes = encode(database, train.features(database)[fit_rows])
        evaluation = evaluate(
            pack(query_codes), pack(database_codes), labels[val_rows], labels[fit_rows],
            query_codes.shape[1], MAP_ONLY,
        )  # fmt: skip
        scores.append(evaluation.metrics["map"])
    return float(np.mean(scores))


def pairwise_nll_entries(theta: torch.Tensor, similarity: torch.Tensor) -> torch.Tensor:
    """-(S * Theta - log(1 + e^Theta)) per pair, with log(1 + e^x) as softplus so that it stays finite."""
    return functional.softplus(theta) - similarity * theta


def pairwise_nll(theta: torch.Tensor, similarity: torch.Tensor) -> torch.Tensor:
    """The sum of :func:`pairwise_nll_entries` over the pairs."""
    return pairwise_nll_entries(theta, similarity).sum()


class _PairwiseNll(torch.autograd.Function):
    """:func:`pairwise_nll` with its gradient sigmoid(Theta) - S written out: two n x b temporaries where
    autograd's chain of element-wise steps makes seven (on large blocks each fresh one costs page faults)."""

    @staticmethod
    def forward(ctx, theta: torch.Tensor, similarity: torch.Tensor) -> torch.Tensor:
        ctx.save_for_backward(theta, similarity)
        return functional.softplus(theta).addcmul_(similarity, theta, value=-1).sum()

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> tuple[torch.Tensor, None]:
        theta, similarity = ctx.saved_tensors
        return torch.sigmoid(theta).sub_(similarity).mul_(grad), None


def lean_pairwise_nll(theta: torch.Tensor, similarity: torch.Tensor) -> torch.Tensor:
    """:func:`pairwise_nll` in less memory traffic, for the large n x batch blocks of a whole-training-set
    likelihood (the same value and gradient up to float rounding)."""
    return _PairwiseNll.apply(theta, similarity)


def sign_codes(values: torch.Tensor) -> torch.Tensor:
    """±1 codes with sign(0) = +1."""
    return torch.where(values >= 0, 1.0, -1.0).to(values.dtype)


#: The optimisers a deep method may name: Adam, or plain SGD (no momentum, as the released deep hashing code).
OPTIMIZERS = {"adam": torch.optim.Adam, "sgd": torch.optim.SGD}
#: Adam's fused kernel: one pass over each parameter instead of a dozen element-wise operations (same update).
FAST = {"adam": {"fused": True}}


def check_optimizer(name: str) -> None:
    """A usage error unless ``name`` is one of :data:`OPTIMIZERS`."""
    if name not in OPTIMIZERS:
        raise UsageError(f"optimizer={name!r}: expected one of {', '.join(OPTIMIZERS)}")


def make_optimizer(name: str, parameters, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    """The optimiser ``name`` over ``parameters``, with L2 weight decay."""
    check_optimizer(name)
    return OPTIMIZERS[name](parameters, lr=lr, weight_decay=weight_decay, **FAST.get(name, {}))


def log_spaced_rates(start: float, decay: float, epochs: int) -> np.ndarray:
    """Per-epoch learning rates falling log-spaced from ``start`` to ``start / decay`` at the last epoch."""
    if start <= 0 or decay < 1:
        raise UsageError(f"learning rate {start} with lr_decay={decay}: expected a positive rate and a decay >= 1")
    return np.logspace(np.log10(start), np.log10(start / decay), epochs)


def set_learning_rate(optimizer: torch.optim.Optimizer, rate: float) -> None:
    """Set every parameter group's learning rate."""
    for group in optimizer.param_groups:
        group["lr"] = float(rate)


def linear(inputs: int, outputs: int, init_std: float) -> nn.Linear:
    """A linear layer with weights and bias drawn from N(0, init_std^2), as the released deep hashing code;
    PyTorch's default initialisation (uniform, scaled by the fan-in) when ``init_std`` is 0."""
    layer = nn.Linear(inputs, outputs)
    if init_std > 0:
        nn.init.normal_(layer.weight, std=init_std)
        nn.init.normal_(layer.bias, std=init_std)
    return layer


def hash_head(inputs: int, hidden: int, bits: int, init_std: float) -> list[nn.Module]:
    """Layers from a feature vector to the real-valued hash output: linear, or linear-ReLU-linear when
    ``hidden`` > 0."""
    if hidden <= 0:
        return [linear(inputs, bits, init_std)]
    return [linear(inputs, hidden, init_std), nn.ReLU(), linear(hidden, bits, init_std)]


def layer_stack(widths: list[int], activation: type[nn.Module] | None = None) -> nn.Sequential:
    """Linear layers between the given widths, each followed by ``activation`` (none: a linear stack)."""
    layers: list[nn.Module] = []
    for inputs, outputs in itertools.pairwise(widths):
        layers += [nn.Linear(inputs, outputs)] + ([activation()] if activation else [])
    return nn.Sequential(*layers)


def label_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """-sum_k y_k log softmax(z)_k per row, mean over the rows (TF's softmax cross-entropy with the label row as
    given, also for multi-label rows)."""
    return -(labels * functional.log_softmax(logits, dim=1)).sum(dim=1).mean()


def theta_scale(bits: int, theta_bits: int) -> float:
    """The factor s of Theta = s h^T h' in a pairwise likelihood: 1/2 (the papers') when ``theta_bits`` is 0,
    else 1/2 x theta_bits / bits, so that Theta spans the same range at every code length."""
    return 0.5 if theta_bits <= 0 else 0.5 * theta_bits / bits


def epoch_generator(seed: int, epoch: int) -> torch.Generator:
    """The batch-order generator of one epoch: depends on (seed, epoch) only, so resuming draws the same batches."""
    return torch.Generator().manual_seed(int(np.random.SeedSequence([seed, epoch]).generate_state(1)[0]))


def batches(n: int, batch_size: int, generator: torch.Generator) -> list[torch.Tensor]:
    """A random permutation of 0..n-1 cut into mini-batches."""
    return list(torch.randperm(n, generator=generator).split(batch_size))


def optimise_epoch(
    chunks: list[torch.Tensor],
    optimizer: torch.optim.Optimizer,
    batch_losses: Callable[[int, torch.Tensor], tuple[torch.Tensor, dict[str, torch.Tensor]]],
) -> dict[str, float]:
    """One optimiser step per mini-batch of ``chunks`` on the loss ``batch_losses(number, batch)`` returns beside
    its named terms; the mean of each term over the epoch (what the training log keeps)."""
    totals: dict[str, float] = {}
    for number, batch in enumerate(chunks):
        loss, terms = batch_losses(number, batch)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        for name, value in terms.items():
            totals[name] = totals.get(name, 0.0) + float(value.detach()) / len(chunks)
    return totals


@dataclass
class TrainingLog:
    """What the epoch loop reports for the record (``HashMethod.fit_info``)."""

    epochs: int
    losses: list[dict[str, float]] = field(default_factory=list)
    selected_epoch: int | None = None
    selection: str = "fixed budget"
    resumed_from_epoch: int = 0

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        return {
            "epochs": self.epochs,
            "selection": self.selection,
            "selected_epoch": self.selected_epoch,
            "resumed_from_epoch": self.resumed_from_epoch,
            "losses": self.losses,
        }


@dataclass
class TrainingState:
    """Everything a deep method's training changes: networks, their optimisers and named tensors (cached
    outputs, codes). :func:`train_epochs` saves it after every epoch and loads it back to resume."""

    networks: dict[str, nn.Module]
    optimizers: dict[str, torch.optim.Optimizer]
    tensors: dict[str, torch.Tensor]

    def state_dict(self) -> dict[str, Any]:
        """A deep copy that later training does not change."""
        return copy.deepcopy({
            "networks": {name: network.state_dict() for name, network in self.networks.items()},
            "optimizers": {name: optimizer.state_dict() for name, optimizer in self.optimizers.items()},
            "tensors": self.tensors,
        })  # fmt: skip

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Restore networks, optimisers and tensors saved by :meth:`state_dict`."""
        for name, network in self.networks.items():
            network.load_state_dict(state["networks"][name])
        for name, optimizer in self.optimizers.items():
            optimizer.load_state_dict(state["optimizers"][name])
        for name, tensor in state["tensors"].items():
            self.tensors[name] = tensor.clone()


def train_epochs(
    state: TrainingState,
    run_epoch: Callable[[int], dict[str, float]],
    *,
    epochs: int,
    key: dict[str, Any],
    validate: Callable[[], float] | None = None,
    checkpoint: Path | None = None,
    description: str = "training",
) -> TrainingLog:
    """Run ``run_epoch(epoch)`` for epochs 0..epochs-1, resuming from ``checkpoint`` when it holds this ``key``.

    With ``validate``, the epoch of the highest validation score is kept (its
    state is loaded back at the end); otherwise the last epoch is. After every
    epoch the state, the log and the best state so far are written to
    ``checkpoint`` atomically.
    """
    with flushed_denormals():
        return _train_epochs(state, run_epoch, epochs, key, validate, checkpoint, description)


@contextmanager
def flushed_denormals():
    """Flush denormal floats to zero while training: outputs that shrink towards 0 otherwise slow every
    operation on them many times over on a CPU (a 50-epoch DCMH fit took 77 s instead of 11 s)."""
    torch.set_flush_denormal(True)
    try:
        yield
    finally:
        torch.set_flush_denormal(False)  # the process default


def _train_epochs(state, run_epoch, epochs, key, validate, checkpoint, description) -> TrainingLog:
    log, best = TrainingLog(epochs), None
    if checkpoint is not None and checkpoint.exists():
        saved = torch.load(checkpoint, weights_only=False)
        if saved.get("key") == key:
            state.load_state_dict(saved["state"])
            log, best = saved["log"], saved["best"]
            log.resumed_from_epoch = len(log.losses)
    progress = tqdm(range(len(log.losses), epochs), initial=len(log.losses), total=epochs, desc=description,
                    disable=None, leave=False)  # fmt: skip
    for epoch in progress:
        entry = {"epoch": epoch + 1, **run_epoch(epoch)}
        improved = False
        if validate is not None:
            entry["val_map"] = validate()
            improved = best is None or entry["val_map"] > best["score"]
        log.losses.append(entry)
        progress.set_postfix({name: f"{value:.4g}" for name, value in entry.items() if name != "epoch"})
        if not improved and checkpoint is None:
            continue
        snapshot = state.state_dict()  # one copy serves the best state and the checkpoint
        if improved:
            best = {"epoch": epoch + 1, "score": entry["val_map"], "state": snapshot}
        if checkpoint is not None:
            payload = {"key": key, "state": snapshot, "log": log, "best": best}
            checkpoint.parent.mkdir(parents=True, exist_ok=True)
            atomic_write(checkpoint, lambda file, payload=payload: torch.save(payload, file))
    if best is not None:
        state.load_state_dict(best["state"])
        log.selected_epoch, log.selection = best["epoch"], "best validation mAP (held out from the training set)"
    else:
        log.selected_epoch = epochs
    return log

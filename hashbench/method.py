"""The contract every hashing method fulfils: ``fit`` on a training view, ``encode`` one modality.

A plug-in subclasses :class:`HashMethod`, declares its parameters as a
dataclass named ``Params`` (the paper's names and defaults), and implements
:meth:`HashMethod.fit` and :meth:`HashMethod.encode`. As in scikit-learn,
``__init__`` only stores parameters and learned state goes in attributes
ending in ``_``.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from hashbench.data import TrainView
from hashbench.errors import UsageError, expected_one_of
from hashbench.space import SearchSpace


@dataclasses.dataclass(frozen=True)
class Reference:
    """The paper a method comes from, as printed beside its row in tables."""

    authors: str
    title: str
    venue: str
    year: int

    def short(self) -> str:
        """``"Ding et al., CVPR 2014"``-style citation."""
        return f"{self.authors}, {self.venue} {self.year}"


@dataclasses.dataclass(frozen=True)
class NoParams:
    """Parameters of a method that has none."""


class HashMethod:
    """Base class of hashing methods.

    Class attributes a plug-in sets:
        name: registry name, e.g. ``"cmfh"``.
        supervised: whether ``fit`` needs training labels.
        kind: ``"shallow"`` or ``"deep"``.
        reference: the :class:`Reference` of its paper.
        Params: a frozen dataclass of parameters with their defaults.
        resumable: whether ``fit`` resumes from ``checkpoint_path`` (deep methods).
        search_space: the parameters ``hashbench tune`` may search (a :class:`~hashbench.space.SearchSpace`),
            or None.
        presets: named parameter sets, e.g. ``{"paper": {...}}`` for the paper's settings (``--preset paper``).
        unified_codes: whether :meth:`encode_unified` hashes an item from both its modalities, so that the
            harness can give the database unified codes (``--db-codes unified``).

    Before ``fit``, the harness sets ``checkpoint_path`` of a resumable method to
    a file of its own for this configuration; the method saves its progress
    there, resumes from it when it exists, and the harness deletes it once the
    run's record is stored.
    """

    name: ClassVar[str] = ""
    supervised: ClassVar[bool] = False
    kind: ClassVar[str] = "shallow"
    reference: ClassVar[Reference | None] = None
    Params: ClassVar[type] = NoParams
    resumable: ClassVar[bool] = False
    unified_codes: ClassVar[bool] = False
    search_space: ClassVar[SearchSpace | None] = None
    presets: ClassVar[dict[str, dict[str, Any]]] = {}
    checkpoint_path: Path | None = None

    def __init__(self, **params: Any) -> None:
        known = {f.name for f in dataclasses.fields(self.Params)}
        unknown = sorted(set(params) - known)
        if unknown:
            raise UsageError(
                f"parameter {unknown[0]!r} is not a parameter of method {self.name!r}; "
                f"{expected_one_of(unknown[0], known)}"
            )
        self.params = self.Params(**params)

    def get_params(self) -> dict[str, Any]:
        """All parameters, defaults included, as plain values (what a record stores)."""
        return dataclasses.asdict(self.params)

    def variant(self) -> str:
        """The parameters that differ from the defaults, as ``"key=value, ..."`` (empty for the defaults)."""
        defaults = dataclasses.asdict(self.Params())
        return ", ".join(f"{k}={v}" for k, v in self.get_params().items() if defaults[k] != v)

    def fit(self, train: TrainView, bits: int, *, seed: int, device: str = "cpu") -> HashMethod:
        """Learn hash functions of ``bits`` bits from the training items; return ``self``."""
        raise NotImplementedError

    def training_labels(self, train: TrainView) -> np.ndarray:
        """The training labels a supervised method learns from (items x classes, boolean), or a usage error naming
        the method when ``train`` has none: the harness hands labels only to methods with ``supervised = True``,
        and a supervised ``fit`` reads its labels through here, so it refuses to train without them."""
        if train.labels is None:
            raise UsageError(f"method {self.name!r} is supervised: the training view has no labels")
        return np.asarray(train.labels, dtype=bool)

    def encode(self, modality: str, features: np.ndarray) -> np.ndarray:
        """Codes (n x bits, {0,1} or {-1,+1}) of ``features`` of ``modality``.

        A code depends only on its own row and the fitted state, never on the
        rest of the batch.
        """
        raise NotImplementedError

    def accepts_raw_images(self) -> bool:
        """Whether ``fit`` and ``encode`` take raw images (a deep method's backbone mode) instead of image features."""
        return False

    def fit_info(self) -> dict[str, Any]:
        """What the record should keep about training (input mode, epochs, per-epoch losses); JSON-ready."""
        return {}

    def fit_warnings(self) -> list[str]:
        """One line per sign that training went wrong (e.g. a likelihood left at its starting value); the record
        keeps them and the command line prints them."""
        return []

    def encode_unified(self, image: np.ndarray, text: np.ndarray) -> np.ndarray:
        """One code per item from both its modalities (rows of ``image`` and ``text`` pair up).

        Only a method with ``unified_codes = True`` implements it; the harness calls it for database items
        when a run asks for unified database codes. Like :meth:`encode`, a code depends only on its own row.
        """
        raise NotImplementedError(f"method {self.name!r} has no unified codes")


def parse_param(method_class: type[HashMethod], assignment: str) -> tuple[str, Any]:
    """Turn ``"key=value"`` (a flag's or a grid file's) into a typed parameter of ``method_class``."""
    key, sep, raw = assignment.partition("=")
    fields = {f.name: f for f in dataclasses.fields(method_class.Params)}
    if not sep or not key:
        raise UsageError("expected key=value", thing="parameter", value=repr(assignment))
    if key not in fields:
        raise UsageError(
            f"no such parameter of method {method_class.name!r}; {expected_one_of(key, fields)}",
            thing="parameter",
            value=repr(key),
        )
    default = fields[key].default
    return key, _convert(key, raw, default)


def _convert(key: str, raw: str, default: Any) -> Any:
    if raw.lower() in ("none", "null") and default is None:
        return None
    try:
        if isinstance(default, bool):
            if raw.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(raw)
            return raw.lower() in ("true", "1", "yes")
        if isinstance(default, int):
            return int(raw)
        if isinstance(default, float) or default is None:
            return float(raw)
    except ValueError:
        kind = "true or false" if isinstance(default, bool) else f"a number like {default!r}"
        raise UsageError(f"expected {kind}", thing="parameter", value=f"{key}={raw}") from None
    return raw


def check_params(params: Any, names: tuple[str, ...], valid: Callable[[Any], bool], expected: str) -> None:
    """A usage error ``parameter NAME=VALUE: expected EXPECTED`` for the first of ``names`` whose value in
    ``params`` is not ``valid`` (for a ``Params`` dataclass's ``__post_init__``)."""
    for name in names:
        value = getattr(params, name)
        if not valid(value):
            raise UsageError(f"parameter {name}={value}: expected {expected}")


def sign_bits(projection: np.ndarray) -> np.ndarray:
    """Codes from real projections: ``x >= 0 -> 1``, so a projection of exactly 0 maps to 1."""
    return (projection >= 0).astype(np.uint8)

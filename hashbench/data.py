"""Cross-modal datasets: paired features, labels and the train/query/database split.

A :class:`CrossModalDataset` is validated when it is built, so that every later
stage can trust its shapes and values. Methods never see it whole: the harness
hands ``fit`` a :class:`TrainView` of the training items only.
"""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from functools import cached_property

import numpy as np

from hashbench.errors import UsageError

MODALITIES = ("image", "text")
#: Size of the blocks in which a whole matrix is scanned, so a memory-mapped matrix is never copied whole.
BLOCK_BYTES = 64 << 20


@dataclass(frozen=True)
class DatasetCard:
    """What a dataset is and where it comes from; printed by ``hashbench list`` and stored in records."""

    name: str
    source: str
    licence: str
    protocol: str
    features: dict[str, str]
    labels: str
    reference: str = ""


@dataclass(frozen=True)
class TrainView:
    """What ``HashMethod.fit`` receives: training features and, for supervised methods, training labels.

    ``labels`` is ``None`` when the method is unsupervised, so an unsupervised
    method cannot use labels by accident.
    """

    image: np.ndarray
    text: np.ndarray
    labels: np.ndarray | None = None

    def features(self, modality: str) -> np.ndarray:
        """The feature matrix of ``modality`` ("image" or "text")."""
        return getattr(self, _checked_modality(modality))

    @property
    def n(self) -> int:
        """Number of training pairs."""
        return self.image.shape[0]


def _checked_modality(modality: str) -> str:
    if modality not in MODALITIES:
        raise UsageError(f"modality {modality!r}: expected one of {', '.join(MODALITIES)}")
    return modality


def _as_index(name: str, index: np.ndarray, n: int) -> np.ndarray:
    index = np.asarray(index)
    if index.ndim != 1 or not np.issubdtype(index.dtype, np.integer):
        raise UsageError(f"split {name!r}: expected a 1-D array of integer indices")
    if index.size == 0:
        raise UsageError(f"split {name!r}: expected at least one item")
    if index.min() < 0 or index.max() >= n:
        raise UsageError(f"split {name!r}: indices must lie in 0..{n - 1}")
    if np.unique(index).size != index.size:
        raise UsageError(f"split {name!r}: indices must not repeat")
    return index.astype(np.int64)


def _as_features(name: str, features: np.ndarray, n: int) -> np.ndarray:
    features = np.asarray(features)
    if features.ndim != 2:
        raise UsageError(f"{name} features: expected a 2-D matrix, got shape {features.shape}")
    if features.shape[0] != n:
        raise UsageError(
            f"{name} features: {features.shape[0]} rows, but the labels have {n}; "
            "expected one row per item in every modality"
        )
    if not np.issubdtype(features.dtype, np.number) or np.issubdtype(features.dtype, np.complexfloating):
        raise UsageError(f"{name} features: expected real numbers, got dtype {features.dtype}")
    features = features.astype(np.float32, copy=False)
    for start, block in row_blocks(features):
        if not np.isfinite(block).all():
            bad = start + int(np.argwhere(~np.isfinite(block))[0, 0])
            raise UsageError(f"{name} features: NaN or inf in row {bad}; expected finite values")
    return features


def rows_per_block(*arrays: np.ndarray) -> int:
    """How many rows of ``arrays`` together fill about :data:`BLOCK_BYTES`."""
    row_bytes = sum(array.itemsize * int(np.prod(array.shape[1:])) for array in arrays)
    return max(1, BLOCK_BYTES // max(1, row_bytes))


def row_blocks(array: np.ndarray):
    """``(first row, block)`` over ``array`` in blocks of about :data:`BLOCK_BYTES` (views, no copies)."""
    rows = rows_per_block(array)
    for start in range(0, array.shape[0], rows):
        yield start, array[start : start + rows]


def _as_images(images: np.ndarray, n: int) -> np.ndarray:
    """The image modality: a feature matrix, or raw images for a backbone (file paths, or (n, 3, H, W) pixels)."""
    images = np.asarray(images)
    if images.ndim == 1 and images.dtype.kind == "U":
        if images.shape[0] != n:
            raise UsageError(f"image paths: {images.shape[0]}, but the labels have {n}; expected one per item")
        missing = next((path for path in images if not os.path.isfile(path)), None)
        if missing is not None:
            raise UsageError(f"image paths: {missing}: no such file; expected a path to an image file per item")
        return images
    if images.ndim == 4:
        if images.shape[0] != n or images.shape[1] != 3:
            raise UsageError(f"image pixels: shape {images.shape}; expected ({n}, 3, height, width)")
        return _as_features("image pixels", images.reshape(n, -1), n).reshape(images.shape)
    return _as_features("image", images, n)


def is_raw_images(images: np.ndarray) -> bool:
    """Whether an image modality holds raw images (paths or pixels) rather than a feature matrix."""
    return images.ndim != 2


def as_labels(labels: np.ndarray) -> np.ndarray:
    """``labels`` checked to be an n x classes matrix of 0 and 1, as booleans."""
    labels = np.asarray(labels)
    if labels.ndim != 2:
        raise UsageError(f"labels: expected an n x classes 0/1 matrix, got shape {labels.shape}")
    if labels.dtype != bool:
        if not np.isin(labels, (0, 1)).all():
            raise UsageError("labels: expected only 0 and 1 (one column per class)")
        labels = labels.astype(bool)
    return labels


@dataclass(frozen=True, eq=False)
class CrossModalDataset:
    """n paired items with image and text features, binary labels and a fixed split.

    ``train``, ``query`` and ``database`` index rows of the matrices. Query and
    database must be disjoint unless ``query_in_database`` is set (some
    protocols retrieve from a set that contains the queries).
    """

    card: DatasetCard
    image: np.ndarray
    text: np.ndarray
    labels: np.ndarray
    train: np.ndarray
    query: np.ndarray
    database: np.ndarray
    query_in_database: bool = False

    def __post_init__(self) -> None:
        labels = as_labels(self.labels)
        n = labels.shape[0]
        set_ = object.__setattr__
        set_(self, "labels", labels)
        set_(self, "image", _as_images(self.image, n))
        set_(self, "text", _as_features("text", self.text, n))
        for split in ("train", "query", "database"):
            set_(self, split, _as_index(split, getattr(self, split), n))
        if not self.query_in_database and np.intersect1d(self.query, self.database).size:
            raise UsageError(
                f"dataset {self.card.name!r}: query and database overlap, but the protocol says they are disjoint"
            )

    @property
    def n_classes(self) -> int:
        """Number of label columns."""
        return self.labels.shape[1]

    def features(self, modality: str, split: str) -> np.ndarray:
        """Features of ``modality`` for the items of ``split`` ("train", "query" or "database")."""
        return getattr(self, _checked_modality(modality))[getattr(self, split)]

    def database_blocks(self, rows: int | None = None):
        """The database's (image, text) features in blocks of ``rows`` items (default: about
        :data:`BLOCK_BYTES`), in database order; a memory-mapped dataset is never copied whole."""
        rows = rows or rows_per_block(self.image, self.text)
        for start in range(0, self.database.size, rows):
            items = self.database[start : start + rows]
            yield self.image[items], self.text[items]

    def split_labels(self, split: str) -> np.ndarray:
        """Labels of the items of ``split``; the harness alone calls this for query and database."""
        return self.labels[getattr(self, split)]

    def train_view(self, *, with_labels: bool) -> TrainView:
        """The training items only, as handed to ``HashMethod.fit``."""
        return TrainView(
            image=self.features("image", "train"),
            text=self.features("text", "train"),
            labels=self.split_labels("train") if with_labels else None,
        )

    @cached_property
    def fingerprint(self) -> str:
        """SHA-256 over every array and the split, so that a record names exactly the data it used."""
        digest = hashlib.sha256()
        for array in (self.image, self.text, self.labels, self.train, self.query, self.database):
            digest.update(str((array.shape, array.dtype.str)).encode())
            for _, block in row_blocks(array):
                digest.update(np.ascontiguousarray(block).tobytes())
        return digest.hexdigest()

    def summary(self) -> dict:
        """Counts and dimensions, for records and listings."""
        return {
            "items": int(self.labels.shape[0]),
            "train": int(self.train.size),
            "query": int(self.query.size),
            "database": int(self.database.size),
            "image_dim": None if is_raw_images(self.image) else int(self.image.shape[1]),
            "raw_images": is_raw_images(self.image),
            "text_dim": int(self.text.shape[1]),
            "classes": self.n_classes,
            "multi_label": bool((self.labels.sum(axis=1) > 1).any()),
        }

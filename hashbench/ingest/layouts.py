"""Datasets that users bring: which released layouts are read, the protocol split, prepare and info.

A :class:`StandardDataset` is a registered dataset plug-in (``mirflickr25k``,
``nuswide``, ...). Calling it loads the prepared form from the data root
(:mod:`hashbench.ingest.prepared`), preparing it first from the files in the
dataset's folder when there is none. :func:`open_source` recognises, in this
order:

1. a feature file of the shallow papers (``I_tr, T_tr, L_tr, I_te, T_te, L_te``
   and maybe ``I_db, T_db, L_db``, in a .mat, .npz or .h5): its own split;
2. DCMH-style MATLAB files: ``LAll`` (labels) and ``YAll`` (text), in one
   file or several, with image features from ``hashbench datasets extract``
   (``image_features.npy``, made from ``IAll``, the raw images, or from the
   image files that ``FAll`` names), or in ``FAll`` when it holds a feature
   matrix rather than the n x 1 cell of file names of the released files;
3. the dataset's own text files (tags and labels; each plug-in says which)
   with ``image_features.{npy,npz,h5,mat}``;
4. per-modality matrices ``image_features.*``, ``text_features.*`` and ``labels.*``.

Layouts 2-4 get the protocol's split, drawn with a fixed seed and stored with
the prepared data, so every method sees the same split. Feature matrices may
list every item of the release or only the items the protocol keeps.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import scipy.sparse
from tqdm.auto import tqdm

from hashbench import __version__
from hashbench.data import CrossModalDataset, DatasetCard, as_labels
from hashbench.errors import UsageError
from hashbench.ingest.matrixfile import MATRIX_SUFFIXES, dense_rows, open_arrays
from hashbench.ingest.prepared import (
    PREPARED,
    dataset_folder,
    load_prepared,
    prepared_folder,
    read_card,
    write_prepared,
)
from hashbench.ingest.single_file import feature_parts, feature_split

IMAGE_FEATURES, TEXT_FEATURES, LABELS = "image_features", "text_features", "labels"
README = "README.md#datasets"


@dataclass(frozen=True)
class Protocol:
    """The papers' split: ``queries`` random items, the rest the database, ``training`` drawn from the database."""

    queries: int
    training: int
    seed: int = 0  # the split seed unless `prepare --split-seed` says otherwise

    def split(self, n: int, seed: int) -> dict[str, np.ndarray]:
        """Sorted row indices of train, query and database for ``n`` items, drawn with ``seed``."""
        if n <= self.queries:
            raise UsageError(f"{n} items: the protocol needs more than its {self.queries} queries")
        rng = np.random.default_rng(seed)
        order = rng.permutation(n)
        database = np.sort(order[self.queries :])
        train = np.sort(rng.choice(database, size=min(self.training, database.size), replace=False))
        return {"train": train, "query": np.sort(order[: self.queries]), "database": database}

    def counts(self, n: int) -> dict[str, int]:
        """Query, database and training counts for ``n`` items."""
        return {"query": self.queries, "database": n - self.queries, "train": min(self.training, n - self.queries)}

    def describe(self, seed: int) -> str:
        """One line for the dataset card."""
        return (
            f"{self.queries:,} random queries, the rest the database, {self.training:,} training items drawn from "
            f"the database (seed {seed})"
        )


@dataclass
class TextLayout:
    """What a dataset's own text files give, one row per item of the release."""

    labels: np.ndarray
    class_names: list[str]
    keep: np.ndarray  # bool per item: those the protocol keeps
    files: list[Path]
    text: Any = None  # items x words (sparse); None: the text comes from text_features.*
    text_about: str = ""


@dataclass
class Source:
    """One dataset as found in a folder, before it is prepared; matrices are read lazily, by rows."""

    layout: str
    image: Any
    text: Any
    labels: np.ndarray
    class_names: list[str]
    files: list[Path]
    image_rows: np.ndarray
    text_rows: np.ndarray
    image_about: str
    text_about: str
    split: dict[str, np.ndarray] | None = None

    @property
    def n(self) -> int:
        """Items the protocol keeps."""
        return self.labels.shape[0]

    def image_block(self, rows: np.ndarray) -> np.ndarray:
        """Dense float32 image features of kept items ``rows``."""
        return dense_rows(self.image, self.image_rows[rows])

    def text_block(self, rows: np.ndarray) -> np.ndarray:
        """Dense float32 text features of kept items ``rows``."""
        return dense_rows(self.text, self.text_rows[rows])


class StackedRows:
    """Several row-indexable matrices read as one, for a feature file's train/test/database parts."""

    def __init__(self, parts: list[Any]) -> None:
        self._parts = parts
        self._offsets = np.cumsum([0, *(part.shape[0] for part in parts)])
        self.shape = (int(self._offsets[-1]), *parts[0].shape[1:])

    def __getitem__(self, rows: np.ndarray) -> np.ndarray:
        rows = np.arange(self.shape[0])[rows]
        blocks = []
        for part, start, stop in zip(self._parts, self._offsets[:-1], self._offsets[1:], strict=True):
            inside = rows[(rows >= start) & (rows < stop)]
            if inside.size:
                blocks.append(dense_rows(part, inside - start))
        return np.concatenate(blocks)


@dataclass(frozen=True)
class StandardDataset:
    """A dataset plug-in whose files users bring; calling it loads (and if needed prepares) it."""

    name: str
    title: str
    reference: str
    licence: str
    labels: str
    protocol: Protocol
    class_names: tuple[str, ...] = ()
    read_text_layout: Callable[[Path], TextLayout | None] = field(default=lambda folder: None)
    text_files: str = ""  # the text-file layout in words, for messages: "all_tags.txt + all_labels.txt + ..."

    def __call__(self) -> CrossModalDataset:
        """The prepared dataset from the data root, prepared from its folder first if it never was."""
        if read_card(prepared_folder(self.name)) is None:
            prepare(self, dataset_folder(self.name))
        return load_prepared(prepared_folder(self.name))

    def expected_files(self) -> str:
        """What the dataset's folder must hold, in words."""
        text_layout = f"{self.text_files} with {IMAGE_FEATURES}.npy" if self.text_files else ""
        options = [
            "a feature file with I_tr, T_tr, L_tr, I_te, T_te, L_te (.mat/.npz/.h5)",
            "DCMH .mat files with LAll and YAll, after `extract` from IAll or the images FAll names",
            *([text_layout] if text_layout else []),
            f"{IMAGE_FEATURES}.npy + {TEXT_FEATURES}.npy + {LABELS}.npy (or .npz/.h5/.mat)",
        ]
        return "; or ".join(options)


def required_file(folder: Path, name: str, what: str) -> Path:
    """``folder/name``, or a one-line error saying it is missing and where the README tells how to get it."""
    path = folder / name
    if not path.is_file():
        raise UsageError(f"{path}: missing; expected {what} (see {README} for how to obtain it)")
    return path


def _matrix_files(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    return sorted(
        path
        for path in folder.iterdir()
        if path.is_file() and path.suffix.lower() in MATRIX_SUFFIXES and not path.name.startswith(".")
    )


@dataclass(frozen=True)
class _Found:
    """A named matrix found in the dataset's folder, and its file."""

    array: Any
    name: str
    path: Path

    def rows_for(self, keep: np.ndarray) -> np.ndarray:
        """Its rows of the kept items: it lists every item of the release, or the kept ones only."""
        rows = self.array.shape[0]
        if rows == keep.size:
            return np.flatnonzero(keep)
        if rows == keep.sum():
            return np.arange(rows)
        raise UsageError(
            f"{self.path}: {self.name} has {rows:,} rows; expected one per item: {keep.size:,} (every item) "
            f"or {int(keep.sum()):,} (the items the protocol keeps)"
        )

    def about(self, what: str) -> str:
        """One line for the card: width, what it is, where from."""
        return f"{self.array.shape[1]}-d {what} ({self.name} in {self.path.name})"

    def labels(self) -> np.ndarray:
        """The matrix as 0/1 labels."""
        labels = self.array.toarray() if scipy.sparse.issparse(self.array) else np.asarray(self.array)
        try:
            return as_labels(labels)
        except UsageError as error:
            raise UsageError(f"{self.path}: {self.name}: {error}") from None


@contextlib.contextmanager
def open_source(spec: StandardDataset, folder: Path) -> Iterator[Source]:
    """The dataset's files in ``folder`` as a :class:`Source` (files stay open while the context lasts)."""
    folder = Path(folder)
    with contextlib.ExitStack() as stack:
        found: dict[str, _Found] = {}
        extracted = [path for path in _matrix_files(dataset_folder(spec.name)) if path.stem == IMAGE_FEATURES]
        for path in dict.fromkeys([*_matrix_files(folder), *extracted]):  # `extract` writes into the data folder
            for name, array in stack.enter_context(open_arrays(path)).items():
                found.setdefault(name, _Found(array, name, path))
        yield _find_layout(spec, folder, found)


def _find_layout(spec: StandardDataset, folder: Path, found: dict[str, _Found]) -> Source:
    if "I_tr" in found:
        path = found["I_tr"].path
        named = {name: item.array for name, item in found.items() if item.path == path}
        spans = feature_parts(named, path)
        image, text = (_Found(StackedRows([named[f"{p}_{part}"] for part in spans]), f"{p}_*", path) for p in "IT")
        labels = np.concatenate([_Found(named[f"L_{part}"], f"L_{part}", path).labels() for part in spans])
        split = feature_split(spans)
        return _assemble(spec, "feature file (I_tr, I_te, ...)", labels, image, text, split=split, label_file=path)

    if "LAll" in found:
        if "YAll" not in found:
            raise UsageError(f"{found['LAll'].path}: has LAll but no YAll in {folder}; expected the DCMH text YAll")
        image = found.get(IMAGE_FEATURES) or (found["FAll"] if _is_feature_matrix(found.get("FAll")) else None)
        if image is None:
            stack = found.get("IAll") or found.get("images")
            hint = (
                f"{stack.path} holds raw images ({stack.name}): run `hashbench datasets extract {spec.name} "
                f"--images {stack.path}` first"
                if stack is not None
                else f"FAll lists image files: run `hashbench datasets extract {spec.name} --images FOLDER` first"
                if "FAll" in found
                else f"expected {IMAGE_FEATURES}.npy from `hashbench datasets extract`, or FAll features"
            )
            raise UsageError(f"{folder}: no image features; {hint}")
        labels = found["LAll"]
        return _assemble(spec, "DCMH .mat", labels.labels(), image, found["YAll"], label_file=labels.path)

    layout = spec.read_text_layout(folder)
    if layout is not None:
        image = _required(found, IMAGE_FEATURES, folder, f"image features, one row per item of {spec.name}")
        text = layout.text is None and _required(found, TEXT_FEATURES, folder, "text features (no text file found)")
        return _assemble(spec, f"{spec.name} text files", layout.labels, image, text or None, text_layout=layout)

    if {IMAGE_FEATURES, TEXT_FEATURES, LABELS} & found.keys():
        image, text, labels = (_required(found, name, folder, name.replace("_", " "))
                               for name in (IMAGE_FEATURES, TEXT_FEATURES, LABELS))  # fmt: skip
        return _assemble(spec, "per-modality matrices", labels.labels(), image, text, label_file=labels.path)

    raise UsageError(
        f"{spec.name}: no dataset files in {folder}; expected {spec.expected_files()} (see {README} for how to "
        "obtain them)"
    )


def _assemble(
    spec: StandardDataset,
    layout: str,
    labels: np.ndarray,
    image: _Found,
    text: _Found | None,
    split: dict[str, np.ndarray] | None = None,
    text_layout: TextLayout | None = None,
    label_file: Path | None = None,
) -> Source:
    """A source from every item's labels and the found matrices; a text layout adds its text and kept items."""
    keep = text_layout.keep if text_layout is not None else np.ones(labels.shape[0], dtype=bool)
    if text is not None:
        text_matrix, text_rows, text_about = text.array, text.rows_for(keep), text.about("text")
    else:
        text_matrix, text_rows, text_about = text_layout.text, np.flatnonzero(keep), text_layout.text_about
    files = [*(text_layout.files if text_layout else [label_file]), image.path, *([text.path] if text else [])]
    class_names = text_layout.class_names if text_layout else _class_names(spec, labels.shape[1])
    return Source(
        layout=layout,
        image=image.array,
        text=text_matrix,
        labels=labels[keep],
        class_names=class_names,
        files=sorted(set(files)),
        image_rows=image.rows_for(keep),
        text_rows=text_rows,
        image_about=image.about("image features"),
        text_about=text_about,
        split=split,
    )


def _is_feature_matrix(item: _Found | None) -> bool:
    """Whether DCMH's FAll holds features (a numeric matrix) rather than the image file names (an n x 1 cell)."""
    if item is None:
        return False
    return item.array.ndim == 2 and item.array.shape[1] > 1 and np.dtype(item.array.dtype).kind in "fiub"


def _required(found: dict[str, _Found], name: str, folder: Path, what: str) -> _Found:
    if name not in found:
        raise UsageError(
            f"{folder / name}.npy (or .npz/.h5/.mat): missing; expected {what} (see {README} for how to obtain them)"
        )
    return found[name]


def _class_names(spec: StandardDataset, classes: int) -> list[str]:
    if len(spec.class_names) == classes:
        return list(spec.class_names)
    return [f"class {j + 1}" for j in range(classes)]


def _frequencies(labels: np.ndarray, class_names: list[str]) -> dict[str, int]:
    return {name: int(count) for name, count in zip(class_names, labels.sum(axis=0), strict=True)}


def prepare(spec: StandardDataset, folder: Path, split_seed: int | None = None, progress: bool = True) -> dict:
    """Read the dataset's files in ``folder``, validate them, and write the prepared form under the data root."""
    with open_source(spec, folder) as source:
        if source.split is not None:
            split, seed, protocol = source.split, None, "the file's own split (I_tr, I_te, I_db)"
        else:
            seed = spec.protocol.seed if split_seed is None else split_seed
            split, protocol = spec.protocol.split(source.n, seed), spec.protocol.describe(seed)
        card = DatasetCard(
            name=spec.name,
            source=f"{source.layout} in {Path(folder).resolve()}",
            licence=spec.licence,
            protocol=protocol,
            features={"image": source.image_about, "text": source.text_about},
            labels=spec.labels,
            reference=spec.reference,
        )
        about = {
            "layout": source.layout,
            "files": [{"path": str(Path(path).resolve()), "bytes": Path(path).stat().st_size} for path in source.files],
            "split_seed": seed,
            "class_names": source.class_names,
            "label_frequencies": _frequencies(source.labels, source.class_names),
            "hashbench_version": __version__,
            "prepared_at": datetime.now(timezone.utc).isoformat(),
        }
        with tqdm(total=2 * source.n, desc=f"prepare {spec.name}", unit="row", disable=not progress or None) as bar:
            return write_prepared(
                prepared_folder(spec.name),
                n=source.n,
                image=source.image_block,
                text=source.text_block,
                labels=source.labels,
                split=split,
                card=card,
                about=about,
                progress=bar.update,
            )


def info(spec: StandardDataset) -> dict[str, Any]:
    """What is known of the dataset without preparing it: the prepared card, or counts read from its files."""
    folder = dataset_folder(spec.name)
    card = read_card(folder / PREPARED)
    if card is not None:
        return {"state": "prepared", "folder": str(folder), **card}
    protocol = spec.protocol.describe(spec.protocol.seed)
    found = {"folder": str(folder), "expected_files": spec.expected_files(), "protocol": protocol}
    try:
        with open_source(spec, folder) as source:
            split = source.split or {}
            return {
                **found,
                "state": "files found, not prepared yet",
                "layout": source.layout,
                **_counts(spec, source.labels, source.class_names, {k: int(v.size) for k, v in split.items()}),
                "image_dim": int(source.image.shape[1]),
                "text_dim": int(source.text.shape[1]),
            }
    except UsageError as error:
        layout = _text_layout_or_none(spec, folder)
        if layout is None:
            empty = not folder.is_dir() or not any(folder.iterdir())
            return {**found, "state": "no files yet" if empty else f"not available: {error}"}
        labels = layout.labels[layout.keep]
        return {**found, "state": f"text files found; {error}", **_counts(spec, labels, layout.class_names, {})}


def _text_layout_or_none(spec: StandardDataset, folder: Path) -> TextLayout | None:
    try:
        return spec.read_text_layout(folder)
    except UsageError:
        return None


def _counts(spec: StandardDataset, labels: np.ndarray, class_names: list[str], split: dict[str, int]) -> dict:
    return {
        "counts": {"items": labels.shape[0], **(split or spec.protocol.counts(labels.shape[0]))},
        "classes": len(class_names),
        "label_frequencies": _frequencies(labels, class_names),
    }

"""A dataset from one feature file in the shallow papers' layout, with no code.

The file (MATLAB ``.mat`` v5 or v7.3, numpy ``.npz``, or HDF5 ``.h5``) holds
``I_tr, T_tr, L_tr`` (training pairs: image features, text features, labels),
``I_te, T_te, L_te`` (the queries) and optionally ``I_db, T_db, L_db`` (the
database). For the backbone mode of deep methods the ``I_`` arrays may hold
raw images instead: image file paths (strings, relative to the file's folder)
or (n, 3, H, W) pixel arrays. Without a database the training set is the
database, as in the shallow papers' Wikipedia protocol. Labels are 0/1 rows,
one column per class.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from hashbench.data import CrossModalDataset, DatasetCard
from hashbench.errors import UsageError
from hashbench.ingest.matrixfile import open_arrays

SUFFIXES = (".mat", ".npz", ".h5", ".hdf5")
EXPECTED = "a feature file with I_tr, T_tr, L_tr, I_te, T_te, L_te (optionally I_db, T_db, L_db)"
_PARTS = ("tr", "te", "db")


def looks_like_path(name: str) -> bool:
    """Whether a ``--dataset`` value names a feature file rather than a registered dataset."""
    return Path(name).suffix.lower() in SUFFIXES or "/" in name


def feature_parts(arrays: dict[str, Any], path: Path) -> dict[str, np.ndarray]:
    """The parts of a feature file (``tr``, ``te`` and maybe ``db``) as row ranges of the stacked items.

    Checks that every part has its I_, T_ and L_ arrays with one row per item.
    """
    parts = [part for part in _PARTS if f"I_{part}" in arrays]
    for part in parts:
        for prefix in "ITL":
            if f"{prefix}_{part}" not in arrays:
                raise UsageError(f"{path}: has I_{part} but no {prefix}_{part}; expected I_, T_ and L_ arrays together")
    for required in ("tr", "te"):
        if required not in parts:
            raise UsageError(f"{path}: missing array I_{required}; expected {EXPECTED}")
    for part in parts:
        rows = {f"{p}_{part}": arrays[f"{p}_{part}"].shape[0] for p in "ITL"}
        if len(set(rows.values())) != 1:
            counts = ", ".join(f"{name} has {n}" for name, n in rows.items())
            raise UsageError(f"{path}: row counts disagree ({counts}); expected one row per item")
    for prefix in "ITL":
        if len({arrays[f"{prefix}_{part}"].shape[1:] for part in parts}) != 1:
            raise UsageError(f"{path}: {prefix}_ arrays have different numbers of columns")
    sizes = [arrays[f"L_{part}"].shape[0] for part in parts]
    offsets = np.cumsum([0, *sizes])
    return {part: np.arange(offsets[i], offsets[i + 1]) for i, part in enumerate(parts)}


def feature_split(spans: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The split a feature file defines: training part, test part as queries, database part or training set."""
    return {"train": spans["tr"], "query": spans["te"], "database": spans.get("db", spans["tr"])}


def load_feature_file(path: str | Path) -> CrossModalDataset:
    """Read ``path`` as a cross-modal dataset: train, queries and (optional) database."""
    path = Path(path)
    if path.suffix.lower() not in SUFFIXES:
        raise UsageError(f"{path}: unknown file type {path.suffix!r}; expected one of {', '.join(SUFFIXES)}")
    with open_arrays(path, expected=EXPECTED) as arrays:
        spans = feature_parts(arrays, path)

        def stacked(prefix: str) -> np.ndarray:
            whole = np.concatenate([np.asarray(arrays[f"{prefix}_{part}"]) for part in spans])
            if whole.dtype.kind == "U":  # image file paths, relative to the feature file's folder
                whole = np.array([str(path.parent / name) for name in whole])
            return whole

        def described(prefix: str) -> str:
            first = arrays[f"{prefix}_tr"]
            if first.ndim == 2:
                return f"{first.shape[1]}-d from {prefix}_*"
            return f"raw images from {prefix}_* ({'file paths' if first.dtype.kind == 'U' else 'pixel arrays'})"

        card = DatasetCard(
            name=path.stem,
            source=str(path),
            licence="as distributed by the file's provider",
            protocol="I_te queries; " + ("I_db database" if "db" in spans else "training set is the database"),
            features={"image": described("I"), "text": described("T")},
            labels=f"{arrays['L_tr'].shape[1]} classes from L_*",
        )
        try:
            return CrossModalDataset(
                card=card, image=stacked("I"), text=stacked("T"), labels=stacked("L"), **feature_split(spans)
            )
        except UsageError as error:
            raise UsageError(f"{path}: {error}") from None

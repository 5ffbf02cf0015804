"""A dataset from one feature file in the shallow papers' layout, with no code.

The file (MATLAB ``.mat`` v5, or numpy ``.npz``) holds ``I_tr, T_tr, L_tr``
(training pairs: image features, text features, labels), ``I_te, T_te, L_te``
(the queries) and optionally ``I_db, T_db, L_db`` (the database). For the
backbone mode of deep methods the ``I_`` arrays may hold raw images instead:
image file paths (strings, relative to the file's folder) or (n, 3, H, W)
pixel arrays. Without a
database the training set is the database, as in the shallow papers' Wikipedia
protocol. Labels are 0/1 rows, one column per class.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import scipy.io

from hashbench.data import CrossModalDataset, DatasetCard
from hashbench.errors import UsageError

SUFFIXES = (".mat", ".npz")
_PARTS = ("tr", "te", "db")


def looks_like_path(name: str) -> bool:
    """Whether a ``--dataset`` value names a feature file rather than a registered dataset."""
    return Path(name).suffix.lower() in SUFFIXES or "/" in name


def _read_arrays(path: Path) -> dict[str, np.ndarray]:
    if not path.is_file():
        raise UsageError(f"{path}: no such file; expected a .mat or .npz feature file")
    suffix = path.suffix.lower()
    try:
        if suffix == ".mat":
            return {k: v for k, v in scipy.io.loadmat(path).items() if not k.startswith("__")}
        if suffix == ".npz":
            with np.load(path, allow_pickle=False) as data:
                return {key: data[key] for key in data.files}
    except (OSError, ValueError, TypeError, zipfile.BadZipFile, NotImplementedError) as error:
        raise UsageError(f"{path}: cannot be read as a {suffix} feature file ({error})") from None
    raise UsageError(f"{path}: unknown file type {suffix!r}; expected one of {', '.join(SUFFIXES)}")


def load_feature_file(path: str | Path) -> CrossModalDataset:
    """Read ``path`` as a cross-modal dataset: train, queries and (optional) database."""
    path = Path(path)
    arrays = _read_arrays(path)
    parts = [part for part in _PARTS if f"I_{part}" in arrays]
    for part in parts:
        for prefix in "ITL":
            if f"{prefix}_{part}" not in arrays:
                raise UsageError(f"{path}: has I_{part} but no {prefix}_{part}; expected I_, T_ and L_ arrays together")
    for required in ("tr", "te"):
        if required not in parts:
            raise UsageError(f"{path}: missing array I_{required}; expected I_tr, T_tr, L_tr, I_te, T_te, L_te")
    for part in parts:
        rows = {f"{p}_{part}": arrays[f"{p}_{part}"].shape[0] for p in "ITL"}
        if len(set(rows.values())) != 1:
            counts = ", ".join(f"{name} has {n}" for name, n in rows.items())
            raise UsageError(f"{path}: row counts disagree ({counts}); expected one row per item")
    sizes = [arrays[f"L_{part}"].shape[0] for part in parts]
    offsets = dict(zip(parts, np.cumsum([0, *sizes[:-1]]), strict=True))
    span = {part: np.arange(offsets[part], offsets[part] + size) for part, size in zip(parts, sizes, strict=True)}

    def stacked(prefix: str) -> np.ndarray:
        matrices = [np.asarray(arrays[f"{prefix}_{part}"]) for part in parts]
        if len({m.shape[1:] for m in matrices}) != 1:
            raise UsageError(f"{path}: {prefix}_ arrays have different numbers of columns")
        whole = np.concatenate(matrices)
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
        protocol="I_te queries; " + ("I_db database" if "db" in parts else "training set is the database"),
        features={"image": described("I"), "text": described("T")},
        labels=f"{arrays['L_tr'].shape[1]} classes from L_*",
    )
    try:
        return CrossModalDataset(
            card=card,
            image=stacked("I"),
            text=stacked("T"),
            labels=stacked("L"),
            train=span["tr"],
            query=span["te"],
            database=span.get("db", span["tr"]),
        )
    except UsageError as error:
        raise UsageError(f"{path}: {error}") from None

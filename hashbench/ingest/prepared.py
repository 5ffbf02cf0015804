"""Where datasets live, and their prepared form: memory-mappable matrices, the split and a card.

The data root is ``--data-dir`` (which sets ``HASHBENCH_DATA`` for the
command and the processes it starts), else ``$HASHBENCH_DATA``, else
``~/.cache/hashbench``; dataset ``NAME`` lives in ``ROOT/NAME/``, its prepared
form in ``ROOT/NAME/prepared/``:

* ``image.npy``, ``text.npy`` -- float32 feature matrices, one row per item;
* ``labels.npy`` -- the 0/1 label matrix (bool);
* ``split.npz`` -- ``train``, ``query``, ``database``: row indices;
* ``card.json`` -- the dataset card, counts, class names and frequencies, the
  files it was made from, and ``fingerprint``: the SHA-256 that every run
  records. Loading recomputes it and refuses data that no longer matches.

The folder is written under a temporary name and renamed into place, so an
interrupted ``prepare`` leaves the previous prepared form or none.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import numpy as np

from hashbench.data import CrossModalDataset, DatasetCard
from hashbench.errors import UsageError
from hashbench.files import current_umask

DATA_ENV = "HASHBENCH_DATA"
PREPARED = "prepared"
CARD_FILE = "card.json"
#: Items written per block by :func:`write_prepared`.
WRITE_ROWS = 4096


def data_root() -> Path:
    """The folder that holds one sub-folder per dataset."""
    configured = os.environ.get(DATA_ENV)
    return Path(configured).expanduser() if configured else Path.home() / ".cache" / "hashbench"


def dataset_folder(name: str) -> Path:
    """Where the files of dataset ``name`` are expected: ``data_root()/name``."""
    return data_root() / name


def prepared_folder(name: str) -> Path:
    """The prepared form of dataset ``name``."""
    return dataset_folder(name) / PREPARED


def read_card(folder: Path) -> dict[str, Any] | None:
    """The ``card.json`` of a prepared folder, or ``None`` when it was never prepared."""
    path = folder / CARD_FILE
    if not path.is_file():
        return None
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as error:
        raise UsageError(f"{path}: unreadable ({error}); expected the card of `hashbench datasets prepare`") from None


def write_prepared(
    folder: Path,
    *,
    n: int,
    image: Callable[[np.ndarray], np.ndarray],
    text: Callable[[np.ndarray], np.ndarray],
    labels: np.ndarray,
    split: dict[str, np.ndarray],
    card: DatasetCard,
    about: dict[str, Any],
    progress: Callable[[int], None] = lambda rows: None,
) -> dict[str, Any]:
    """Write the prepared form of ``n`` items into ``folder`` and return its card.

    ``image(rows)`` and ``text(rows)`` give the dense float32 feature rows of
    item indices ``rows``; they are called block by block, so the source may be
    larger than memory. The data is validated (through :class:`CrossModalDataset`)
    before the folder is renamed into place.
    """
    folder.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.", suffix=".tmp"))
    try:
        matrices = {}
        for name, rows_of in (("image", image), ("text", text)):
            width = rows_of(np.arange(min(n, 1))).shape[1]
            matrix = np.lib.format.open_memmap(staging / f"{name}.npy", mode="w+", dtype=np.float32, shape=(n, width))
            for start in range(0, n, WRITE_ROWS):
                rows = np.arange(start, min(start + WRITE_ROWS, n))
                matrix[rows[0] : rows[-1] + 1] = rows_of(rows)
                progress(rows.size)
            matrix.flush()
            matrices[name] = matrix
        np.save(staging / "labels.npy", np.asarray(labels, dtype=bool))
        np.savez(staging / "split.npz", **split)
        dataset = CrossModalDataset(card=card, labels=labels, **matrices, **split)
        summary = {**about, "card": asdict(card), "summary": dataset.summary(), "fingerprint": dataset.fingerprint}
        (staging / CARD_FILE).write_text(json.dumps(summary, indent=1) + "\n")
        del matrices, dataset
        _replace_folder(staging, folder)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        raise
    return summary


def _replace_folder(staging: Path, folder: Path) -> None:
    os.chmod(staging, 0o777 & ~current_umask())
    if folder.exists():
        retired = Path(tempfile.mkdtemp(dir=folder.parent, prefix=f".{folder.name}.", suffix=".old"))
        os.replace(folder, retired / folder.name)
        os.replace(staging, folder)
        shutil.rmtree(retired, ignore_errors=True)
    else:
        os.replace(staging, folder)


def load_prepared(folder: Path) -> CrossModalDataset:
    """The dataset prepared in ``folder``, memory-mapped; its fingerprint is checked against the card's."""
    about = read_card(folder)
    if about is None:
        raise UsageError(f"{folder}: not prepared; expected the output of `hashbench datasets prepare`")
    try:
        image, text = (np.load(folder / f"{name}.npy", mmap_mode="r") for name in ("image", "text"))
        labels = np.load(folder / "labels.npy")
        with np.load(folder / "split.npz") as split:
            splits = {name: split[name] for name in ("train", "query", "database")}
    except (OSError, ValueError, KeyError) as error:
        raise UsageError(f"{folder}: unreadable ({error}); run `hashbench datasets prepare` again") from None
    dataset = CrossModalDataset(card=DatasetCard(**about["card"]), image=image, text=text, labels=labels, **splits)
    if dataset.fingerprint != about["fingerprint"]:
        raise UsageError(
            f"{folder}: the prepared data no longer matches the checksum in {CARD_FILE}; "
            "run `hashbench datasets prepare` again"
        )
    return dataset

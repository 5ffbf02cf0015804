"""``hashbench datasets extract``: image features from pixels with a CNN, batched and resumable.

The images come from a folder of image files, in the order of the dataset's
image list (``all_imgs.txt``, else the ``FAll`` file names of a DCMH ``.mat``,
in the folder or in the dataset's data folder; each name is looked up as
given, then by its last part), or from a MATLAB ``.mat``/``.h5`` file with the
DCMH release's ``IAll`` (or ``images``; height x width x 3 x n in MATLAB).
Each batch is resized to 224 x 224, ImageNet-normalised and passed through
the backbone up to its penultimate layer (VGG-16 fc7: 4,096-d; ResNet-50
pool: 2,048-d). The rows go to ``image_features.npy`` in the
dataset's data folder, which ``prepare`` then reads.

Progress is saved after every batch (``.image_features.partial.npy`` and its
``.json``); running the same command again resumes after the last saved batch.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import scipy.io
import torch
from tqdm.auto import tqdm

from hashbench.backbones import BACKBONES, image_tensor
from hashbench.device import resolve_device
from hashbench.errors import UsageError
from hashbench.files import atomic_write
from hashbench.ingest.layouts import IMAGE_FEATURES, StandardDataset
from hashbench.ingest.matrixfile import MATRIX_SUFFIXES, open_arrays
from hashbench.ingest.prepared import dataset_folder
from hashbench.ingest.textfiles import read_lines

EXTRACT_BACKBONES = ("vgg16", "resnet50")
IMAGE_LIST = "all_imgs.txt"
IMAGE_SIZE = 224


def _image_list(spec: StandardDataset, images: Path) -> list[Path]:
    """The image files in item order: from ``all_imgs.txt``, else from DCMH's ``FAll`` (an n x 1 cell of names)."""
    folders = (images, dataset_folder(spec.name))
    for folder in folders:
        if (folder / IMAGE_LIST).is_file():
            names = [line.strip() for line in read_lines(folder / IMAGE_LIST) if line.strip()]
            return [_locate(images, name) for name in names]
    for path in (path for folder in folders if folder.is_dir() for path in sorted(folder.glob("*.mat"))):
        names = _file_names(path)
        if names is not None:
            return [_locate(images, name) for name in names]
    raise UsageError(
        f"{images / IMAGE_LIST}: missing; expected the list of image files in item order, one per line (or a "
        f"DCMH .mat with FAll), in {images} or {dataset_folder(spec.name)}"
    )


def _file_names(path: Path) -> list[str] | None:
    """The names in a MATLAB v5 file's ``FAll`` cell array, or ``None`` when it has none."""
    try:
        if "FAll" not in {name for name, _, _ in scipy.io.whosmat(path)}:
            return None
        cells = scipy.io.loadmat(path, variable_names=["FAll"])["FAll"]
    except (OSError, ValueError, NotImplementedError):  # not v5 (v7.3 cells hold references), or unreadable
        return None
    if cells.dtype.kind not in "OU":
        return None
    return [str(np.asarray(cell).ravel()[0]).strip() for cell in cells.ravel()]


def _locate(images: Path, name: str) -> Path:
    for candidate in (images / name, images / Path(name).name):
        if candidate.is_file():
            return candidate
    raise UsageError(f"{images / name}: no such image file; expected every image of {IMAGE_LIST} under {images}")


@dataclass(frozen=True)
class ImageSource:
    """The images to extract: how many, how to read rows of them, and what identifies them for a resume."""

    count: int
    rows: Callable[[np.ndarray], np.ndarray]  # item indices -> file paths, or (rows, 3, height, width) pixels
    identity: str


def _matlab_images(array: Any) -> Callable[[np.ndarray], np.ndarray]:
    """Rows of a MATLAB height x width x 3 x n image stack as (rows, 3, height, width)."""
    return lambda rows: np.asarray(array[:, :, :, rows]).transpose(3, 2, 0, 1)


def extract(
    spec: StandardDataset,
    images: Path,
    backbone: str,
    batch_size: int = 64,
    device: str = "cpu",
    pretrained: bool = True,
    progress: bool = True,
) -> Path:
    """Write ``image_features.npy`` for ``spec`` from the images at ``images``; return its path."""
    if backbone not in BACKBONES:
        raise UsageError(f"expected one of {', '.join(sorted(BACKBONES))}", thing="backbone", value=repr(backbone))
    images = Path(images)
    options = (backbone, batch_size, device, pretrained, progress)
    if images.is_dir():
        paths = np.array([str(path) for path in _image_list(spec, images)])
        listed = hashlib.sha256("\n".join(paths).encode()).hexdigest()
        return _extract(spec, ImageSource(paths.size, lambda rows: paths[rows], listed), *options)
    if images.suffix.lower() not in MATRIX_SUFFIXES:
        raise UsageError(
            "expected a folder of image files, or a .mat/.h5 file holding IAll", thing="images", value=images
        )
    with open_arrays(images, expected="a .mat/.h5 file holding IAll (height x width x 3 x n)") as arrays:
        stack = arrays.get("IAll", arrays.get("images"))
        if stack is None or stack.ndim != 4 or stack.shape[2] != 3:
            raise UsageError(f"{images}: no IAll of shape height x width x 3 x n; expected the DCMH image stack")
        identity = f"{images.resolve()} {stack.shape} {images.stat().st_mtime_ns}"
        return _extract(spec, ImageSource(stack.shape[3], _matlab_images(stack), identity), *options)


def _extract(
    spec: StandardDataset,
    source: ImageSource,
    backbone: str,
    batch_size: int,
    device: str,
    pretrained: bool,
    progress: bool,
) -> Path:
    folder = dataset_folder(spec.name)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{IMAGE_FEATURES}.npy"
    partial, state_path = folder / f".{IMAGE_FEATURES}.partial.npy", folder / f".{IMAGE_FEATURES}.partial.json"
    key = {"images": source.identity, "backbone": backbone, "pretrained": pretrained, "items": source.count}
    state = json.loads(state_path.read_text()) if state_path.is_file() and partial.is_file() else None
    device = resolve_device(device)
    model, width = BACKBONES[backbone](pretrained)
    model = model.eval().to(device)
    n = source.count
    if state is not None and state["key"] == key:
        features, done = np.load(partial, mmap_mode="r+"), state["rows_done"]
    else:
        features, done = np.lib.format.open_memmap(partial, mode="w+", dtype=np.float32, shape=(n, width)), 0
    with torch.no_grad(), tqdm(total=n, initial=done, desc=f"extract {spec.name}", unit="image",
                               disable=not progress or None) as bar:  # fmt: skip
        for start in range(done, n, batch_size):
            rows = np.arange(start, min(start + batch_size, n))
            batch = image_tensor(source.rows(rows), IMAGE_SIZE).to(device)
            features[rows[0] : rows[-1] + 1] = model(batch).cpu().numpy()
            features.flush()
            state = json.dumps({"key": key, "rows_done": int(rows[-1] + 1)}).encode()
            atomic_write(state_path, lambda file, text=state: file.write(text))
            bar.update(rows.size)
    del features
    os.replace(partial, target)
    state_path.unlink()
    return target

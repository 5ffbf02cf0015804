"""``hashbench datasets extract``: image features from pixels with a CNN, batched and resumable.

The images come from a folder of image files, in the order of the dataset's
image list (``all_imgs.txt`` in the folder or in the dataset's data folder;
each name is looked up as given, then by its last part), or from a MATLAB
``.mat``/``.h5`` file with the DCMH release's ``IAll`` (height x width x 3 x n
in MATLAB). Each batch is resized to 224 x 224, ImageNet-normalised and passed
through the backbone up to its penultimate layer (VGG-16 fc7: 4,096-d;
ResNet-50 pool: 2,048-d). The rows go to ``image_features.npy`` in the
dataset's data folder, which ``prepare`` then reads.

Progress is saved after every batch (``.image_features.partial.npy`` and its
``.json``); running the same command again resumes after the last saved batch.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tqdm.auto import tqdm

from hashbench.backbones import BACKBONES, image_tensor
from hashbench.device import resolve_device
from hashbench.errors import UsageError
from hashbench.matrixfile import MATRIX_SUFFIXES, open_arrays
from hashbench.prepared import dataset_folder
from hashbench.standard import IMAGE_FEATURES, StandardDataset
from hashbench.store import atomic_write
from hashbench.textfiles import read_lines

EXTRACT_BACKBONES = ("vgg16", "resnet50")
IMAGE_LIST = "all_imgs.txt"
IMAGE_SIZE = 224


def _image_list(spec: StandardDataset, images: Path) -> list[Path]:
    for folder in (images, dataset_folder(spec.name)):
        if (folder / IMAGE_LIST).is_file():
            names = [line.strip() for line in read_lines(folder / IMAGE_LIST) if line.strip()]
            return [_locate(images, name) for name in names]
    raise UsageError(
        f"{images / IMAGE_LIST}: missing; expected the list of image files in item order, one per line, in "
        f"{images} or {dataset_folder(spec.name)}"
    )


def _locate(images: Path, name: str) -> Path:
    for candidate in (images / name, images / Path(name).name):
        if candidate.is_file():
            return candidate
    raise UsageError(f"{images / name}: no such image file; expected every image of {IMAGE_LIST} under {images}")


def _matlab_images(array: Any) -> Callable[[np.ndarray], np.ndarray]:
    """Rows of a MATLAB height x width x 3 x n image stack as (rows, 3, height, width)."""
    return lambda rows: np.asarray(array[:, :, :, rows]).transpose(3, 2, 0, 1)


def _source_key(images: Path, backbone: str, pretrained: bool, n: int) -> dict[str, Any]:
    return {"images": str(images.resolve()), "backbone": backbone, "pretrained": pretrained, "items": n}


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
        raise UsageError(f"--backbone {backbone!r}: expected one of {', '.join(sorted(BACKBONES))}")
    images = Path(images)
    if images.is_dir():
        paths = np.array([str(path) for path in _image_list(spec, images)])
        return _extract(spec, images, lambda rows: paths[rows], paths.size, backbone, batch_size, device, pretrained,
                        progress)  # fmt: skip
    if images.suffix.lower() not in MATRIX_SUFFIXES:
        raise UsageError(f"--images {images}: expected a folder of image files, or a .mat/.h5 file holding IAll")
    with open_arrays(images, expected="a .mat/.h5 file holding IAll (height x width x 3 x n)") as arrays:
        stack = arrays.get("IAll")
        if stack is None or stack.ndim != 4 or stack.shape[2] != 3:
            raise UsageError(f"{images}: no IAll of shape height x width x 3 x n; expected the DCMH image stack")
        return _extract(spec, images, _matlab_images(stack), stack.shape[3], backbone, batch_size, device,
                        pretrained, progress)  # fmt: skip


def _extract(spec, images, rows_of, n, backbone, batch_size, device, pretrained, progress) -> Path:
    folder = dataset_folder(spec.name)
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{IMAGE_FEATURES}.npy"
    partial, state_path = folder / f".{IMAGE_FEATURES}.partial.npy", folder / f".{IMAGE_FEATURES}.partial.json"
    key = _source_key(images, backbone, pretrained, n)
    state = json.loads(state_path.read_text()) if state_path.is_file() and partial.is_file() else None
    device = resolve_device(device)
    model, width = BACKBONES[backbone](pretrained)
    model = model.eval().to(device)
    if state is not None and state["key"] == key:
        features, done = np.load(partial, mmap_mode="r+"), state["rows_done"]
    else:
        features, done = np.lib.format.open_memmap(partial, mode="w+", dtype=np.float32, shape=(n, width)), 0
    with torch.no_grad(), tqdm(total=n, initial=done, desc=f"extract {spec.name}", unit="image",
                               disable=not progress or None) as bar:  # fmt: skip
        for start in range(done, n, batch_size):
            rows = np.arange(start, min(start + batch_size, n))
            batch = image_tensor(rows_of(rows), IMAGE_SIZE).to(device)
            features[rows[0] : rows[-1] + 1] = model(batch).cpu().numpy()
            features.flush()
            state = json.dumps({"key": key, "rows_done": int(rows[-1] + 1)}).encode()
            atomic_write(state_path, lambda file, text=state: file.write(text))
            bar.update(rows.size)
    del features
    os.replace(partial, target)
    state_path.unlink()
    return target

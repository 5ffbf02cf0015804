"""NUS-WIDE (Chua et al., CIVR 2009): 269,648 Flickr images, 81 concepts; the DCMH protocol on the 21 most frequent.

Besides the common layouts (see :mod:`hashbench.ingest.layouts`), the folder may hold

* the official ground truth ``Groundtruth.zip`` (or its unpacked
  ``Groundtruth/`` folder): ``AllLabels/Labels_<concept>.txt``, one 0/1 per
  image. The 21 concepts with the most images are the classes (columns in the
  official alphabetical order) and the 195,834 images with at least one of
  them are the items. Text: the official ``AllTags1k.txt`` (1,000 0/1 values
  per image, the 1,000 most frequent tags), else ``text_features.*``;
* the DCHMT text files: ``labels_annotation.txt`` (comma-separated concept
  names per item; 190,421 items) and ``all_tags.txt`` (comma-separated tags),
  whose text is the 0/1 bag of the 1,000 tags found in the most items.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

import numpy as np
import scipy.sparse

from hashbench.errors import UsageError
from hashbench.ingest.layouts import Protocol, StandardDataset, TextLayout, required_file
from hashbench.ingest.textfiles import (
    bag_of_words,
    most_frequent,
    parse_binary_rows,
    read_binary_rows,
    read_label_names,
    read_name_lists,
)
from hashbench.registry import register_dataset

CONCEPTS = 21
TAGS = 1000
#: The 21 most frequent of the 81 concepts (by images in AllLabels), in the official alphabetical order.
CLASS_NAMES = (
    "animal", "beach", "buildings", "clouds", "flowers", "grass", "lake", "mountain", "ocean", "person", "plants",
    "reflection", "road", "rocks", "sky", "snow", "sunset", "tree", "vehicle", "water", "window",
)  # fmt: skip
TEXT_FILES = "Groundtruth.zip (+ AllTags1k.txt), or labels_annotation.txt + all_tags.txt,"


def read_ground_truth(path: Path) -> tuple[list[str], np.ndarray]:
    """Concept names and the images x 81 label matrix of ``Groundtruth.zip`` or an unpacked ``Groundtruth/``."""
    if path.is_dir():
        files = {member.name: member for member in path.rglob("Labels_*.txt") if member.parent.name == "AllLabels"}
        read = {name: Path(member).read_bytes for name, member in files.items()}
    else:
        try:
            archive = zipfile.ZipFile(path)
        except (OSError, zipfile.BadZipFile) as error:
            raise UsageError(f"{path}: not a readable zip ({error}); expected NUS-WIDE's Groundtruth.zip") from None
        members = [m for m in archive.namelist() if "AllLabels/Labels_" in m and m.endswith(".txt")]
        read = {m.rpartition("/")[2]: (lambda m=m: archive.read(m)) for m in members}
    if not read:
        raise UsageError(f"{path}: no AllLabels/Labels_<concept>.txt files; expected NUS-WIDE's ground truth")
    names = sorted(read)
    columns = [parse_binary_rows(read[name](), 1, f"{path}: {name}")[:, 0] for name in names]
    if len({column.size for column in columns}) != 1:
        raise UsageError(f"{path}: the AllLabels files have different numbers of lines; expected one per image")
    concepts = [name.removeprefix("Labels_").removesuffix(".txt") for name in names]
    return concepts, np.stack(columns, axis=1)


def most_frequent_concepts(concepts: list[str], labels: np.ndarray, top: int) -> np.ndarray:
    """Column indices of the ``top`` concepts with the most images (ties: alphabetical), in column order."""
    order = sorted(range(len(concepts)), key=lambda j: (-int(labels[:, j].sum()), concepts[j]))
    return np.sort(np.array(order[:top]))


def _official(folder: Path) -> TextLayout | None:
    truth = next((p for p in (folder / "Groundtruth.zip", folder / "Groundtruth") if p.exists()), None)
    if truth is None:
        return None
    concepts, labels = read_ground_truth(truth)
    chosen = most_frequent_concepts(concepts, labels, CONCEPTS)
    labels = labels[:, chosen]
    tags_path = folder / "AllTags1k.txt"
    text = None
    if tags_path.is_file():
        text = scipy.sparse.csr_matrix(read_binary_rows(tags_path, TAGS), dtype=np.float32)
        if text.shape[0] != labels.shape[0]:
            raise UsageError(f"{tags_path}: {text.shape[0]:,} lines; expected {labels.shape[0]:,}, one per image")
    return TextLayout(
        labels=labels,
        class_names=[concepts[j] for j in chosen],
        keep=labels.any(axis=1),
        files=[truth, *([tags_path] if text is not None else [])],
        text=text,
        text_about=f"{TAGS:,}-d 0/1 tags of {tags_path.name}",
    )


def _dchmt(folder: Path) -> TextLayout | None:
    labels_path = folder / "labels_annotation.txt"
    if not labels_path.is_file():
        return None
    tags_path = required_file(folder, "all_tags.txt", "comma-separated tags, a line per line of labels_annotation.txt")
    labels = read_label_names(labels_path, CLASS_NAMES)
    documents = read_name_lists(tags_path)
    if len(documents) != labels.shape[0]:
        raise UsageError(f"{tags_path}: {len(documents):,} lines but {labels_path} has {labels.shape[0]:,}")
    vocabulary = most_frequent(documents, TAGS)
    return TextLayout(
        labels=labels,
        class_names=list(CLASS_NAMES),
        keep=labels.any(axis=1),
        files=[labels_path, tags_path],
        text=bag_of_words(documents, vocabulary),
        text_about=f"{len(vocabulary):,}-d 0/1 bag of the most frequent tags of {tags_path.name}",
    )


def read_text_layout(folder: Path) -> TextLayout | None:
    """The DCHMT text files in ``folder``, else the official ground truth, else ``None``."""
    return _dchmt(folder) or _official(folder)


NUSWIDE = register_dataset("nuswide")(
    StandardDataset(
        name="nuswide",
        title="NUS-WIDE: Flickr images with tags, 21 most frequent of 81 concepts (bring the files; see README)",
        reference="Chua et al., NUS-WIDE: A Real-World Web Image Database from NUS, ACM CIVR 2009",
        licence="research use; see the NUS-WIDE terms of the National University of Singapore",
        labels=f"the {CONCEPTS} most frequent of 81 concepts, multi-label",
        protocol=Protocol(queries=2100, training=10500),
        class_names=CLASS_NAMES,
        read_text_layout=read_text_layout,
        text_files=TEXT_FILES,
    )
)

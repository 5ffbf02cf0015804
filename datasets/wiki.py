"""The Wikipedia benchmark (Rasiwasia et al., ACM MM 2010), bundled with hashbench.

The files in ``wiki/`` are the original "wikipedia_info" feature release,
byte for byte; ``wiki/SOURCE.txt`` gives their provenance and licence.
"""

from __future__ import annotations

from importlib.resources import as_file, files

import numpy as np
import scipy.io

from hashbench.data import CrossModalDataset, DatasetCard
from hashbench.errors import UsageError
from hashbench.registry import register_dataset

CARD = DatasetCard(
    name="wiki",
    source="Wikipedia featured articles, 'wikipedia_info' feature release (see datasets/wiki/SOURCE.txt)",
    licence="repository ISC licence (emanuetre/crossmodal); upstream SVCL/UCSD data terms not verified",
    protocol="693 test pairs are the queries; the 2,173 training pairs are the training set and the database",
    features={"image": "128-d SIFT bag-of-visual-words histogram", "text": "10-d LDA topic proportions"},
    labels="10 categories, single-label (categories.list order)",
    reference="Rasiwasia et al., A New Approach to Cross-Modal Multimedia Retrieval, ACM MM 2010",
)


def _read_categories(text: str, source: str, n_classes: int) -> np.ndarray:
    categories = []
    for line_number, line in enumerate(text.splitlines(), start=1):
        fields = line.split("\t")
        if len(fields) != 3 or not fields[2].strip().isdigit():
            raise UsageError(f"{source}: line {line_number}: expected 'text-id<TAB>image-id<TAB>category'")
        categories.append(int(fields[2]))
    categories = np.asarray(categories)
    if categories.min() < 1 or categories.max() > n_classes:
        raise UsageError(f"{source}: categories must lie in 1..{n_classes}")
    return categories


def _read_mat(path) -> dict:
    try:
        return scipy.io.loadmat(path)
    except (OSError, ValueError) as error:
        raise UsageError(f"{path}: not a readable MATLAB file ({error})") from None


@register_dataset("wiki")
def load_wiki() -> CrossModalDataset:
    """Wikipedia: 2,173 training/database pairs, 693 query pairs, 10 categories."""
    folder = files("hashbench.datasets") / "wiki"
    class_names = (folder / "categories.list").read_text().split()
    with as_file(folder / "raw_features.mat") as path:
        mat = _read_mat(path)
    missing = [key for key in ("I_tr", "T_tr", "I_te", "T_te") if key not in mat]
    if missing:
        raise UsageError(f"{folder / 'raw_features.mat'}: missing array {missing[0]!r}")
    categories = np.concatenate(
        [
            _read_categories((folder / name).read_text(), str(folder / name), len(class_names))
            for name in ("trainset_txt_img_cat.list", "testset_txt_img_cat.list")
        ]
    )
    n_train = mat["I_tr"].shape[0]
    n_items = categories.size
    return CrossModalDataset(
        card=CARD,
        image=np.vstack([mat["I_tr"], mat["I_te"]]),
        text=np.vstack([mat["T_tr"], mat["T_te"]]),
        labels=np.eye(len(class_names), dtype=bool)[categories - 1],
        train=np.arange(n_train),
        query=np.arange(n_train, n_items),
        database=np.arange(n_train),
    )

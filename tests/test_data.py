"""Dataset validation and the bundled Wikipedia benchmark."""

import re
from pathlib import Path

import numpy as np
import pytest
import scipy.io

from hashbench.data import CrossModalDataset, DatasetCard
from hashbench.errors import UsageError
from hashbench.harness.runner import load_dataset

FIXTURES = Path(__file__).parent / "fixtures"
CARD = DatasetCard("toy", "unit test", "none", "none", {"image": "2-d", "text": "3-d"}, "2 classes")


def toy(**overrides):
    fields = dict(
        card=CARD,
        image=np.zeros((4, 2)),
        text=np.ones((4, 3)),
        labels=np.array([[1, 0], [0, 1], [1, 1], [1, 0]]),
        train=np.array([0, 1]),
        query=np.array([2]),
        database=np.array([0, 1, 3]),
    )
    fields.update(overrides)
    return CrossModalDataset(**fields)


def test_valid_dataset_is_converted_to_float32_and_bool():
    dataset = toy()
    assert dataset.image.dtype == np.float32 and dataset.labels.dtype == bool
    assert dataset.summary()["multi_label"] is True


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"image": np.array([[0, 0], [np.nan, 0], [0, 0], [0, 0]])}, "image features: NaN or inf in row 1"),
        ({"text": np.full((4, 3), np.inf)}, "text features: NaN or inf in row 0"),
        ({"text": np.ones((5, 3))}, "text features: 5 rows, but the labels have 4"),
        ({"labels": np.array([[2, 0], [0, 1], [1, 1], [1, 0]])}, "labels: expected only 0 and 1"),
        ({"query": np.array([4])}, "split 'query': indices must lie in 0..3"),
        ({"train": np.array([0, 0])}, "split 'train': indices must not repeat"),
        ({"query": np.array([1])}, "query and database overlap"),
        ({"image": np.zeros(4)}, "expected a 2-D matrix"),
    ],
)
def test_invalid_dataset_is_rejected_with_a_clear_message(overrides, message):
    with pytest.raises(UsageError, match=re.escape(message)):
        toy(**overrides)


def test_wiki_has_the_documented_counts_and_dimensions():
    wiki = load_dataset("wiki")
    assert wiki.summary() == {
        "items": 2866,
        "train": 2173,
        "query": 693,
        "database": 2173,
        "image_dim": 128,
        "raw_images": False,
        "text_dim": 10,
        "classes": 10,
        "multi_label": False,
    }
    np.testing.assert_array_equal(wiki.train, wiki.database)
    # per-category counts of the 693 queries, from column 3 of testset_txt_img_cat.list
    assert wiki.split_labels("query").sum(axis=0).tolist() == [34, 88, 96, 85, 65, 58, 51, 41, 71, 104]


def test_wiki_matches_the_independent_mtfh_release_exactly():
    """The MTFH authors' wikiData.mat holds the same features and one-hot labels as the original release."""
    mtfh = scipy.io.loadmat(FIXTURES / "wikiData_MTFH_onehot.mat")
    wiki = load_dataset("wiki")
    for modality, key in (("image", "I"), ("text", "T")):
        np.testing.assert_array_equal(wiki.features(modality, "train"), mtfh[f"{key}_tr"].astype(np.float32))
        np.testing.assert_array_equal(wiki.features(modality, "query"), mtfh[f"{key}_te"].astype(np.float32))
    np.testing.assert_array_equal(wiki.split_labels("train"), mtfh["L_tr"].astype(bool))
    np.testing.assert_array_equal(wiki.split_labels("query"), mtfh["L_te"].astype(bool))


def test_train_view_hides_labels_from_unsupervised_methods():
    dataset = toy()
    assert dataset.train_view(with_labels=False).labels is None
    np.testing.assert_array_equal(dataset.train_view(with_labels=True).labels, [[1, 0], [0, 1]])
    assert dataset.train_view(with_labels=True).n == 2


def test_fingerprint_changes_with_the_split():
    assert toy().fingerprint == toy().fingerprint
    assert toy().fingerprint != toy(train=np.array([0, 3])).fingerprint

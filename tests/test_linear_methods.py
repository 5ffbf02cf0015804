"""CVH, CCA-ITQ and CMSSH mechanics on the real Wikipedia training data."""

import itertools

import numpy as np
import pytest
import scipy.linalg

from hashbench.devkit.conformance import check_datasets
from hashbench.harness.runner import load_dataset
from hashbench.methods.cca_itq import CcaItq
from hashbench.methods.cmssh import Cmssh, best_thresholds, sample_pairs
from hashbench.methods.cvh import Cvh


@pytest.fixture(scope="module")
def wiki_train():
    return load_dataset("wiki").train_view(with_labels=True)


def top_canonical_correlation(x, y, reg):
    """The largest canonical correlation, by whitening both views and an SVD (no shared code)."""
    x, y = x - x.mean(0), y - y.mean(0)
    whiten_x = np.linalg.inv(scipy.linalg.cholesky(x.T @ x + reg * np.eye(x.shape[1])))
    whiten_y = np.linalg.inv(scipy.linalg.cholesky(y.T @ y + reg * np.eye(y.shape[1])))
    return np.linalg.svd(whiten_x.T @ x.T @ y @ whiten_y, compute_uv=False)[0]


def test_cvh_first_bit_projects_onto_the_top_canonical_pair(wiki_train):
    method = Cvh().fit(wiki_train, 16, seed=0)
    x = wiki_train.image.astype(np.float64) - method.means_["image"]
    y = wiki_train.text.astype(np.float64) - method.means_["text"]
    w_x, w_y = method.projections_["image"][:, 0], method.projections_["text"][:, 0]
    regularised = (
        (x @ w_x)
        @ (y @ w_y)
        / np.sqrt(
            (w_x @ (x.T @ x + 1e-4 * np.eye(x.shape[1])) @ w_x) * (w_y @ (y.T @ y + 1e-4 * np.eye(y.shape[1])) @ w_y)
        )
    )
    expected = top_canonical_correlation(wiki_train.image.astype(np.float64), wiki_train.text.astype(np.float64), 1e-4)
    assert regularised == pytest.approx(expected, rel=1e-9)
    assert 1 <= method.informative_bits_ <= 10  # the text is 10-d


def test_cca_itq_quantisation_loss_never_increases(wiki_train):
    method = CcaItq().fit(wiki_train, 32, seed=0)
    losses = method.quantisation_loss_
    assert len(losses) == 50
    assert all(b <= a * (1 + 1e-12) for a, b in itertools.pairwise(losses))
    assert method.cca_dims_ <= 10


def test_cmssh_pairs_are_similar_or_dissimilar_as_labelled():
    small, _ = check_datasets()
    labels = small.split_labels("train")
    i, j, s = sample_pairs(labels, 500, np.random.default_rng(0))
    assert (s == 1).sum() == 500 and (s == -1).sum() == 500
    shares = (labels[i] & labels[j]).any(axis=1)
    np.testing.assert_array_equal(shares, s == 1)


def test_cmssh_thresholds_are_the_best_on_their_grid():
    rng = np.random.default_rng(0)
    px, py = rng.standard_normal(50), rng.standard_normal(50)
    i, j = rng.integers(0, 50, 300), rng.integers(0, 50, 300)
    signed = rng.standard_normal(300)
    a, b = best_thresholds(px, py, i, j, signed, 9)
    grid_x, grid_y = np.quantile(px, np.linspace(0, 1, 11)[1:-1]), np.quantile(py, np.linspace(0, 1, 11)[1:-1])

    def score(ta, tb):
        return np.sum(signed * np.where(px[i] >= ta, 1, -1) * np.where(py[j] >= tb, 1, -1))

    assert score(a, b) == pytest.approx(max(score(ta, tb) for ta in grid_x for tb in grid_y))


def test_cmssh_every_weak_learner_beats_chance_and_separates_pairs(wiki_train):
    method = Cmssh().fit(wiki_train, 16, seed=0)
    assert all(error < 0.5 for error in method.errors_)
    i, j, s = sample_pairs(wiki_train.labels, 2000, np.random.default_rng(1))
    image_codes, text_codes = method.encode("image", wiki_train.image), method.encode("text", wiki_train.text)
    distance = (image_codes[i] != text_codes[j]).sum(axis=1)
    assert distance[s == 1].mean() < distance[s == -1].mean() - 1

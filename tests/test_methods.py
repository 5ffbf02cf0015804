"""Mechanics of the built-in methods on the real Wikipedia training data."""

import itertools

import numpy as np
import pytest

from hashbench import registry
from hashbench.devkit.conformance import check_datasets
from hashbench.errors import UsageError
from hashbench.harness.runner import load_dataset
from hashbench.methods.scm import ScmOrth, semantic_cross_covariance


@pytest.fixture(scope="module")
def wiki():
    return load_dataset("wiki")


def fitted(name, wiki, bits=16, seed=0, **params):
    """A fitted method; deep ones train for two epochs unless told otherwise (the code-length mechanics do
    not need more)."""
    method_class = registry.methods.get(name)
    method = method_class(**({"epochs": 2} if method_class.kind == "deep" else {}) | params)
    return method.fit(wiki.train_view(with_labels=method.supervised), bits, seed=seed)


@pytest.mark.parametrize("name", registry.methods.names())
@pytest.mark.parametrize("bits", [8, 128, 200])
def test_codes_have_the_requested_length_and_two_values(name, bits):
    """Also past the feature dimensions (Wikipedia text is 10-d, image 128-d). Determinism and batch
    independence of every method are checked by `hashbench check` (test_conformance.py)."""
    small, _ = check_datasets()
    method = fitted(name, small, bits=bits)
    for modality in ("image", "text"):
        codes = np.asarray(method.encode(modality, small.features(modality, "query")))
        assert codes.shape == (small.query.size, bits)
        assert set(np.unique(codes)) <= {0, 1}


def test_cmfh_objective_never_increases(wiki):
    objective = fitted("cmfh", wiki, bits=32).objective_
    assert len(objective) == 25
    assert all(later <= earlier * (1 + 1e-12) for earlier, later in itertools.pairwise(objective))
    assert objective[-1] < 0.1 * objective[0]


def test_cmfh_tolerance_stops_early(wiki):
    method = fitted("cmfh", wiki, bits=32, tol=100.0, iters=200)
    assert 1 < len(method.objective_) < 200
    assert method.objective_[-2] - method.objective_[-1] < 100.0


def test_cmfh_unified_codes_are_balanced_and_differ_from_either_modality(wiki):
    method = fitted("cmfh", wiki)
    image, text = wiki.features("image", "database"), wiki.features("text", "database")
    unified = method.encode_unified(image, text)
    assert 0.2 < unified.mean() < 0.8  # thresholded at the training mean of Y, so bits are balanced
    assert not np.array_equal(unified, method.encode("image", image))
    assert not np.array_equal(unified, method.encode("text", text))


def test_scm_cross_covariance_equals_the_explicit_similarity_matrix():
    rng = np.random.default_rng(0)
    x, y = rng.standard_normal((30, 5)), rng.standard_normal((30, 4))
    labels = rng.random((30, 6)) < 0.3
    normalised = labels / np.maximum(np.linalg.norm(labels, axis=1, keepdims=True), 1e-300)
    similarity = 2 * normalised @ normalised.T - 1
    np.testing.assert_allclose(semantic_cross_covariance(x, y, labels, 16), x.T @ (16 * similarity) @ y, atol=1e-9)


SUPERVISED = [name for name in registry.methods.names() if registry.methods.get(name).supervised]


@pytest.mark.parametrize("name", SUPERVISED)
def test_a_supervised_method_refuses_a_view_without_labels_in_one_way(name, wiki):
    """Every supervised method reads its labels through HashMethod.training_labels, so all refuse alike."""
    method = registry.methods.get(name)()
    with pytest.raises(UsageError, match=f"^method '{name}' is supervised: the training view has no labels$"):
        method.fit(wiki.train_view(with_labels=False), 16, seed=0)


def test_training_labels_are_boolean_whatever_the_view_holds(wiki):
    view = wiki.train_view(with_labels=True)
    as_bytes = type(view)(view.image, view.text, view.labels.astype(np.uint8))
    labels = ScmOrth().training_labels(as_bytes)
    assert labels.dtype == bool and np.array_equal(labels, view.labels)


def test_scm_puts_the_larger_modality_first_and_stays_finite_past_the_rank(wiki):
    method = fitted("scm-orth", wiki, bits=64)
    assert method.x_modality_ == "image"
    # text is 10-d and the 10 classes sum to one after centring: at most 9 informative directions
    assert 1 <= method.informative_bits_ <= 9
    for projection in method.projections_.values():
        assert projection.shape[1] == 64 and np.isfinite(projection).all() and np.isrealobj(projection)


def test_scm_seq_learns_bits_sequentially(wiki):
    method = fitted("scm-seq", wiki, bits=32)
    assert method.sequential_bits_ >= 5

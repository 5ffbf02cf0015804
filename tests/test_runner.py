"""The runner hands a method the training view only, and records what it did."""

import numpy as np
import pytest

from hashbench.method import HashMethod, Reference, sign_bits
from hashbench.runner import RunConfig, check_bits, execute, load_dataset


class Spy(HashMethod):
    """Records what fit and encode receive."""

    name = "spy"
    reference = Reference("Test", "Spy", "nowhere", 2026)

    def fit(self, train, bits, *, seed, device="cpu"):
        self.seen_ = train
        self.w_ = {
            m: np.random.default_rng(seed).standard_normal((train.features(m).shape[1], bits))
            for m in ("image", "text")
        }
        return self

    def encode(self, modality, features):
        return sign_bits(features @ self.w_[modality])


class SupervisedSpy(Spy):
    supervised = True


@pytest.fixture(scope="module")
def wiki():
    return load_dataset("wiki")


@pytest.mark.parametrize("cls", [Spy, SupervisedSpy])
def test_fit_sees_training_items_only_and_labels_only_when_supervised(cls, wiki):
    method = cls()
    execute(RunConfig("spy", bits=8), wiki, method)
    seen = method.seen_
    np.testing.assert_array_equal(seen.image, wiki.image[wiki.train])
    np.testing.assert_array_equal(seen.text, wiki.text[wiki.train])
    if cls.supervised:
        np.testing.assert_array_equal(seen.labels, wiki.labels[wiki.train])
    else:
        assert seen.labels is None


def test_the_record_states_conventions_timings_and_versions(wiki):
    record = execute(RunConfig("spy", bits=8), wiki, Spy()).record
    assert record["conventions"]["no_relevant_query"] == "AP = 0, counted in the mean"
    assert record["variant"] == "" and record["reference"] == "Test, nowhere 2026"
    timings = record["timings"]
    assert set(timings["search_s"]) == {"i2t", "t2i"}
    assert timings["encode_database_s_per_item"] > 0 and timings["search_s_per_query"] > 0
    assert record["code_bytes"] == {"query": 693, "database": 2173}
    assert record["versions"]["numpy"] == np.__version__


@pytest.mark.parametrize("bits", [0, -3, 1025, 2.5, True])
def test_bits_out_of_range_are_refused(bits):
    with pytest.raises(ValueError, match="expected a positive integer of at most 1024"):
        check_bits(bits)

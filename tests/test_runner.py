"""The runner hands a method the training view only, and records what it did."""

import numpy as np
import pytest

from hashbench.errors import UsageError
from hashbench.harness.runner import RunConfig, check_bits, execute, load_dataset, make_method, run_id
from hashbench.method import HashMethod, Reference, sign_bits


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
    assert record.conventions["no_relevant_query"] == "AP = 0, counted in the mean"
    assert record.variant == "" and record.reference == "Test, nowhere 2026"
    timings = record.timings
    assert set(timings["search_s"]) == {"i2t", "t2i"}
    assert timings["encode_database_s_per_item"] > 0 and timings["search_s_per_query"] > 0
    assert record.code_bytes == {"query": 693, "database": 2173}
    assert record.versions["numpy"] == np.__version__
    assert min(timings["fit_cpu_s"], timings["encode_database_cpu_s_per_item"], timings["search_cpu_s_per_query"]) >= 0
    machine = record.machine
    assert machine["usable_cores"] >= 1 and machine["threads"]["torch"] >= 1
    assert len(machine["load_before"]) == 3 and len(machine["load_after"]) == 3


@pytest.mark.parametrize("bits", [0, -3, 1025, 2.5, True])
def test_bits_out_of_range_are_refused(bits):
    with pytest.raises(ValueError, match="expected a positive integer of at most 1024"):
        check_bits(bits)


def test_database_codes_are_per_modality_by_default_and_unified_on_request(wiki):
    modality = execute(RunConfig("cmfh", bits=16), wiki, make_method(RunConfig("cmfh", bits=16)))
    assert modality.record.db_codes == "modality"
    assert not np.array_equal(modality.codes["database_image"], modality.codes["database_text"])
    config = RunConfig("cmfh", bits=16, db_codes="unified")
    unified = execute(config, wiki, make_method(config))
    assert unified.record.db_codes == "unified"
    np.testing.assert_array_equal(unified.codes["database_image"], unified.codes["database_text"])
    np.testing.assert_array_equal(unified.codes["query_image"], modality.codes["query_image"])  # queries as before
    assert unified.record.run_id != modality.record.run_id
    assert unified.record.metrics["t2i"]["map"] > modality.record.metrics["t2i"]["map"] + 0.1


def test_a_method_without_unified_codes_refuses_them_before_it_trains(wiki):
    config = RunConfig("spy", bits=8, db_codes="unified")
    method = Spy()
    with pytest.raises(UsageError, match="method 'spy' has no unified codes"):
        execute(config, wiki, method)
    assert not hasattr(method, "seen_")
    with pytest.raises(UsageError, match="database codes 'both': expected one of modality, unified"):
        run_id(RunConfig("cmfh", db_codes="both"), make_method(RunConfig("cmfh", db_codes="both")), wiki)


def test_the_record_scores_the_fit_on_the_training_set(wiki):
    record = execute(RunConfig("cmfh", bits=16), wiki, make_method(RunConfig("cmfh", bits=16))).record
    fit = record.training_fit
    assert fit["queries"] == 2000 and 0.111 < fit["i2t"] < 1 and 0.111 < fit["t2i"] < 1
    # on Wikipedia the training set is the database, so the fit's t2i is close to the query t2i's level or above
    assert fit["t2i"] > record.metrics["t2i"]["map"] - 0.05
    assert record.warnings == []


def test_a_deep_run_left_at_the_likelihood_saddle_says_so(wiki):
    config = RunConfig("dcmh", bits=16, params={"epochs": 1, "lr_image": 1e-9, "lr_text": 1e-9, "text_hidden": 64})
    record = execute(config, wiki, make_method(config)).record
    assert record.fit_info["losses"][-1]["likelihood_per_pair"] == pytest.approx(np.log(2), rel=0.01)
    assert len(record.warnings) == 1 and "within 1% of log 2" in record.warnings[0]

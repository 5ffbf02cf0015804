"""Checks every deep method shares: interrupt a fit and resume it; same seed, same codes, from one modality."""

import numpy as np
import pytest


def interrupted_then_resumed(make, train, bits, checkpoint, monkeypatch, owner, name, fail_on_call):
    """Fit ``make()`` with ``owner.name`` raising KeyboardInterrupt on its ``fail_on_call``-th call (as a
    killed process would stop), then fit a fresh ``make()`` from the same checkpoint; return that one."""
    original, calls = getattr(owner, name), []

    def dies(*args, **kwargs):
        calls.append(1)
        if len(calls) == fail_on_call:
            raise KeyboardInterrupt
        return original(*args, **kwargs)

    interrupted = make()
    interrupted.checkpoint_path = checkpoint
    monkeypatch.setattr(owner, name, dies)
    with pytest.raises(KeyboardInterrupt):
        interrupted.fit(train, bits, seed=0)
    monkeypatch.setattr(owner, name, original)
    resumed = make()
    resumed.checkpoint_path = checkpoint
    return resumed.fit(train, bits, seed=0)


def assert_resumes_like_uninterrupted(make, train, bits, checkpoint, monkeypatch, owner, name, fail_on_call, epoch):
    """The fit killed as in :func:`interrupted_then_resumed` resumes after ``epoch`` finished epochs and ends
    with the uninterrupted fit's losses and codes."""
    whole = make().fit(train, bits, seed=0)
    resumed = interrupted_then_resumed(make, train, bits, checkpoint, monkeypatch, owner, name, fail_on_call)
    assert resumed.fit_info()["resumed_from_epoch"] == epoch
    assert resumed.fit_info()["losses"] == whole.fit_info()["losses"]
    for modality in ("image", "text"):
        features = train.features(modality)
        np.testing.assert_array_equal(resumed.encode(modality, features), whole.encode(modality, features))


def assert_seeded_and_encodes_from_one_modality(make, train, modality):
    """The same seed gives the same codes, another seed other codes, and encoding ``modality`` needs only
    that modality's network."""
    features = train.features(modality)
    codes = [make().fit(train, 16, seed=seed).encode(modality, features) for seed in (1, 1, 2)]
    np.testing.assert_array_equal(codes[0], codes[1])
    assert (codes[0] != codes[2]).any()
    method = make().fit(train, 16, seed=1)
    method.networks_ = {modality: method.networks_[modality]}  # every other network gone
    np.testing.assert_array_equal(method.encode(modality, features), codes[0])

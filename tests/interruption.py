"""Kill a deep fit mid-way and fit again from its checkpoint: the resume check shared by the deep methods."""

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

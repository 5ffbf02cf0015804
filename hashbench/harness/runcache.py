"""Configurations against a results store: reuse the stored record, or run the configuration and store it."""

from __future__ import annotations

from collections.abc import Callable

from hashbench.data import CrossModalDataset
from hashbench.harness.record import RunRecord
from hashbench.harness.runner import RunConfig, RunResult, checkpoint_path, execute, make_method, run_id
from hashbench.harness.store import ResultsStore

#: What :func:`run_stored` says of a record that the store already held.
ALREADY_STORED = "already there"


def run_stored(
    config: RunConfig,
    dataset: CrossModalDataset,
    store: ResultsStore,
    *,
    rerun: bool = False,
    backend: str = "auto",
    device: str = "cpu",
    on_record: Callable[[RunRecord], None] | None = None,
) -> tuple[RunRecord, str]:
    """The record of ``config``: the stored one (unless ``rerun``), or a fresh run's, written atomically; and
    where it is: :data:`ALREADY_STORED`, or the path it was written to.

    A deep method's checkpoint lives in the store while it trains and is deleted once the record is written.
    ``on_record`` is called with each newly stored record (for tracking).
    """
    method = make_method(config)
    existing = None if rerun else store.get(run_id(config, method, dataset))
    if existing is not None:
        return existing, ALREADY_STORED
    result = execute(config, dataset, method, backend=backend, device=device, checkpoint_dir=store.checkpoint_dir)
    record = store_result(store, result, on_record)
    return record, str(store.path_of(record.run_id))


def store_result(
    store: ResultsStore, result: RunResult, on_record: Callable[[RunRecord], None] | None = None
) -> RunRecord:
    """Write a finished run's record and codes (its training checkpoint is then no longer needed), and hand
    the stored record to ``on_record``."""
    record = store.write(result.record, result.codes)
    checkpoint_path(store.checkpoint_dir, record.run_id).unlink(missing_ok=True)
    if on_record is not None:
        on_record(record)
    return record

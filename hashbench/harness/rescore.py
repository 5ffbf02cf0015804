"""``hashbench rescore``: score every stored run's codes again under the current evaluation, without training.

A record keeps the evaluation version its scores were computed under (``evaluation_version``). Rescoring reads
each record's packed codes, scores them with the same function a run uses (:func:`hashbench.harness.runner.score_codes`)
on the record's dataset, and rewrites the record atomically with the new metrics and curves, the current
evaluation version and a ``rescored`` entry (when, from which version, with which software). What describes the
run itself stays: parameters, timings, the machine, the training-set fit (computed from the fitted model, which
is not stored). Records of an older layout come out in the current one, under the file name their run id gives.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any

from hashbench.data import CrossModalDataset
from hashbench.errors import UsageError
from hashbench.harness.record import EVALUATION_VERSION, RunRecord
from hashbench.harness.runner import load_dataset, score_codes, versions
from hashbench.harness.store import ResultsStore
from hashbench.scoring.metrics import CONVENTIONS
from hashbench.scoring.search import resolve_backend


@dataclass
class Outcome:
    """What rescoring did to one record: ``rescored``, or ``skipped`` with the reason."""

    run_id: str
    file: str
    status: str
    detail: str = ""


def rescore_record(record: RunRecord, codes: dict[str, Any], dataset: CrossModalDataset, backend: str) -> RunRecord:
    """``record`` with its codes scored again under the current evaluation."""
    scores = score_codes(codes, dataset, record.bits, backend=backend)
    return dataclasses.replace(
        record,
        metrics=scores.metrics,
        curves=scores.curves,
        conventions=CONVENTIONS,
        evaluation_version=EVALUATION_VERSION,
        rescored={
            "at": datetime.now(timezone.utc).isoformat(),
            "from_evaluation_version": record.evaluation_version,
            "search_backend": backend,
            "versions": versions(),
        },
    )


def rescore_store(
    store: ResultsStore, backend: str = "auto", report: Callable[[Outcome], None] = lambda outcome: None
) -> list[Outcome]:
    """Rescore every record of ``store`` (:func:`rescore_record`), rewriting each in place; a record whose dataset
    cannot be loaded here, or has changed since the run (another fingerprint), is left as it was and reported."""
    backend = resolve_backend(backend)
    datasets: dict[str, CrossModalDataset | str] = {}
    outcomes = []
    for record, path in store.record_paths():
        name = record.dataset
        if name not in datasets:
            try:
                datasets[name] = load_dataset(name)
            except UsageError as error:
                datasets[name] = f"dataset {name!r} cannot be loaded here ({error})"
        dataset = datasets[name]
        if isinstance(dataset, str):
            outcome = Outcome(record.run_id, path.name, "skipped", dataset)
        elif dataset.fingerprint != record.dataset_fingerprint:
            outcome = Outcome(record.run_id, path.name, "skipped",
                              f"dataset {name!r} has changed since the run (another fingerprint)")  # fmt: skip
        else:
            store.rewrite(rescore_record(record, store.codes(record), dataset, backend), path)
            outcome = Outcome(record.run_id, path.name, "rescored")
        report(outcome)
        outcomes.append(outcome)
    return outcomes

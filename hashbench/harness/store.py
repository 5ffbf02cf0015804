"""The results store: one JSON record per run, its packed codes beside it, written atomically.

A record ``<name>.json`` appears only after its codes ``<name>.npz`` are in
place, and each file is written under a temporary name and renamed, so a
killed run leaves either a complete record or none. The run id in each file
name lets a repeated configuration be recognised and skipped.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from hashbench.errors import UsageError
from hashbench.files import atomic_write
from hashbench.harness.record import RunRecord

CODE_ARRAYS = ("query_image", "query_text", "database_image", "database_text")


def method_label(record: RunRecord) -> str:
    """The method as tables and plots name it: with its non-default parameters, a thread count other than
    one (it changes some methods' codes, so such runs are rows of their own), for unified database codes the
    protocol, e.g. ``seph-km (anchors=300, threads=2) [unified]``, and for codes made elsewhere (``hashbench
    evaluate``) ``[external]``."""
    return label_of(record.method, record.variant, record.threads or 1, record.db_codes, record.external is not None)


def label_of(
    method: str, variant: str = "", threads: int = 1, db_codes: str = "modality", external: bool = False
) -> str:
    """The label of :func:`method_label` from its parts."""
    details = [part for part in (variant, f"threads={threads}" if threads != 1 else "") if part]
    label = method + (f" ({', '.join(details)})" if details else "")
    label += " [unified]" if db_codes == "unified" else ""
    return label + (" [external]" if external else "")


def record_name(record: RunRecord) -> str:
    """File stem of a record: readable fields, then the run id."""
    return f"{record.dataset}__{record.method}__{record.bits}b__seed{record.seed}__{record.run_id}"


class ResultsStore:
    """A folder of run records."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._renamed: dict[str, Path] | None = None

    def _ensure_root(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise UsageError(
                f"cannot create the folder ({error.strerror})", thing="results folder", value=self.root
            ) from None

    @property
    def checkpoint_dir(self) -> Path:
        """Where resumable methods keep their training checkpoints until their record is stored."""
        return self.root / ".checkpoints"

    def path_of(self, run_id: str) -> Path | None:
        """The record file of ``run_id``, or None if the store does not hold it.

        A file is named by its run id; a record of an older layout, whose id changed when it was migrated on
        read, is found by reading the records once (:meth:`_migrated_paths`)."""
        matches = sorted(self.root.glob(f"*__{run_id}.json")) if self.root.is_dir() else []
        return matches[0] if matches else self._migrated_paths().get(run_id)

    def _migrated_paths(self) -> dict[str, Path]:
        """Run id -> file of the records whose file name does not carry their (migrated) run id."""
        if self._renamed is None:
            self._renamed = {}
            for path in sorted(self.root.glob("*.json")) if self.root.is_dir() else []:
                identity = self._read(path).run_id
                if not path.stem.endswith(f"__{identity}"):
                    self._renamed.setdefault(identity, path)
        return self._renamed

    def get(self, run_id: str) -> RunRecord | None:
        """The record of ``run_id``, or None."""
        path = self.path_of(run_id)
        return None if path is None else self._read(path)

    def write(self, record: RunRecord, codes: dict[str, np.ndarray]) -> RunRecord:
        """Store a finished run: codes first, then the record that marks it complete; return the stored record."""
        stem = record_name(record)
        codes_path, record_path = self.root / f"{stem}.npz", self.root / f"{stem}.json"
        record = dataclasses.replace(record, codes_file=codes_path.name)
        self._ensure_root()
        atomic_write(codes_path, lambda file: np.savez_compressed(file, **{k: codes[k] for k in CODE_ARRAYS}))
        _write_json(record_path, record)
        return record

    @property
    def failures_path(self) -> Path:
        """The log of runs that raised: one JSON object per line (configuration, error, traceback)."""
        return self.root / "failures.jsonl"

    def log_failure(self, failure: dict[str, Any]) -> None:
        """Append one failed run to :attr:`failures_path` (a single write of one line)."""
        self._ensure_root()
        with self.failures_path.open("a", encoding="utf-8") as log:
            log.write(json.dumps(failure) + "\n")

    def codes(self, record: RunRecord) -> dict[str, np.ndarray]:
        """The packed codes saved beside ``record``."""
        with np.load(self.root / record.codes_file) as data:
            return {key: data[key] for key in CODE_ARRAYS}

    def _read(self, path: Path) -> RunRecord:
        """The record of ``path`` in the current layout (:meth:`RunRecord.from_dict`)."""
        try:
            raw = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise UsageError(f"{path}: not a readable run record ({error})") from None
        try:
            return RunRecord.from_dict(raw)
        except (KeyError, TypeError, AttributeError) as error:
            raise UsageError(f"{path}: not a run record of a known layout (no field {error})") from None
        except UsageError as error:
            raise UsageError(f"{path}: not a run record of a known layout ({error})") from None

    def records(self) -> list[RunRecord]:
        """Every record in the store, in file-name order (:meth:`record_paths`)."""
        return [record for record, _ in self.record_paths()]

    def record_paths(self) -> list[tuple[RunRecord, Path]]:
        """Every record with its file, in file-name order. Where two files hold the same run (a rewrite killed
        between writing the new file and removing the old one), the one named by its run id is the record."""
        found: dict[str, tuple[RunRecord, Path]] = {}
        for path in sorted(self.root.glob("*.json")) if self.root.is_dir() else []:
            record = self._read(path)
            if record.run_id not in found or path.stem.endswith(f"__{record.run_id}"):
                found[record.run_id] = (record, path)
        return sorted(found.values(), key=lambda pair: pair[1].name)

    def rewrite(self, record: RunRecord, path: Path) -> None:
        """Replace the record stored at ``path`` (an older layout or older scores of the same run) by ``record``,
        under the name its run id gives it; its codes move with it. Each step leaves a readable store: the codes
        are linked under the new name, the new record written, then the old files removed."""
        stem = record_name(record)
        old_codes, new_codes = self.root / record.codes_file, self.root / f"{stem}.npz"
        record = dataclasses.replace(record, codes_file=new_codes.name)
        if old_codes != new_codes and not new_codes.exists():
            os.link(old_codes, new_codes)
        new_path = self.root / f"{stem}.json"
        _write_json(new_path, record)
        if path != new_path:
            path.unlink(missing_ok=True)
            if old_codes != new_codes:
                old_codes.unlink(missing_ok=True)
        self._renamed = None

    def frame(self) -> pd.DataFrame:
        """All scalar metrics of the store as a tidy frame (:func:`records_frame`)."""
        return records_frame(self.records())


def _write_json(path: Path, record: RunRecord) -> None:
    text = json.dumps(record.to_dict(), indent=1)
    atomic_write(path, lambda file: file.write(text.encode()))


def records_frame(records: list[RunRecord]) -> pd.DataFrame:
    """All scalar metrics of ``records`` as a tidy frame: one row per (run, task, metric); ``label`` is the method
    as tables name it (:func:`method_label`)."""
    rows = [
        {
            "run_id": record.run_id,
            "method": record.method,
            "label": method_label(record),
            "db_codes": record.db_codes,
            "variant": record.variant,
            "reference": record.reference,
            "dataset": record.dataset,
            "bits": record.bits,
            "seed": record.seed,
            "task": task,
            "metric": metric,
            "value": value,
        }
        for record in records
        for task, metrics in record.metrics.items()
        for metric, value in metrics.items()
    ]
    columns = ["run_id", "method", "label", "db_codes", "variant", "reference", "dataset", "bits", "seed", "task",
               "metric", "value"]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)

"""The results store: one JSON record per run, its packed codes beside it, written atomically.

A record ``<name>.json`` appears only after its codes ``<name>.npz`` are in
place, and each file is written under a temporary name and renamed, so a
killed run leaves either a complete record or none. The run id in each file
name lets a repeated configuration be recognised and skipped.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any

import numpy as np
import pandas as pd

from hashbench.errors import UsageError

CODE_ARRAYS = ("query_image", "query_text", "database_image", "database_text")


def atomic_write(path: Path, write: Callable[[IO[bytes]], None]) -> None:
    """Write ``path`` through ``write(file)`` into a temporary file, then rename it into place.

    The file gets the permissions a plain ``open`` would give (mkstemp's are owner-only), so a shared results
    folder stays readable.
    """
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            write(file)
            file.flush()
            os.fsync(file.fileno())
        os.chmod(temporary, 0o666 & ~current_umask())
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def current_umask() -> int:
    """The process's umask (reading it means setting it, so it is set back at once)."""
    current = os.umask(0)
    os.umask(current)
    return current


def db_codes_of(record: dict[str, Any]) -> str:
    """The database-code protocol of a record: "modality" or "unified".

    Records written before the protocol became a harness setting carry it, if at all, as the method parameter
    ``db_codes``.
    """
    return record.get("db_codes") or record.get("params", {}).get("db_codes", "modality")


def method_label(record: dict[str, Any]) -> str:
    """The method as tables and plots name it: with its non-default parameters, a thread count other than
    one (it changes some methods' codes, so such runs are rows of their own), for unified database codes the
    protocol, e.g. ``seph-km (anchors=300, threads=2) [unified]``, and for codes made elsewhere (``hashbench
    evaluate``) ``[external]``."""
    threads = record.get("threads", 1)
    details = [part for part in (record.get("variant"), f"threads={threads}" if threads != 1 else "") if part]
    label = record["method"] + (f" ({', '.join(details)})" if details else "")
    label += " [unified]" if db_codes_of(record) == "unified" else ""
    return label + (" [external]" if "external" in record else "")


def record_name(record: dict[str, Any]) -> str:
    """File stem of a record: readable fields, then the run id."""
    return f"{record['dataset']}__{record['method']}__{record['bits']}b__seed{record['seed']}__{record['run_id']}"


class ResultsStore:
    """A folder of run records."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)

    def _ensure_root(self) -> None:
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise UsageError(f"--results {self.root}: cannot create the folder ({error.strerror})") from None

    @property
    def checkpoint_dir(self) -> Path:
        """Where resumable methods keep their training checkpoints until their record is stored."""
        return self.root / ".checkpoints"

    def path_of(self, run_id: str) -> Path | None:
        """The record file of ``run_id``, or None if the store does not hold it."""
        matches = sorted(self.root.glob(f"*__{run_id}.json")) if self.root.is_dir() else []
        return matches[0] if matches else None

    def get(self, run_id: str) -> dict[str, Any] | None:
        """The record of ``run_id``, or None."""
        path = self.path_of(run_id)
        return None if path is None else self._read(path)

    def write(self, record: dict[str, Any], codes: dict[str, np.ndarray]) -> dict[str, Any]:
        """Store a finished run: codes first, then the record that marks it complete; return the stored record."""
        self._ensure_root()
        stem = record_name(record)
        codes_path, record_path = self.root / f"{stem}.npz", self.root / f"{stem}.json"
        atomic_write(codes_path, lambda file: np.savez_compressed(file, **{k: codes[k] for k in CODE_ARRAYS}))
        record = {**record, "codes_file": codes_path.name}
        atomic_write(record_path, lambda file: file.write(json.dumps(record, indent=1).encode()))
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

    def codes(self, record: dict[str, Any]) -> dict[str, np.ndarray]:
        """The packed codes saved beside ``record``."""
        with np.load(self.root / record["codes_file"]) as data:
            return {key: data[key] for key in CODE_ARRAYS}

    def _read(self, path: Path) -> dict[str, Any]:
        try:
            return json.loads(path.read_text())
        except (OSError, json.JSONDecodeError) as error:
            raise UsageError(f"{path}: not a readable run record ({error})") from None

    def records(self) -> list[dict[str, Any]]:
        """Every record in the store, in file-name order."""
        if not self.root.is_dir():
            return []
        return [self._read(path) for path in sorted(self.root.glob("*.json"))]

    def frame(self) -> pd.DataFrame:
        """All scalar metrics of the store as a tidy frame (:func:`records_frame`)."""
        return records_frame(self.records())


def records_frame(records: list[dict[str, Any]]) -> pd.DataFrame:
    """All scalar metrics of ``records`` as a tidy frame: one row per (run, task, metric); ``label`` is the method
    as tables name it (:func:`method_label`)."""
    rows = [
        {
            "run_id": record["run_id"],
            "method": record["method"],
            "label": method_label(record),
            "db_codes": db_codes_of(record),
            "variant": record.get("variant", ""),
            "reference": record.get("reference"),
            "dataset": record["dataset"],
            "bits": record["bits"],
            "seed": record["seed"],
            "task": task,
            "metric": metric,
            "value": value,
        }
        for record in records
        for task, metrics in record["metrics"].items()
        for metric, value in metrics.items()
    ]
    columns = ["run_id", "method", "label", "db_codes", "variant", "reference", "dataset", "bits", "seed", "task",
               "metric", "value"]  # fmt: skip
    return pd.DataFrame(rows, columns=columns)

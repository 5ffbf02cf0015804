"""The run record: its fields (:class:`RunRecord`), its identity and layout versions, and how older records
are read. The results store writes and reads every record through :class:`RunRecord`.

A run id hashes only what determines a run's codes: method, parameters, dataset and its fingerprint, code
length, seed, database-code protocol and thread count (sums split across threads round differently, so some
methods' codes change with it). How the codes are scored is not part of it: the record carries its
``evaluation_version``, and ``hashbench rescore`` scores stored codes again under the current one, without
training anything.

``schema_version`` numbers the record's layout. Version 1 (no ``schema_version`` field) hashed the evaluation
version into the run id as ``protocol_version``; :func:`migrate` turns such a record into the current layout
when it is read, so a store of older records keeps working, and nothing else reads older layouts.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import MISSING, dataclass, fields
from typing import Any

from hashbench.errors import UsageError

#: The record layout this hashbench writes.
SCHEMA_VERSION = 2
#: Bumped whenever a change to evaluation would change a stored score; ``hashbench rescore`` brings stored
#: records to it.
EVALUATION_VERSION = 1


def run_id(
    method: str,
    params: dict[str, Any],
    dataset: str,
    fingerprint: str,
    bits: int,
    seed: int,
    db_codes: str,
    threads: int,
) -> str:
    """The id of a run: a hash of what determines its codes, so the same run gets the same id."""
    key = {
        "method": method,
        "params": params,
        "dataset": dataset,
        "dataset_fingerprint": fingerprint,
        "bits": bits,
        "seed": seed,
        "db_codes": db_codes,
        "threads": threads,
    }
    return _digest(json.dumps(key, sort_keys=True))


def external_run_id(name: str, file_digest: str, fingerprint: str, seed: int) -> str:
    """The id of codes made elsewhere (``hashbench evaluate``): their name, file contents, dataset and seed."""
    return _digest(f"external|{name}|{file_digest}|{fingerprint}|{seed}")


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def migrate(record: dict[str, Any]) -> dict[str, Any]:
    """``record`` in the current layout (a new dict; a current record comes back equal)."""
    record = dict(record)
    if record.get("schema_version", 1) == 1:
        record["evaluation_version"] = record.pop("protocol_version", 1)
        record["db_codes"] = db_codes_of(record)
        record["run_id"] = identity_of(record)
        record["schema_version"] = SCHEMA_VERSION
    return record


def identity_of(record: dict[str, Any]) -> str:
    """The run id of a record, from its own fields."""
    if "external" in record:
        return external_run_id(record["method"], record["external"]["sha256"], record["dataset_fingerprint"],
                               record["seed"])  # fmt: skip
    return run_id(
        record["method"], record["params"], record["dataset"], record["dataset_fingerprint"], record["bits"],
        record["seed"], db_codes_of(record), record.get("threads", 1),
    )  # fmt: skip


def db_codes_of(record: dict[str, Any]) -> str:
    """The database-code protocol of a record: "modality" or "unified".

    Records written before the protocol became a harness setting carry it, if at all, as the method parameter
    ``db_codes``.
    """
    return record.get("db_codes") or record.get("params", {}).get("db_codes", "modality")


@dataclass(frozen=True, kw_only=True)
class RunRecord:
    """One run's record in the current layout (``schema_version``): what ran, on which data, its scores, its
    timings and the machine it ran on. The runner and ``hashbench evaluate`` build one; the results store
    writes and reads every record through :meth:`from_dict` and :meth:`to_dict`, so a file holds exactly these
    fields.

    The fields with a default are absent from some records: codes made elsewhere (``external``) were not trained
    here, so they have no ``supervised``, ``dataset_card``, ``threads``, ``device``, ``fit_info``,
    ``training_fit``, ``machine`` or memory; records made before ``machine`` existed lack it; the store sets
    ``codes_file`` and ``hashbench rescore`` sets ``rescored``.
    """

    run_id: str
    method: str
    external: dict[str, Any] | None = None
    params: dict[str, Any]
    params_source: dict[str, Any]
    variant: str
    method_kind: str
    supervised: bool | None = None
    reference: str | None
    dataset: str
    dataset_fingerprint: str
    dataset_summary: dict[str, Any]
    dataset_card: dict[str, Any] | None = None
    bits: int
    seed: int
    db_codes: str
    threads: int | None = None
    device: str | None = None
    search_backend: str
    schema_version: int
    evaluation_version: int
    conventions: dict[str, Any]
    metrics: dict[str, Any]
    curves: dict[str, Any]
    fit_info: dict[str, Any] | None = None
    training_fit: dict[str, Any] | None = None
    warnings: list[str]
    timings: dict[str, Any]
    machine: dict[str, Any] | None = None
    code_bytes: dict[str, int]
    peak_rss_bytes: int | None = None
    peak_rss_scope: str | None = None
    versions: dict[str, Any]
    started_at: str
    finished_at: str
    codes_file: str | None = None
    rescored: dict[str, Any] | None = None

    @classmethod
    def from_dict(cls, stored: dict[str, Any]) -> RunRecord:
        """The record that a JSON object of any known layout holds (:func:`migrate`); a usage error names the
        first field that is missing or unknown, or a layout newer than this hashbench reads."""
        record = migrate(stored)
        if record["schema_version"] > SCHEMA_VERSION:
            raise UsageError(
                f"schema_version {record['schema_version']}: newer than this hashbench reads ({SCHEMA_VERSION})"
            )
        known = {field.name: field for field in fields(cls)}
        unknown = [name for name in record if name not in known]
        if unknown:
            raise UsageError(f"an unknown field {unknown[0]!r}")
        missing = [name for name, field in known.items() if field.default is MISSING and name not in record]
        if missing:
            raise UsageError(f"no field {missing[0]!r}")
        return cls(**record)

    def to_dict(self) -> dict[str, Any]:
        """The record as the JSON object of its file: every field, less the optional ones it does not have."""
        return {
            field.name: getattr(self, field.name)
            for field in fields(self)
            if field.default is MISSING or getattr(self, field.name) is not None
        }

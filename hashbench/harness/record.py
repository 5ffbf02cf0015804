"""The run record's identity and layout versions: what a run id hashes, and how older records are read.

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
from typing import Any

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

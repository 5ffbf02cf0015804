"""Real records for tests: a shipped Wikipedia record (results/wiki/records) with the fields a test sets."""

import dataclasses
import json
from pathlib import Path

from hashbench.harness.record import RunRecord

SHIPPED = sorted((Path(__file__).resolve().parents[1] / "results" / "wiki" / "records").glob("*.json"))


def shipped_record(**changes) -> RunRecord:
    """The first shipped record, less its codes file (a store sets it), with ``changes``."""
    stored = json.loads(SHIPPED[0].read_text())
    del stored["codes_file"]
    return dataclasses.replace(RunRecord.from_dict(stored), **changes)

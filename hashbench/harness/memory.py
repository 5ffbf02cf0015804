"""Peak resident memory of one run.

On Linux the kernel's high-water mark (VmHWM) is reset to the current resident
size before a run (``/proc/self/clear_refs``) and read after it, so a record's
peak belongs to that run even when one process runs many. Elsewhere, or where
the reset is not allowed, the process's lifetime peak (``ru_maxrss``) is the
fallback, and the record says which scope it measured.
"""

from __future__ import annotations

import resource
import sys
from pathlib import Path

_STATUS, _CLEAR_REFS = Path("/proc/self/status"), Path("/proc/self/clear_refs")


def reset_peak() -> str:
    """Start a new peak; return the scope that :func:`peak_rss_bytes` will measure ("run" or "process")."""
    try:
        _CLEAR_REFS.write_text("5")
    except OSError:
        return "process"
    return "run" if _high_water_kib() is not None else "process"


def peak_rss_bytes() -> int:
    """Peak resident size since the last reset (Linux), else over the process's lifetime."""
    high_water = _high_water_kib()
    if high_water is not None:
        return high_water * 1024
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024


def _high_water_kib() -> int | None:
    try:
        lines = _STATUS.read_text().splitlines()
    except OSError:
        return None
    for line in lines:
        if line.startswith("VmHWM:"):
            return int(line.split()[1])
    return None

"""How many threads a test may give a run: the cores shared among pytest-xdist's workers (all of them
without xdist)."""

import os

from hashbench.machine import usable_cores


def threads_per_worker() -> int:
    """Usable cores divided among the xdist workers of this session, at least 1."""
    return max(1, usable_cores() // int(os.environ.get("PYTEST_XDIST_WORKER_COUNT", "1")))

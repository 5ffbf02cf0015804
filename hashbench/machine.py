"""What the machine was doing while a run was timed: wall and CPU seconds, the cores that other processes kept
busy, the load average and the thread pools in force, so that a record says how far its timings can be trusted.

Other processes' share is measured, not guessed from the load average (which lags a minute and counts this
process too): the busy time of every core from ``/proc/stat`` over the interval, less this process's own CPU
time, divided by the wall time, is the mean number of cores that others used. Where ``/proc/stat`` is missing
(not Linux) it is None and only the load average is recorded.
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

PROC_STAT = Path("/proc/stat")
#: Fields of /proc/stat's "cpu" line that count as busy: user, nice, system, irq, softirq, steal.
_BUSY_FIELDS = (0, 1, 2, 5, 6, 7)
#: What OpenMP and BLAS libraries read for their pool size when they load.
THREAD_VARIABLES = ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
#: How many more cores than the run leaves free others may use before its timings are called overstated.
BUSY_TOLERANCE = 0.25

Result = TypeVar("Result")


def usable_cores() -> int:
    """The cores this process may run on (its CPU affinity), else the machine's count."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def machine_busy_seconds(stat: Path = PROC_STAT) -> float | None:
    """CPU seconds that all cores have spent busy since boot, from the ``cpu`` line of ``/proc/stat``."""
    try:
        first = stat.read_text().splitlines()[0].split()
    except (OSError, IndexError):
        return None
    if not first or first[0] != "cpu":
        return None
    ticks = [int(value) for value in first[1:]]
    return sum(ticks[i] for i in _BUSY_FIELDS if i < len(ticks)) / os.sysconf("SC_CLK_TCK")


@dataclass(frozen=True)
class Timing:
    """Wall and CPU seconds of one timed call, and the mean number of cores other processes kept busy."""

    wall_s: float
    cpu_s: float
    others_cores: float | None

    def __add__(self, other: Timing) -> Timing:
        """Two intervals together: seconds add, the others' cores average over the wall time."""
        wall = self.wall_s + other.wall_s
        others = None
        if self.others_cores is not None and other.others_cores is not None and wall > 0:
            others = (self.others_cores * self.wall_s + other.others_cores * other.wall_s) / wall
        return Timing(wall, self.cpu_s + other.cpu_s, others)


def timed(function: Callable[..., Result], *args: Any) -> tuple[Result, Timing]:
    """Call ``function(*args)`` and measure it."""
    busy, cpu, wall = machine_busy_seconds(), time.process_time(), time.perf_counter()
    result = function(*args)
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    after = machine_busy_seconds()
    others = None
    if busy is not None and after is not None and wall > 0:
        others = max(0.0, (after - busy - cpu) / wall)
    return result, Timing(wall, cpu, others)


def threads_in_force() -> dict[str, int]:
    """The size of each thread pool this process would use now: torch's intra-op pool and every BLAS and
    OpenMP library loaded (threadpoolctl)."""
    from threadpoolctl import threadpool_info

    pools = {}
    for pool in threadpool_info():
        name = f"{pool['user_api']}:{pool['internal_api']}"
        pools[name] = max(pools.get(name, 0), pool["num_threads"])
    try:
        import torch
    except ImportError:
        return pools
    return {"torch": torch.get_num_threads(), **pools}


def limit_threads(threads: int) -> Callable[[], None]:
    """Size every thread pool of this process to ``threads``: each BLAS and OpenMP library (threadpoolctl),
    torch's intra-op pool and numba's. Returns what puts the former sizes back."""
    import torch
    from threadpoolctl import threadpool_limits

    try:
        import numba
    except ImportError:
        numba = None
    former = {"torch": torch.get_num_threads(), "numba": numba.get_num_threads() if numba else None}
    former_environment = {name: os.environ.get(name) for name in THREAD_VARIABLES}
    os.environ.update(dict.fromkeys(THREAD_VARIABLES, str(threads)))  # libraries loaded later start at this size
    limits = threadpool_limits(limits=threads)  # the libraries loaded now
    torch.set_num_threads(threads)
    if numba:
        numba.set_num_threads(min(threads, numba.config.NUMBA_NUM_THREADS))

    def restore() -> None:
        limits.restore_original_limits()
        for name, value in former_environment.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        torch.set_num_threads(former["torch"])
        if numba:
            numba.set_num_threads(former["numba"])

    return restore


def machine_before() -> dict[str, Any]:
    """What a record keeps of the machine before a timed phase: usable cores, thread pools, load average."""
    return {"usable_cores": usable_cores(), "threads": threads_in_force(), "load_before": list(os.getloadavg())}


def machine_state(before: dict[str, Any], timing: Timing, phase: str) -> dict[str, Any]:
    """The machine block of a record: ``before`` (:func:`machine_before`), the load average now, the cores other
    processes kept busy during ``phase`` and its busy warning (None when the machine was quiet enough)."""
    threads = max(before["threads"].values(), default=1)
    return {
        **before,
        "load_after": list(os.getloadavg()),
        f"others_cores_during_{phase}": timing.others_cores,
        "busy_warning": busy_warning(timing, before["usable_cores"], threads, phase),
    }


@contextmanager
def threads_limited(threads: int) -> Iterator[None]:
    """Every thread pool sized to ``threads`` inside the block (:func:`limit_threads`), the former sizes after."""
    restore = limit_threads(threads)
    try:
        yield
    finally:
        restore()


def busy_warning(timing: Timing, cores: int, threads: int, phase: str = "fit") -> str | None:
    """One line when other processes used more of the cores than a run with ``threads`` threads leaves free."""
    if timing.others_cores is None:
        return None
    free = max(0, cores - threads)
    if timing.others_cores <= free + BUSY_TOLERANCE:
        return None
    return (f"the machine was busy: other processes kept {timing.others_cores:.1f} of {cores} cores busy during "
            f"the {phase}, which ran up to {threads} threads, so its times overstate the cost")  # fmt: skip


_MATRIX_PRODUCT_LOOP = """
import sys, torch
torch.set_num_threads(int(sys.argv[1]))
matrix = torch.randn(512, 512)
print("busy", flush=True)
while True:
    matrix = torch.tanh(matrix @ matrix)
"""


@contextmanager
def competing_load(threads: int) -> Iterator[None]:
    """Another process busy inside the block: a torch matrix-product loop with ``threads`` threads, the load
    that hurts a threaded run most (both processes' pools spin on the same cores). For tests and benchmarks
    of how timings stand up to a shared machine."""
    command = [sys.executable, "-c", _MATRIX_PRODUCT_LOOP, str(threads)]
    loop = subprocess.Popen(command, stdout=subprocess.PIPE, text=True)
    try:
        loop.stdout.readline()  # it has started multiplying
        yield
    finally:
        loop.kill()
        loop.wait()
        loop.stdout.close()

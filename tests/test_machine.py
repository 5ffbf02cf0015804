"""How a run measures the machine: busy CPU time from /proc/stat, other processes' share, the busy warning."""

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from hashbench import machine
from hashbench.machine import (
    Timing,
    busy_warning,
    limit_threads,
    machine_busy_seconds,
    threads_in_force,
    timed,
    usable_cores,
)

STAT = Path(__file__).parent / "fixtures" / "proc" / "stat"
LINUX = Path("/proc/stat").exists()


def test_busy_seconds_sum_user_nice_system_irq_softirq_and_steal():
    ticks = 2458793 + 0 + 144161 + 0 + 559 + 10611  # idle (529839) and iowait (12025) are not busy
    assert machine_busy_seconds(STAT) == pytest.approx(ticks / os.sysconf("SC_CLK_TCK"))


def test_a_missing_or_foreign_stat_file_gives_none(tmp_path):
    assert machine_busy_seconds(tmp_path / "absent") is None
    (tmp_path / "stat").write_text("intr 1 2 3\n")
    assert machine_busy_seconds(tmp_path / "stat") is None


def test_timings_add_seconds_and_average_the_others_share_over_wall_time():
    total = Timing(1.0, 0.5, 0.0) + Timing(3.0, 2.0, 1.0)
    assert total == Timing(4.0, 2.5, 0.75)
    assert (Timing(1.0, 1.0, None) + Timing(1.0, 1.0, 0.5)).others_cores is None


def test_the_warning_fires_only_when_others_take_more_than_the_run_leaves_free():
    assert busy_warning(Timing(10.0, 10.0, 0.2), cores=2, threads=2) is None  # a quiet machine
    assert busy_warning(Timing(10.0, 10.0, 1.0), cores=2, threads=1) is None  # a fair share
    line = busy_warning(Timing(10.0, 10.0, 1.0), cores=2, threads=2)
    assert line.startswith("the machine was busy: other processes kept 1.0 of 2 cores busy during the fit")
    assert busy_warning(Timing(10.0, 10.0, None), cores=2, threads=2) is None  # not measurable here


def test_others_cores_are_the_machine_busy_time_less_the_own_cpu_time_over_wall_time(monkeypatch):
    clocks = {"perf_counter": iter([0.0, 2.0]), "process_time": iter([5.0, 6.0])}
    busy = iter([100.0, 103.0])  # 3 busy core-seconds, 1 of them this process's
    monkeypatch.setattr(machine, "machine_busy_seconds", lambda: next(busy))
    for name, values in clocks.items():
        monkeypatch.setattr(machine.time, name, lambda values=values: next(values))
    assert timed(lambda: "done") == ("done", Timing(2.0, 1.0, 1.0))


@pytest.mark.skipif(not LINUX, reason="other processes' CPU time is read from /proc/stat (Linux)")
def test_a_competing_process_shows_as_others_cores():
    spin = "import time\nend = time.time() + 3\nwhile time.time() < end: pass"
    competitor = subprocess.Popen([sys.executable, "-c", spin])
    try:
        time.sleep(0.5)  # let it start
        _, beside = timed(time.sleep, 1.0)
    finally:
        competitor.kill()
        competitor.wait()
    assert beside.others_cores > 0.6 and beside.cpu_s < 0.1


def test_the_pools_in_force_include_torch_and_the_cores_are_positive():
    assert threads_in_force()["torch"] >= 1 and usable_cores() >= 1


def test_one_limit_sizes_every_pool_and_can_be_undone():
    before = threads_in_force()
    restore = limit_threads(1)
    try:
        assert set(threads_in_force().values()) == {1}
    finally:
        restore()
    assert threads_in_force() == before

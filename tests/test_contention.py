"""A run's timings beside another busy process: the fit time stays near its quiet figure, and the record says
the machine was busy.

The competitor is the load that hurts most, a torch matrix-product loop with as many threads as cores
(:func:`hashbench.machine.competing_load`): a threaded run beside it loses most of its time to thread pools
that wait for each other's preempted threads (measured: CMFH's 128-bit fit took 1.8 to 6.4 s at two threads beside
it, 0.45 s alone). Runs take one thread by default, so they keep a fair share of the cores.
"""

import statistics

import pytest

from hashbench.harness.record import RunRecord
from hashbench.harness.runner import RunConfig, execute, load_dataset, make_method
from hashbench.machine import competing_load, usable_cores

CONFIG = RunConfig("cmfh", "wiki", bits=128)
REPEATS = 3

#: Timing beside a competitor needs the machine to itself: run after the parallel run, alone (README).
pytestmark = pytest.mark.serial


def fit_records() -> list[RunRecord]:
    dataset = load_dataset(CONFIG.dataset)
    return [execute(CONFIG, dataset, make_method(CONFIG)).record for _ in range(REPEATS)]


def median_fit_seconds(records: list[dict]) -> float:
    return statistics.median(record.timings["fit_s"] for record in records)


def test_a_default_run_keeps_its_fit_time_beside_a_busy_competitor_and_says_it_was_busy():
    quiet = median_fit_seconds(fit_records())
    with competing_load(usable_cores()):
        beside_all_cores = fit_records()
    with competing_load(1):
        beside_one_thread = fit_records()
    assert median_fit_seconds(beside_all_cores) <= 4 * quiet
    assert median_fit_seconds(beside_one_thread) <= 3 * quiet
    assert {record.threads for record in beside_all_cores} == {1}
    busy = [record.machine["busy_warning"] for record in beside_all_cores]
    assert any(line and line.startswith("the machine was busy") for line in busy)

"""Under pytest-xdist each worker sizes its thread pools to its share of the cores, so that two workers'
BLAS and torch pools do not fight over the same cores (a threaded fit beside a busy process loses most of its
time to preempted pool threads: tests/test_contention.py)."""

import os

from workers import threads_per_worker

from hashbench.machine import limit_threads


def pytest_configure(config):
    if "PYTEST_XDIST_WORKER" in os.environ:
        limit_threads(threads_per_worker())

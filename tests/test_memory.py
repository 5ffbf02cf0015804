"""The peak-memory measurement of a record belongs to its run."""

import mmap
import sys

import numpy as np
import pytest

from hashbench.harness.memory import peak_rss_bytes, reset_peak

MIB = 1 << 20


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the per-run peak needs /proc (Linux)")
def test_a_reset_forgets_the_peak_of_an_earlier_run():
    assert reset_peak() == "run"
    baseline = peak_rss_bytes()
    block = mmap.mmap(-1, 64 * MIB)  # fresh pages: a malloc could reuse memory that is already resident
    np.frombuffer(block, dtype=np.uint8)[:] = 1  # touched, so resident
    high = peak_rss_bytes()
    block.close()
    assert high - baseline >= 60 * MIB
    reset_peak()
    assert peak_rss_bytes() < high - 50 * MIB

"""Fit time of every shallow (or deep) method at one thread and at the usable cores, side by side, and whether
the codes are the same: what `--threads` buys on an idle machine, and which methods' codes depend on it.

    python benchmarks/thread_counts.py [--kind shallow|deep] [--bits 128] [--repeats 3]

Each method is fitted on the bundled Wikipedia training set at seed 0, alternating the thread counts in each
repeat so that drifts of the machine fall on both; the table gives the median seconds and the load average.
"""

import argparse
import os
import statistics
import time

import numpy as np
from tabulate import tabulate

from hashbench import registry
from hashbench.machine import threads_limited, usable_cores


def fit(name: str, view, bits: int, threads: int) -> tuple[float, np.ndarray]:
    """Seconds of one fit at ``threads`` threads, and the image codes of the training items."""
    with threads_limited(threads):
        method = registry.methods.get(name)()
        began = time.perf_counter()
        method.fit(view, bits, seed=0)
        seconds = time.perf_counter() - began
        return seconds, method.encode("image", view.image)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--kind", choices=("shallow", "deep"), default="shallow")
    parser.add_argument("--bits", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    view = registry.datasets.get("wiki")().train_view(with_labels=True)
    cores = usable_cores()
    print(f"load average before: {os.getloadavg()}; {cores} usable cores; {args.bits} bits; median of {args.repeats}")
    rows = []
    for name in registry.methods.names():
        if registry.methods.get(name).kind != args.kind:
            continue
        seconds, codes = {1: [], cores: []}, {}
        for _ in range(args.repeats):
            for threads in seconds:
                elapsed, codes[threads] = fit(name, view, args.bits, threads)
                seconds[threads].append(elapsed)
        one, many = statistics.median(seconds[1]), statistics.median(seconds[cores])
        rows.append([name, one, many, one / many, np.array_equal(codes[1], codes[cores])])
    headers = ["method", "1 thread s", f"{cores} threads s", f"1 / {cores}", "same codes"]
    print(tabulate(rows, headers=headers, tablefmt="github", floatfmt=".3g"))
    print(f"load average after: {os.getloadavg()}")


if __name__ == "__main__":
    main()

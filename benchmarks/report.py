"""Turn a pytest-benchmark JSON file of benchmarks/test_bench_search.py into Markdown tables.

Usage: ``python benchmarks/report.py BENCH.json`` (prints to stdout).
"""

from __future__ import annotations

import json
import re
import sys
from collections import defaultdict
from pathlib import Path

from tabulate import tabulate

N_PAIRS = 2_100 * 190_000


def _backend(name: str) -> str:
    match = re.search(r"\[(?:\d+bits-)?(\w+)(?:-\d+bits)?\]", name)
    return match.group(1) if match else name


def _ratio(name: str, busy: dict, quiet: dict) -> float | None:
    """Busy over quiet, for the rates and ratios (not for the others' cores, which are about 0 when quiet)."""
    return busy[name] / quiet[name] if name != "others_cores" and quiet[name] else None


def _print_table(rows: list[list], headers: list[str]) -> None:
    """A Markdown table and a blank line after it; nothing for a group that was not run."""
    if rows:
        print(tabulate(rows, headers=headers, tablefmt="github", floatfmt=".4g"), end="\n\n")


def main(path: str) -> None:
    data = json.loads(Path(path).read_text())
    machine = data["machine_info"]
    medians: dict[str, dict[str, float]] = defaultdict(dict)
    extra: dict[str, dict] = {}
    for bench in data["benchmarks"]:
        key = bench["param"] if bench["group"].startswith("scaling") else _backend(bench["name"])
        medians[bench["group"]][str(key)] = bench["stats"]["median"]
        extra[f"{bench['group']}/{key}"] = bench.get("extra_info", {})
    print(
        f"Machine: {machine.get('cpu', {}).get('brand_raw', machine.get('processor'))}, "
        f"{machine.get('cpu', {}).get('count', '?')} logical CPUs, Python {machine['python_version']}; "
        f"run {data['datetime']}.\n"
    )
    rows = []
    for bits in (16, 32, 64, 128):
        for task in ("knn100", "ranking"):
            times = medians.get(f"{task}-{bits}bits", {})
            if not times:
                continue
            built_in = times["numba"]
            rows.append(
                [
                    "kNN, k = 100" if task == "knn100" else "full ranking",
                    bits,
                    built_in,
                    times.get("faiss"),
                    times.get("naive"),
                    times.get("faiss", float("nan")) / built_in,
                    times["naive"] / built_in,
                    N_PAIRS / built_in / 1e9,
                ]
            )
    _print_table(
        rows,
        [
            "search",
            "bits",
            "built-in s",
            "faiss s",
            "naive s",
            "faiss / built-in",
            "naive / built-in",
            "built-in G pairs/s",
        ],
    )
    rows = []
    for bits in (16, 32, 64, 128):
        times = medians.get(f"map-{bits}bits", {})
        if times:
            rows.append(
                [bits, times["numba"], times["naive"], times["naive"] / times["numba"], N_PAIRS / times["numba"] / 1e9]
            )
    _print_table(rows, ["bits", "built-in mAP s", "naive mAP s", "naive / built-in", "G pairs/s"])
    rows = []
    for key, seconds in sorted(medians.get("scaling-64bits", {}).items(), key=lambda item: int(item[0])):
        info = extra[f"scaling-64bits/{key}"]
        added, process = info["peak_evaluation_bytes"], info["peak_process_bytes"]
        rows.append([int(key), seconds, 2_100 * int(key) / seconds / 1e9, added / 2**20, process / 2**20])
    _print_table(
        rows, ["database codes", "mAP s (2,100 queries)", "G pairs/s", "evaluation peak MiB", "process peak MiB"]
    )

    under_load = {key: extra.get(f"load-64bits/{key}") for key in ("quiet", "competitor")}
    if all(under_load.values()):
        quiet, busy = under_load["quiet"], under_load["competitor"]
        rows = [[name, quiet[name], busy[name], _ratio(name, busy, quiet)] for name in quiet]
        _print_table(rows, ["bench-search, 64 bits", "quiet", "beside a competitor", "competitor / quiet"])


if __name__ == "__main__":
    main(sys.argv[1])

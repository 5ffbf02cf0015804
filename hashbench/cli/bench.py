"""``hashbench bench-search``: the search backends timed side by side on random codes."""

from __future__ import annotations

import argparse
import json
import sys

from tabulate import tabulate

from hashbench.cli.options import BITS, POSITIVE, Subcommands
from hashbench.scoring import bench

BENCH_THREADS_HELP = "threads of every pool (BLAS, OpenMP, torch, numba; default: the cores this process may use)"


def add_commands(commands: Subcommands) -> None:
    """The sub-command of this module."""
    parser = commands.add_parser(
        "bench-search", _command_bench_search, help="time the search backends on random codes, side by side"
    )
    parser.add_argument("--db", type=POSITIVE, default=190_000, help="database codes (default 190000)")
    parser.add_argument("--queries", type=POSITIVE, default=2_100, help="query codes (default 2100)")
    parser.add_argument("--bits", type=BITS, default=64)
    parser.add_argument("--k", type=POSITIVE, default=100, help="neighbours per query (default 100)")
    parser.add_argument("--repeats", type=POSITIVE, default=3, help="timed repeats of the fast paths (median)")
    parser.add_argument("--format", choices=("table", "json"), default="table")
    parser.add_argument("--threads", type=POSITIVE, help=BENCH_THREADS_HELP)


def _command_bench_search(args: argparse.Namespace) -> None:
    problem = bench.random_problem(args.queries, args.db, args.bits)
    result = bench.time_backends(problem, args.k, repeats=args.repeats)
    if args.format == "json":
        print(json.dumps(result, indent=1))
        return
    size = result["size"]
    print(
        f"{size['queries']} queries x {size['database']} codes, {size['bits']} bits, k = {size['k']}; "
        f"built-in = {result['builtin_backend']}; median seconds"
    )
    machine = result["machine"]
    others = machine["others_cores_during_measurement"]
    others = "not measurable here" if others is None else f"{others:.2f}"
    print(
        f"machine: {machine['usable_cores']} usable cores, thread pools {machine['threads']}; cores other processes "
        f"kept busy during the measurement: {others}; load average {machine['load_before'][0]:.2f} before, "
        f"{machine['load_after'][0]:.2f} after"
    )
    if machine["busy_warning"]:
        print(f"hashbench: warning: {machine['busy_warning']}", file=sys.stderr)
    rows = [
        ["kNN", result["knn"]["builtin"], result["knn"]["faiss"], result["knn"]["naive"]],
        ["full mAP", result["map"]["builtin"], None, result["map"]["naive"]],
    ]
    print(
        tabulate(
            rows, headers=["task", "built-in", "faiss", "naive"], tablefmt="github", floatfmt=".4f", missingval="–"
        )
    )
    print(
        tabulate(
            [[k, v] for k, v in {**result["ratios"], **result["pairs_per_second"]}.items()],
            headers=["ratio / rate", "value"],
            tablefmt="github",
            floatfmt=".4g",
            missingval="–",
        )
    )

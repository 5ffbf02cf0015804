"""The ``hashbench`` command: run, evaluate, rescore, grid, tune, datasets, list, table, plot, report, check,
check-dataset, bench-search, new.

The command line is the only layer that knows its flags: one module per group of sub-commands, each adding its
parsers with their handlers. A :class:`~hashbench.errors.UsageError` (or a bad argument) ends the command with
one line on stderr and exit status 2; nothing is written for that run.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from hashbench.cli import bench, datasets, plugins, reports, runs
from hashbench.cli.options import Parser, Subcommands
from hashbench.errors import UsageError
from hashbench.ingest.prepared import DATA_ENV
from hashbench.machine import limit_threads, usable_cores

__all__ = ["build_parser", "main"]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every sub-command."""
    parser = Parser(prog="hashbench", description="Cross-modal hashing benchmark.")
    commands = Subcommands(parser)
    for group in (runs, reports, plugins, bench, datasets):
        group.add_commands(commands)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``hashbench`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    args = build_parser().parse_args(argv)
    args.argv = argv  # the command as typed, for the files that record it
    if "threads" in args:
        args.threads = args.threads or (args.workers if args.command == "grid" else usable_cores())
        limit_threads(args.threads)
    if getattr(args, "data_dir", None):
        os.environ[DATA_ENV] = str(Path(args.data_dir).expanduser().resolve())  # worker processes inherit it
    try:
        return args.handler(args) or 0
    except UsageError as error:
        print(f"hashbench: error: {error}", file=sys.stderr)
        return 2

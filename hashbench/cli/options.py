"""What the sub-commands share: the parser with one-line errors, argument types, common options, and flags
put into the usage errors raised below the command line."""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from hashbench.errors import UsageError
from hashbench.harness.runner import MAX_BITS
from hashbench.ingest.prepared import DATA_ENV
from hashbench.scoring.search import BACKENDS

DEFAULT_BITS = (16, 32, 64, 128)
THREADS_WHY = "codes that do not depend on the core count, timings that hold up beside other jobs"
RUN_THREADS_HELP = (
    f"threads of every pool (BLAS, OpenMP, torch, numba) in each run, part of its id (default 1: {THREADS_WHY})"
)
MLFLOW_HELP = "also log each new run to MLflow (pip install hashbench[mlflow]; MLFLOW_TRACKING_URI picks the store)"


def integer_type(minimum: int, maximum: int | None, expected: str) -> Callable[[str], int]:
    """An argparse type: an integer in [minimum, maximum], else one line saying what was ``expected``."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            value = None
        if value is None or value < minimum or (maximum is not None and value > maximum):
            raise argparse.ArgumentTypeError(f"{text!r}: expected {expected}")
        return value

    return parse


POSITIVE = integer_type(1, None, "a positive integer")
SEED = integer_type(0, None, "a non-negative integer")
BITS = integer_type(1, MAX_BITS, f"a positive integer of at most {MAX_BITS}")


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


class Subcommands:
    """Sub-command factory that gives every sub-command the common options (``--data-dir``)."""

    def __init__(self, parser: argparse.ArgumentParser) -> None:
        self.common = Parser(add_help=False)
        self.common.add_argument(
            "--data-dir",
            default=argparse.SUPPRESS,
            metavar="DIR",
            help=f"data root, one folder per dataset (default ${DATA_ENV}, else ~/.cache/hashbench)",
        )
        self.actions = parser.add_subparsers(dest="command", required=True, parser_class=Parser)

    def add_parser(self, name: str, handler: Callable, **options) -> argparse.ArgumentParser:
        """A sub-command whose parsed arguments go to ``handler``."""
        parser = self.actions.add_parser(name, parents=[self.common], **options)
        parser.set_defaults(handler=handler)
        return parser


def add_results(parser: argparse.ArgumentParser) -> None:
    """``--results DIR``, the results store every command reads or writes."""
    parser.add_argument("--results", default="results", help="results folder (default ./results)")


def add_search_backend(parser: argparse.ArgumentParser) -> None:
    """``--search-backend``, the Hamming search and evaluation path."""
    parser.add_argument(
        "--search-backend", choices=BACKENDS, default="auto", help="Hamming search and evaluation path (default auto)"
    )


@contextmanager
def flag(thing: str, name: str) -> Iterator[None]:
    """Inside the block, a usage error about ``thing`` (e.g. "results folder") names the flag ``name`` instead."""
    try:
        yield
    except UsageError as error:
        if error.thing != thing:
            raise
        raise error.naming(name) from None

"""Experiment grids from a TOML file: every method (with its parameters) x dataset x code length x seed.

The schema (``configs/`` holds examples)::

    [grid]
    datasets = ["wiki"]          # registered names or feature-file paths (relative to the TOML file)
    bits = [16, 32, 64, 128]
    seeds = [0, 1, 2]

    [[methods]]
    name = "cmfh"

    [[methods]]
    name = "seph-km"
    params = { anchors = 500 }

The same method may appear several times with different ``params`` (an
ablation); a run with non-default parameters gets a table row of its own.
Parameters are checked like ``--param`` values before anything runs, so a
typo stops the grid at once instead of hours in.
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from hashbench import registry
from hashbench.errors import UsageError
from hashbench.featurefile import looks_like_path
from hashbench.method import parse_param
from hashbench.runner import MAX_BITS, RunConfig

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


@dataclass(frozen=True)
class MethodEntry:
    """One method of a grid and the parameters it runs with."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Grid:
    """What a grid file asks for."""

    datasets: tuple[str, ...]
    bits: tuple[int, ...]
    seeds: tuple[int, ...]
    methods: tuple[MethodEntry, ...]

    def configurations(self) -> list[RunConfig]:
        """Every run of the grid, dataset by dataset, method by method, then code length and seed."""
        return [
            RunConfig(entry.name, dataset, bits, seed, entry.params)
            for dataset in self.datasets
            for entry in self.methods
            for bits in self.bits
            for seed in self.seeds
        ]


def _integers(path: Path, key: str, value: Any, minimum: int, maximum: int | None) -> tuple[int, ...]:
    valid = isinstance(value, list) and value and all(
        type(item) is int and item >= minimum and (maximum is None or item <= maximum) for item in value
    )  # fmt: skip
    if not valid:
        bound = f" of at most {maximum}" if maximum is not None else ""
        raise UsageError(f"{path}: [grid] {key} = {value!r}: expected a list of integers >= {minimum}{bound}")
    return tuple(value)


def _method_entry(path: Path, position: int, table: Any) -> MethodEntry:
    where = f"{path}: [[methods]] #{position + 1}"
    if not isinstance(table, dict) or not isinstance(table.get("name"), str):
        raise UsageError(f'{where}: expected a table with a name = "METHOD"')
    unknown = sorted(set(table) - {"name", "params"})
    if unknown:
        raise UsageError(f"{where}: unknown key {unknown[0]!r}; expected name and params")
    if not isinstance(table.get("params", {}), dict):
        raise UsageError(f"{where}: params = {table['params']!r}: expected a table of parameter = value")
    try:
        method_class = registry.methods.get(table["name"])
        params = dict(parse_param(method_class, f"{key}={value}") for key, value in table.get("params", {}).items())
    except UsageError as error:
        raise UsageError(f"{where} ({table['name']}): {error}") from None
    return MethodEntry(table["name"], params)


def load_grid(path: str | Path) -> Grid:
    """Read and check a grid file; every problem is a one-line usage error naming the file."""
    path = Path(path)
    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UsageError(f"{path}: no such grid file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise UsageError(f"{path}: not a valid TOML file ({error})") from None
    grid, methods = document.get("grid"), document.get("methods")
    if not isinstance(grid, dict) or not isinstance(methods, list) or not methods:
        raise UsageError(f"{path}: expected a [grid] table and at least one [[methods]] entry")
    unknown = sorted(set(grid) - {"datasets", "bits", "seeds"})
    if unknown:
        raise UsageError(f"{path}: [grid] has an unknown key {unknown[0]!r}; expected datasets, bits and seeds")
    datasets = grid.get("datasets")
    if not isinstance(datasets, list) or not datasets or not all(isinstance(d, str) for d in datasets):
        raise UsageError(f"{path}: [grid] datasets = {datasets!r}: expected a list of dataset names or files")
    return Grid(
        datasets=tuple(str(path.parent / d) if looks_like_path(d) else d for d in datasets),
        bits=_integers(path, "bits", grid.get("bits"), 1, MAX_BITS),
        seeds=_integers(path, "seeds", grid.get("seeds", [0]), 0, None),
        methods=tuple(_method_entry(path, i, table) for i, table in enumerate(methods)),
    )

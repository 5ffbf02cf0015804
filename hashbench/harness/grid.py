"""Experiment grids from a TOML file: every method (with its parameters) x dataset x code length x seed.

The schema (``configs/`` holds examples)::

    [grid]
    datasets = ["wiki"]          # registered names or feature-file paths (relative to the TOML file)
    bits = [16, 32, 64, 128]
    seeds = [0, 1, 2]
    db_codes = "modality"        # optional: "modality" (default) or "unified" database codes

    [[methods]]
    name = "cmfh"

    [[methods]]
    name = "seph-km"
    params = { anchors = 500 }
    db_codes = "unified"         # optional: this entry's database codes

    [[methods]]
    name = "ssah"
    preset = "paper"             # optional: a named parameter set of the method
    params_from = "tuned/ssah.toml"  # optional: a tuning file (relative to this file); params override both

The same method may appear several times with different ``params`` or
``db_codes`` (an ablation, or both protocols); each gets a table row of its own.
Parameters are checked like ``--param`` values before anything runs, so a
typo stops the grid at once instead of hours in.
"""

from __future__ import annotations

import dataclasses
import multiprocessing
import sys
import traceback
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass, field
from functools import lru_cache, partial
from pathlib import Path
from typing import Any

from hashbench import registry
from hashbench.device import resolve_device
from hashbench.errors import UsageError
from hashbench.harness.record import RunRecord
from hashbench.harness.runcache import store_result
from hashbench.harness.runner import (
    DB_CODES,
    MAX_BITS,
    RunConfig,
    RunResult,
    check_db_codes,
    execute,
    load_dataset,
    make_method,
    run_id,
    run_warnings,
)
from hashbench.harness.store import ResultsStore
from hashbench.harness.tuning import resolve_params
from hashbench.ingest.single_file import looks_like_path
from hashbench.method import parse_param

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib


#: How long to keep trying to reach a Dask scheduler before giving up.
SCHEDULER_TIMEOUT = "30s"


@dataclass(frozen=True)
class MethodEntry:
    """One method of a grid and the parameters it runs with."""

    name: str
    params: dict[str, Any] = field(default_factory=dict)
    db_codes: str = "modality"
    params_source: dict[str, Any] | None = None


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
            RunConfig(entry.name, dataset, bits, seed, entry.params, entry.db_codes, entry.params_source)
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


def _method_entry(path: Path, position: int, table: Any, db_codes: str, override: str | None) -> MethodEntry:
    where = f"{path}: [[methods]] #{position + 1}"
    if not isinstance(table, dict) or not isinstance(table.get("name"), str):
        raise UsageError(f'{where}: expected a table with a name = "METHOD"')
    unknown = sorted(set(table) - {"name", "params", "db_codes", "preset", "params_from"})
    if unknown:
        raise UsageError(
            f"{where}: unknown key {unknown[0]!r}; expected name, params, preset, params_from and db_codes"
        )
    if not isinstance(table.get("params", {}), dict):
        raise UsageError(f"{where}: params = {table['params']!r}: expected a table of parameter = value")
    try:
        method_class = registry.methods.get(table["name"])
        given = dict(parse_param(method_class, f"{key}={value}") for key, value in table.get("params", {}).items())
        params_file = path.parent / table["params_from"] if "params_from" in table else None
        params, source = resolve_params(method_class, preset=table.get("preset"), params_file=params_file, given=given)
        entry_codes = check_db_codes(method_class, override or table.get("db_codes", db_codes))
    except UsageError as error:
        raise UsageError(f"{where} ({table['name']}): {error}") from None
    return MethodEntry(table["name"], params, entry_codes, source)


def load_grid(path: str | Path, db_codes: str | None = None) -> Grid:
    """Read and check a grid file; every problem is a one-line usage error naming the file.

    ``db_codes``, when given, sets the database codes of every entry, overriding the file's."""
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
    unknown = sorted(set(grid) - {"datasets", "bits", "seeds", "db_codes"})
    if unknown:
        raise UsageError(
            f"{path}: [grid] has an unknown key {unknown[0]!r}; expected datasets, bits, seeds and db_codes"
        )
    default_codes = grid.get("db_codes", "modality")
    if default_codes not in DB_CODES:
        raise UsageError(f"{path}: [grid] db_codes = {default_codes!r}: expected one of {', '.join(DB_CODES)}")
    datasets = grid.get("datasets")
    if not isinstance(datasets, list) or not datasets or not all(isinstance(d, str) for d in datasets):
        raise UsageError(f"{path}: [grid] datasets = {datasets!r}: expected a list of dataset names or files")
    return Grid(
        datasets=tuple(str(path.parent / d) if looks_like_path(d) else d for d in datasets),
        bits=_integers(path, "bits", grid.get("bits"), 1, MAX_BITS),
        seeds=_integers(path, "seeds", grid.get("seeds", [0]), 0, None),
        methods=tuple(_method_entry(path, i, table, default_codes, db_codes) for i, table in enumerate(methods)),
    )


@dataclass
class GridReport:
    """What a grid run did: the run ids of its finished configurations and the failures it logged."""

    run_ids: list[str] = field(default_factory=list)
    failures: list[dict[str, Any]] = field(default_factory=list)


#: A worker process loads each dataset once, not once per run.
_worker_dataset = lru_cache(maxsize=4)(load_dataset)


def _execute_in_worker(config: RunConfig, device: str, checkpoint_dir: Path) -> RunResult:
    return execute(config, _worker_dataset(config.dataset), make_method(config), device=device,
                   checkpoint_dir=checkpoint_dir)  # fmt: skip


def run_grid(
    grid: Grid,
    store: ResultsStore,
    *,
    workers: int = 1,
    scheduler: str | None = None,
    device: str = "cpu",
    threads: int | None = None,
    report: Callable[[str, str], None] = lambda line, outcome: None,
    on_record: Callable[[RunRecord], None] | None = None,
) -> GridReport:
    """Run every configuration of ``grid`` that ``store`` lacks; this process is the only writer of records.

    ``workers`` > 1 runs configurations in that many local processes (each with its share of ``threads``,
    by default one thread each: every thread pool of a worker is sized to ``threads // workers``; the
    runs of a process that dies are retried once, each alone, and a second death is logged as its failure);
    ``scheduler`` (a Dask scheduler's address) runs them on that cluster's workers instead, each run with
    ``threads`` threads, where Dask reschedules the run of a worker that dies. The thread count is part of
    each run's id (:class:`~hashbench.harness.runner.RunConfig`). A run that raises is logged with its traceback in
    ``failures.jsonl`` of the store, and the grid goes on. ``report(line, outcome)`` is called once per
    configuration, with outcome "stored" (already there), "ran" or "failed"; ``on_record`` with each newly
    stored record (for tracking). An unavailable ``device`` is a usage error before anything runs.
    """
    resolve_device(device)
    threads = threads or workers
    share = threads if scheduler is not None else max(1, threads // workers)
    configurations = [dataclasses.replace(config, threads=share) for config in grid.configurations()]
    datasets = {name: load_dataset(name) for name in dict.fromkeys(c.dataset for c in configurations)}
    result, pending, total = GridReport(), {}, len(configurations)
    for number, config in enumerate(configurations, start=1):
        identity = run_id(config, make_method(config), datasets[config.dataset])
        result.run_ids.append(identity)
        if store.get(identity) is not None:
            report(f"[{number}/{total}] {describe(config)}: already there", "stored")
        else:
            pending[number] = config

    def finished(number: int, config: RunConfig, outcome: RunResult | BaseException) -> None:
        if isinstance(outcome, BaseException):
            failure = {"configuration": dataclasses.asdict(config), "error": f"{type(outcome).__name__}: {outcome}",
                       "traceback": "".join(traceback.format_exception(outcome))}  # fmt: skip
            store.log_failure(failure)
            result.failures.append(failure)
            report(f"[{number}/{total}] {describe(config)}: FAILED ({failure['error']})", "failed")
            return
        record = store_result(store, outcome, on_record)
        warnings = "".join(f"; warning: {warning}" for warning in run_warnings(record))
        report(f"[{number}/{total}] {describe(config)}: {record.timings['fit_s']:.1f} s fit{warnings}", "ran")

    if workers == 1 and scheduler is None:
        for number, config in pending.items():
            try:
                outcome = execute(config, datasets[config.dataset], make_method(config), device=device,
                                  checkpoint_dir=store.checkpoint_dir)  # fmt: skip
            except (UsageError, KeyboardInterrupt):
                raise
            except Exception as error:
                outcome = error
            finished(number, config, outcome)
        return result
    lost = []  # runs whose local worker process died (the pool breaks for every run in it)
    with _executor(workers, scheduler) as (submit, completed):
        futures = {submit(_execute_in_worker, config, device, store.checkpoint_dir): (number, config)
                   for number, config in pending.items()}  # fmt: skip
        for future in completed(futures):
            number, config = futures[future]
            error = future.exception()
            if isinstance(error, BrokenProcessPool):
                lost.append((number, config))
            else:
                finished(number, config, error if error is not None else future.result())
    for number, config in lost:  # retried once, each alone, so that a second death is this run's own
        with _executor(1, None) as (submit, _):
            future = submit(_execute_in_worker, config, device, store.checkpoint_dir)
            error = future.exception()
        finished(number, config, error if error is not None else future.result())
    return result


@contextmanager
def _executor(workers: int, scheduler: str | None):
    """``(submit, as_completed)`` of a Dask client of ``scheduler``, or of a pool of ``workers`` processes."""
    if scheduler is not None:
        import distributed

        try:
            client = distributed.Client(scheduler, timeout=SCHEDULER_TIMEOUT)
        except OSError as error:
            raise UsageError(
                f"cannot connect to a Dask scheduler there ({error})", thing="scheduler", value=scheduler
            ) from None
        with client:
            yield partial(client.submit, pure=False), distributed.as_completed
        return
    context = multiprocessing.get_context("spawn")
    with ProcessPoolExecutor(workers, mp_context=context) as pool:
        yield pool.submit, as_completed


def describe(config: RunConfig) -> str:
    """A configuration in a few words, for progress lines."""
    params = ", ".join(f"{key}={value}" for key, value in config.params.items())
    protocol = " [unified]" if config.db_codes == "unified" else ""
    return (
        f"{config.method}{f' ({params})' if params else ''}{protocol} {config.dataset} {config.bits} bits "
        f"seed {config.seed}"
    )

"""``hashbench run | evaluate | rescore | grid | tune``: the commands that make or remake records."""

from __future__ import annotations

import argparse
import csv
import io
import json
import shlex
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tabulate import tabulate
from tqdm.auto import tqdm

from hashbench import registry
from hashbench.cli.options import (
    BITS,
    DEFAULT_BITS,
    MLFLOW_HELP,
    POSITIVE,
    RUN_THREADS_HELP,
    SEED,
    THREADS_WHY,
    Subcommands,
    add_results,
    add_search_backend,
    flag,
)
from hashbench.device import DEVICES
from hashbench.errors import UsageError
from hashbench.harness.external import evaluate_codes
from hashbench.harness.grid import load_grid, run_grid
from hashbench.harness.record import RunRecord
from hashbench.harness.rescore import Outcome, rescore_store
from hashbench.harness.runcache import ALREADY_STORED, run_stored
from hashbench.harness.runner import DB_CODES, RunConfig, load_dataset, run_warnings
from hashbench.harness.store import ResultsStore, method_label
from hashbench.harness.tracking import mlflow_logger
from hashbench.harness.tuning import TuneConfig, resolve_params, tune, write_tuning_file
from hashbench.method import parse_param
from hashbench.reports.tables import FORMATS, render

DB_CODES_HELP = (
    "database codes: 'modality' (default: each modality hashed from itself) or 'unified' (one code per item "
    "from both modalities, for methods that have it)"
)
GRID_THREADS_HELP = (
    "threads of every pool (BLAS, OpenMP, torch, numba), shared by the workers: each run gets N // workers, part "
    f"of its id (default: one per run: {THREADS_WHY})"
)
RECORD_FORMATS = ("table", "json", "csv")


def add_commands(commands: Subcommands) -> None:
    """The sub-commands of this module."""
    run = commands.add_parser("run", _command_run, help="train, encode, search and score one method")
    run.add_argument("--method", required=True, help="registered method name (see `hashbench list`)")
    run.add_argument("--dataset", default="wiki", help="registered dataset, or a .mat/.npz feature file")
    run.add_argument("--bits", type=BITS, nargs="+", default=list(DEFAULT_BITS), help="code lengths")
    run.add_argument("--seed", type=SEED, nargs="+", default=[0], help="random seeds")
    run.add_argument("--param", action="append", default=[], metavar="KEY=VALUE", help="method parameter")
    run.add_argument("--db-codes", choices=DB_CODES, default="modality", help=DB_CODES_HELP)
    run.add_argument("--params", metavar="FILE.toml", help="parameters from a tuning file (hashbench tune)")
    run.add_argument("--preset", metavar="NAME", help="a named parameter set of the method, e.g. paper")
    add_results(run)
    run.add_argument("--format", choices=RECORD_FORMATS, default="table")
    run.add_argument("--threads", type=POSITIVE, default=1, help=RUN_THREADS_HELP)
    run.add_argument("--rerun", action="store_true", help="run again even if the store has this configuration")
    run.add_argument("--mlflow", action="store_true", help=MLFLOW_HELP)
    run.add_argument(
        "--device", choices=DEVICES, default="cpu", help="torch device of deep methods (default cpu: deterministic)"
    )
    add_search_backend(run)

    external = commands.add_parser(
        "evaluate", _command_evaluate, help="score codes made elsewhere as a run is scored (no training)"
    )
    external.add_argument("--codes", required=True, metavar="FILE",
                          help="the query and database codes of both modalities: .npz, .mat or .h5 in hashbench's, "
                          "DCMH/SSAH's (qBX qBY rBX rBY) or DJSRH's (qu_BI qu_BT re_BI re_BT) layout")  # fmt: skip
    external.add_argument("--dataset", default="wiki", help="the dataset whose query and database splits they code")
    external.add_argument("--name", help="the method's name in tables (default: the file's stem)")
    external.add_argument("--bits", type=BITS, help="code length of packed codes, when not 8 x their bytes")
    external.add_argument("--seed", type=SEED, default=0, help="the seed the codes were made with (a label)")
    add_results(external)
    external.add_argument("--format", choices=RECORD_FORMATS, default="table")
    add_search_backend(external)

    rescore = commands.add_parser(
        "rescore",
        _command_rescore,
        help="score every stored run's codes again under the current evaluation (no training)",
    )
    add_results(rescore)
    add_search_backend(rescore)

    grid = commands.add_parser(
        "grid", _command_grid, help="run every configuration of a grid file, then print its table"
    )
    grid.add_argument("config", help="grid file (TOML; see configs/)")
    add_results(grid)
    grid.add_argument("--metric", default="map", help="metric of the table printed at the end")
    grid.add_argument("--format", choices=FORMATS, default="markdown")
    grid.add_argument("--device", choices=DEVICES, default="cpu", help="torch device of deep methods")
    grid.add_argument("--db-codes", choices=DB_CODES, help="database codes of every entry, overriding the grid file's")
    grid.add_argument("--threads", type=POSITIVE, help=GRID_THREADS_HELP)
    grid.add_argument("--quiet", action="store_true", help="no progress bar and no line per run")
    grid.add_argument("--mlflow", action="store_true", help=MLFLOW_HELP)
    where = grid.add_mutually_exclusive_group()
    where.add_argument("--workers", type=POSITIVE, default=1, help="runs at once, in local processes (default 1)")
    where.add_argument("--scheduler", metavar="ADDRESS", help="run on a Dask cluster (e.g. tcp://host:8786)")

    tune_ = commands.add_parser(
        "tune", _command_tune, help="choose a method's parameters on a validation split of the training set"
    )
    tune_.add_argument("method", help="registered method name (one that declares a search space)")
    tune_.add_argument("--dataset", default="wiki", help="registered dataset, or a .mat/.npz feature file")
    tune_.add_argument("--bits", type=BITS, nargs="+", default=[16, 128], help="code lengths (default 16 128)")
    tune_.add_argument("--trials", type=POSITIVE, default=30, help="finished trials to reach (default 30)")
    tune_.add_argument("--val-fraction", type=float, default=0.2,
                       help="share of the training items held out as validation queries (default 0.2)")  # fmt: skip
    tune_.add_argument("--seed", type=SEED, default=0, help="seed of the split, the fits and the sampler")
    tune_.add_argument("--db-codes", choices=DB_CODES, default="modality", help=DB_CODES_HELP)
    tune_.add_argument(
        "--param", action="append", default=[], metavar="KEY=VALUE", help="a parameter held fixed (out of the search)"
    )
    tune_.add_argument(
        "--out", metavar="FILE.toml", help="output (default tuned/METHOD__DATASET.toml); its trials go to FILE.db"
    )
    tune_.add_argument("--resume", action="store_true", help="continue the trials stored beside --out")
    tune_.add_argument("--threads", type=POSITIVE, default=1, help=RUN_THREADS_HELP)
    tune_.add_argument("--quiet", action="store_true", help="no progress bar")


def _given_params(method_class: type, assignments: list[str]) -> dict[str, Any]:
    with flag("parameter", "--param"):
        return dict(parse_param(method_class, assignment) for assignment in assignments)


def _tracking(args: argparse.Namespace) -> Callable[[RunRecord], None] | None:
    with flag("MLflow tracking", "--mlflow"):
        return mlflow_logger() if args.mlflow else None


def _summary_rows(stored: list[tuple[RunRecord, str]]) -> list[dict[str, Any]]:
    return [
        {
            "method": method_label(r),
            "dataset": r.dataset,
            "bits": r.bits,
            "seed": r.seed,
            "i2t_map": round(r.metrics["i2t"]["map"], 4),
            "t2i_map": round(r.metrics["t2i"]["map"], 4),
            "fit_s": None if r.timings["fit_s"] is None else round(r.timings["fit_s"], 3),
            "stored": where,
        }
        for r, where in stored
    ]


def _print_records(stored: list[tuple[RunRecord, str]], fmt: str) -> None:
    """Records with where they are stored, as JSON (the records themselves), CSV or a table."""
    records = [record for record, _ in stored]
    if fmt == "json":
        print(json.dumps([record.to_dict() for record in records], indent=1))
    elif fmt == "csv":
        rows = _summary_rows(stored)
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
        print(out.getvalue(), end="")
    else:
        print(tabulate(_summary_rows(stored), headers="keys", tablefmt="github"))


def _command_run(args: argparse.Namespace) -> None:
    method_class = registry.methods.get(args.method)
    given = _given_params(method_class, args.param)
    params, source = resolve_params(method_class, preset=args.preset, params_file=args.params, given=given)
    dataset = load_dataset(args.dataset)
    store, tracking = ResultsStore(args.results), _tracking(args)
    options = {"rerun": args.rerun, "backend": args.search_backend, "device": args.device, "on_record": tracking}
    with flag("results folder", "--results"), flag("device", "--device"):
        stored = [
            run_stored(
                RunConfig(args.method, args.dataset, bits, seed, params, args.db_codes, source, args.threads),
                dataset,
                store,
                **options,
            )
            for bits in args.bits
            for seed in args.seed
        ]
    for record, where in stored:
        for warning in run_warnings(record) if where != ALREADY_STORED else []:
            print(f"hashbench: warning: {warning}", file=sys.stderr)
    _print_records(stored, args.format)


def _command_evaluate(args: argparse.Namespace) -> None:
    dataset = load_dataset(args.dataset)
    record, codes = evaluate_codes(
        args.codes, dataset, args.name, bits=args.bits, seed=args.seed, backend=args.search_backend
    )
    store = ResultsStore(args.results)
    with flag("results folder", "--results"):
        record = store.write(record, codes)
    _print_records([(record, str(store.path_of(record.run_id)))], args.format)


def _command_rescore(args: argparse.Namespace) -> int:
    store = ResultsStore(args.results)
    if not store.root.is_dir():
        raise UsageError(f"--results {args.results}: no such folder")

    def report(outcome: Outcome) -> None:
        print(f"{outcome.status}: {outcome.file}" + (f": {outcome.detail}" if outcome.detail else ""))

    outcomes = rescore_store(store, args.search_backend, report)
    skipped = sum(outcome.status == "skipped" for outcome in outcomes)
    print(f"rescored {len(outcomes) - skipped} records, skipped {skipped}")
    return 1 if skipped else 0


def _command_grid(args: argparse.Namespace) -> int:
    grid, store = load_grid(args.config, db_codes=args.db_codes), ResultsStore(args.results)
    tracking = _tracking(args)
    counts = dict.fromkeys(("stored", "ran", "failed"), 0)
    with tqdm(total=len(grid.configurations()), desc="grid", unit="run", disable=True if args.quiet else None) as bar:

        def progress(line: str, outcome: str) -> None:
            counts[outcome] += 1
            if not args.quiet:
                bar.write(line, file=sys.stderr)
            bar.set_postfix(counts, refresh=False)
            bar.update()

        with flag("scheduler", "--scheduler"), flag("results folder", "--results"), flag("device", "--device"):
            report = run_grid(grid, store, workers=args.workers, scheduler=args.scheduler, device=args.device,
                              threads=args.threads, report=progress, on_record=tracking)  # fmt: skip
    frame = store.frame()
    chosen = frame[frame["run_id"].isin(report.run_ids)]
    if not chosen.empty:
        print(render(chosen, metric=args.metric, fmt=args.format))
    if report.failures:
        print(f"{len(report.failures)} run(s) failed; tracebacks in {store.failures_path}", file=sys.stderr)
        return 1
    return 0


def _command_tune(args: argparse.Namespace) -> None:
    method_class = registry.methods.get(args.method)
    fixed = tuple(_given_params(method_class, args.param).items())
    config = TuneConfig(args.method, args.dataset, tuple(args.bits), args.trials, args.val_fraction, args.seed,
                        args.db_codes, fixed)  # fmt: skip
    dataset = load_dataset(args.dataset)
    out = Path(args.out or f"tuned/{args.method}__{Path(args.dataset).stem}.toml")
    if out.suffix != ".toml":
        raise UsageError(f"--out {out}: expected a .toml file")
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.with_suffix(".db").exists() and not args.resume:
        raise UsageError(f"--out {out}: its trials {out.with_suffix('.db')} hold an earlier tune; expected --resume "
                         "to continue it, or their removal")  # fmt: skip
    with tqdm(total=args.trials, desc=f"tune {args.method}", unit="trial", disable=True if args.quiet else None) as bar:

        def progress(done: int, best: float | None) -> None:
            bar.n = done
            bar.set_postfix({"best": "–" if best is None else f"{best:.4f}"})

        result = tune(config, dataset, out.with_suffix(".db"), resume=args.resume, progress=progress)
    command = "hashbench " + shlex.join(args.argv)
    write_tuning_file(out, config, result, dataset, command)
    print(f"validation mAP {result.value:.4f} (trial {result.best_trial}, {result.completed} trials, "
          f"{result.failed} failed); wrote {out}")  # fmt: skip
    for key, value in result.params.items():
        print(f"  {key} = {value!r}")

"""The ``hashbench`` command: run, evaluate, rescore, grid, datasets, list, table, plot, report, check, check-dataset,
bench-search, new.

A :class:`~hashbench.errors.UsageError` (or a bad argument) ends the command
with one line on stderr and exit status 2; nothing is written for that run.
"""

from __future__ import annotations

import argparse
import csv
import fnmatch
import io
import json
import os
import shlex
import sys
from collections.abc import Sequence
from pathlib import Path

import pandas as pd
from tabulate import tabulate
from tqdm.auto import tqdm

from hashbench import benchsearch, datasetcommands, registry
from hashbench.argtypes import POSITIVE, SEED, integer_type
from hashbench.conformance import RULES, check_dataset, check_method
from hashbench.device import DEVICES
from hashbench.errors import UsageError
from hashbench.experiment import run_stored
from hashbench.external import evaluate_codes
from hashbench.featurefile import looks_like_path
from hashbench.grid import load_grid, run_grid
from hashbench.machine import limit_threads, usable_cores
from hashbench.method import parse_param
from hashbench.plots import FIGURE_FORMATS, plot_curves
from hashbench.prepared import DATA_ENV
from hashbench.published import load_published
from hashbench.report import write_site
from hashbench.rescore import Outcome, rescore_store
from hashbench.runner import DB_CODES, MAX_BITS, RunConfig, load_dataset, run_warnings
from hashbench.scaffold import scaffold
from hashbench.search import BACKENDS
from hashbench.store import ResultsStore, method_label
from hashbench.tables import FORMATS, TESTS, render, render_published, render_timings
from hashbench.tracking import mlflow_logger
from hashbench.tuning import TuneConfig, resolve_params, tune, write_tuning_file

DEFAULT_BITS = (16, 32, 64, 128)
DB_CODES_HELP = (
    "database codes: 'modality' (default: each modality hashed from itself) or 'unified' (one code per item "
    "from both modalities, for methods that have it)"
)
THREADS_WHY = "codes that do not depend on the core count, timings that hold up beside other jobs"
RUN_THREADS_HELP = (
    f"threads of every pool (BLAS, OpenMP, torch, numba) in each run, part of its id (default 1: {THREADS_WHY})"
)
GRID_THREADS_HELP = (
    "threads of every pool (BLAS, OpenMP, torch, numba), shared by the workers: each run gets N // workers, part "
    f"of its id (default: one per run: {THREADS_WHY})"
)
BENCH_THREADS_HELP = "threads of every pool (BLAS, OpenMP, torch, numba; default: the cores this process may use)"
MLFLOW_HELP = "also log each new run to MLflow (pip install hashbench[mlflow]; MLFLOW_TRACKING_URI picks the store)"


class _Parser(argparse.ArgumentParser):
    """argparse with one-line errors and exit status 2."""

    def error(self, message: str) -> None:  # type: ignore[override]
        self.exit(2, f"{self.prog}: error: {message}\n")


_bits = integer_type(1, MAX_BITS, f"a positive integer of at most {MAX_BITS}")


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every sub-command."""
    parser = _Parser(prog="hashbench", description="Cross-modal hashing benchmark.")
    common = _Parser(add_help=False)
    common.add_argument(
        "--data-dir",
        default=argparse.SUPPRESS,
        metavar="DIR",
        help=f"data root, one folder per dataset (default ${DATA_ENV}, else ~/.cache/hashbench)",
    )
    commands = _Subcommands(parser.add_subparsers(dest="command", required=True, parser_class=_Parser), common)

    run = commands.add_parser("run", help="train, encode, search and score one method")
    run.add_argument("--method", required=True, help="registered method name (see `hashbench list`)")
    run.add_argument("--dataset", default="wiki", help="registered dataset, or a .mat/.npz feature file")
    run.add_argument("--bits", type=_bits, nargs="+", default=list(DEFAULT_BITS), help="code lengths")
    run.add_argument("--seed", type=SEED, nargs="+", default=[0], help="random seeds")
    run.add_argument("--param", action="append", default=[], metavar="KEY=VALUE", help="method parameter")
    run.add_argument("--db-codes", choices=DB_CODES, default="modality", help=DB_CODES_HELP)
    run.add_argument("--params", metavar="FILE.toml", help="parameters from a tuning file (hashbench tune)")
    run.add_argument("--preset", metavar="NAME", help="a named parameter set of the method, e.g. paper")
    run.add_argument("--results", default="results", help="results folder (default ./results)")
    run.add_argument("--format", choices=("table", "json", "csv"), default="table")
    run.add_argument("--threads", type=POSITIVE, default=1, help=RUN_THREADS_HELP)
    run.add_argument("--rerun", action="store_true", help="run again even if the store has this configuration")
    run.add_argument("--mlflow", action="store_true", help=MLFLOW_HELP)
    run.add_argument(
        "--device", choices=DEVICES, default="cpu", help="torch device of deep methods (default cpu: deterministic)"
    )
    run.add_argument(
        "--search-backend", choices=BACKENDS, default="auto", help="Hamming search and evaluation path (default auto)"
    )

    external = commands.add_parser("evaluate", help="score codes made elsewhere as a run is scored (no training)")
    external.add_argument("--codes", required=True, metavar="FILE",
                          help="the query and database codes of both modalities: .npz, .mat or .h5 in hashbench's, "
                          "DCMH/SSAH's (qBX qBY rBX rBY) or DJSRH's (qu_BI qu_BT re_BI re_BT) layout")  # fmt: skip
    external.add_argument("--dataset", default="wiki", help="the dataset whose query and database splits they code")
    external.add_argument("--name", help="the method's name in tables (default: the file's stem)")
    external.add_argument("--bits", type=_bits, help="code length of packed codes, when not 8 x their bytes")
    external.add_argument("--seed", type=SEED, default=0, help="the seed the codes were made with (a label)")
    external.add_argument("--results", default="results", help="results folder (default ./results)")
    external.add_argument("--format", choices=("table", "json", "csv"), default="table")
    external.add_argument(
        "--search-backend", choices=BACKENDS, default="auto", help="Hamming search and evaluation path (default auto)"
    )

    rescore = commands.add_parser(
        "rescore", help="score every stored run's codes again under the current evaluation (no training)"
    )
    rescore.add_argument("--results", default="results", help="results folder (default ./results)")
    rescore.add_argument(
        "--search-backend", choices=BACKENDS, default="auto", help="Hamming search and evaluation path (default auto)"
    )

    grid = commands.add_parser("grid", help="run every configuration of a grid file, then print its table")
    grid.add_argument("config", help="grid file (TOML; see configs/)")
    grid.add_argument("--results", default="results", help="results folder (default ./results)")
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

    tune = commands.add_parser("tune", help="choose a method's parameters on a validation split of the training set")
    tune.add_argument("method", help="registered method name (one that declares a search space)")
    tune.add_argument("--dataset", default="wiki", help="registered dataset, or a .mat/.npz feature file")
    tune.add_argument("--bits", type=_bits, nargs="+", default=[16, 128], help="code lengths (default 16 128)")
    tune.add_argument("--trials", type=POSITIVE, default=30, help="finished trials to reach (default 30)")
    tune.add_argument("--val-fraction", type=float, default=0.2,
                      help="share of the training items held out as validation queries (default 0.2)")  # fmt: skip
    tune.add_argument("--seed", type=SEED, default=0, help="seed of the split, the fits and the sampler")
    tune.add_argument("--db-codes", choices=DB_CODES, default="modality", help=DB_CODES_HELP)
    tune.add_argument(
        "--param", action="append", default=[], metavar="KEY=VALUE", help="a parameter held fixed (out of the search)"
    )
    tune.add_argument(
        "--out", metavar="FILE.toml", help="output (default tuned/METHOD__DATASET.toml); its trials go to FILE.db"
    )
    tune.add_argument("--resume", action="store_true", help="continue the trials stored beside --out")
    tune.add_argument("--threads", type=POSITIVE, default=1, help=RUN_THREADS_HELP)
    tune.add_argument("--quiet", action="store_true", help="no progress bar")

    listing = commands.add_parser("list", help="registered methods and datasets, with their origin")
    listing.add_argument("patterns", nargs="*", metavar="PATTERN", help="only names matching these, e.g. 'seph-*'")

    table = commands.add_parser("table", help="comparison table of the results store")
    table.add_argument("--results", default="results")
    table.add_argument("--metric", default="map")
    table.add_argument("--format", choices=FORMATS, default="markdown")
    table.add_argument("--timings", nargs="?", const="wall", choices=("wall", "cpu"),
                       help="the timing table (fit, encode, search, code memory) in wall seconds (default) or the "
                       "process's CPU seconds")  # fmt: skip
    table.add_argument("--against", metavar="METHOD", help="mark cells that differ from METHOD's (paired by seed)")
    table.add_argument("--test", choices=TESTS, default="ttest", help="the paired test of --against (default ttest)")
    table.add_argument(
        "--published", metavar="SOURCE", help="published mAP beside the reproduced: a shipped source or a .csv"
    )

    plot = commands.add_parser("plot", help="PR and precision@K curves of the results store, per dataset/task/bits")
    plot.add_argument("--results", default="results")
    plot.add_argument("--out", default="plots", help="folder for the figures (default ./plots)")
    plot.add_argument("--format", nargs="+", choices=FIGURE_FORMATS, default=["png", "pdf"],
                      help="png, pdf and/or svg (default png and pdf)")  # fmt: skip

    report = commands.add_parser("report", help="the results store as a static site: tables, curves, method pages")
    report.add_argument("--results", default="results")
    report.add_argument("--out", default="site", help="folder of the site (default ./site); open its index.html")
    report.add_argument(
        "--published", nargs="+", default=[], metavar="SOURCE", help="published tables beside the reproduced rows"
    )

    check = commands.add_parser("check", help="conformance check of a method plug-in")
    check.add_argument("method")
    check_data = commands.add_parser("check-dataset", help="conformance check of a dataset plug-in")
    check_data.add_argument("dataset")

    bench = commands.add_parser("bench-search", help="time the search backends on random codes, side by side")
    bench.add_argument("--db", type=POSITIVE, default=190_000, help="database codes (default 190000)")
    bench.add_argument("--queries", type=POSITIVE, default=2_100, help="query codes (default 2100)")
    bench.add_argument("--bits", type=_bits, default=64)
    bench.add_argument("--k", type=POSITIVE, default=100, help="neighbours per query (default 100)")
    bench.add_argument("--repeats", type=POSITIVE, default=3, help="timed repeats of the fast paths (median)")
    bench.add_argument("--format", choices=("table", "json"), default="table")
    bench.add_argument("--threads", type=POSITIVE, help=BENCH_THREADS_HELP)

    new = commands.add_parser("new", help="write the skeleton of a new plug-in and its test")
    new.add_argument("kind", choices=("method", "dataset"))
    new.add_argument("name", help="registry name: lower-case letters, digits and '-'")
    new.add_argument("--package", metavar="DIR", help="write a stand-alone package with an entry point into DIR")

    datasetcommands.add_parser(commands.actions, common)
    return parser


class _Subcommands:
    """Sub-command factory that gives every sub-command the common options (``--data-dir``)."""

    def __init__(self, actions: argparse._SubParsersAction, common: argparse.ArgumentParser) -> None:
        self.actions, self._common = actions, common

    def add_parser(self, name: str, **options) -> argparse.ArgumentParser:
        return self.actions.add_parser(name, parents=[self._common], **options)


def _summary_rows(records: list[dict]) -> list[dict]:
    return [
        {
            "method": method_label(r),
            "dataset": r["dataset"],
            "bits": r["bits"],
            "seed": r["seed"],
            "i2t_map": round(r["metrics"]["i2t"]["map"], 4),
            "t2i_map": round(r["metrics"]["t2i"]["map"], 4),
            "fit_s": None if r["timings"]["fit_s"] is None else round(r["timings"]["fit_s"], 3),
            "stored": r["stored"],
        }
        for r in records
    ]


def _command_run(args: argparse.Namespace) -> None:
    method_class = registry.methods.get(args.method)
    given = dict(parse_param(method_class, assignment) for assignment in args.param)
    params, source = resolve_params(method_class, preset=args.preset, params_file=args.params, given=given)
    dataset = load_dataset(args.dataset)
    store = ResultsStore(args.results)
    tracking = mlflow_logger() if args.mlflow else None
    options = {"rerun": args.rerun, "backend": args.search_backend, "device": args.device, "on_record": tracking}
    records = [
        run_stored(
            RunConfig(args.method, args.dataset, bits, seed, params, args.db_codes, source, args.threads),
            dataset,
            store,
            **options,
        )
        for bits in args.bits
        for seed in args.seed
    ]
    for record in records:
        for warning in run_warnings(record) if record["stored"] != "already there" else []:
            print(f"hashbench: warning: {warning}", file=sys.stderr)
    _print_records(records, args.format)


def _print_records(records: list[dict], fmt: str) -> None:
    if fmt == "json":
        print(json.dumps([{k: v for k, v in r.items() if k != "stored"} for r in records], indent=1))
    elif fmt == "csv":
        rows = _summary_rows(records)
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(rows[0]))
        writer.writeheader()
        writer.writerows(rows)
        print(out.getvalue(), end="")
    else:
        print(tabulate(_summary_rows(records), headers="keys", tablefmt="github"))


def _command_evaluate(args: argparse.Namespace) -> None:
    dataset = load_dataset(args.dataset)
    record, codes = evaluate_codes(
        args.codes, dataset, args.name, bits=args.bits, seed=args.seed, backend=args.search_backend
    )
    store = ResultsStore(args.results)
    record = store.write(record, codes)
    _print_records([{**record, "stored": str(store.path_of(record["run_id"]))}], args.format)


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
    tracking = mlflow_logger() if args.mlflow else None
    counts = dict.fromkeys(("stored", "ran", "failed"), 0)
    with tqdm(total=len(grid.configurations()), desc="grid", unit="run", disable=True if args.quiet else None) as bar:

        def progress(line: str, outcome: str) -> None:
            counts[outcome] += 1
            if not args.quiet:
                bar.write(line, file=sys.stderr)
            bar.set_postfix(counts, refresh=False)
            bar.update()

        report = run_grid(grid, store, workers=args.workers, scheduler=args.scheduler, device=args.device,
                          threads=args.threads,
                          report=progress, on_record=tracking)  # fmt: skip
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
    fixed = tuple(parse_param(method_class, assignment) for assignment in args.param)
    config = TuneConfig(args.method, args.dataset, tuple(args.bits), args.trials, args.val_fraction, args.seed,
                        args.db_codes, fixed)  # fmt: skip
    dataset = load_dataset(args.dataset)
    out = Path(args.out or f"tuned/{args.method}__{Path(args.dataset).stem}.toml")
    if out.suffix != ".toml":
        raise UsageError(f"--out {out}: expected a .toml file")
    out.parent.mkdir(parents=True, exist_ok=True)
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


def _listed(name: str, patterns: list[str]) -> bool:
    return not patterns or any(fnmatch.fnmatchcase(name, pattern) for pattern in patterns)


def _command_list(args: argparse.Namespace) -> None:
    rows = [
        [
            "method",
            entry.name,
            entry.obj.kind,
            "supervised" if entry.obj.supervised else "unsupervised",
            "modality, unified" if entry.obj.unified_codes else "modality",
            "yes" if entry.obj.search_space is not None else "",
            ", ".join(sorted(entry.obj.presets)),
            entry.obj.reference.short() if entry.obj.reference else "",
            entry.origin,
        ]
        for entry in registry.methods.entries()
        if _listed(entry.name, args.patterns)
    ]
    rows += [
        [
            "dataset",
            entry.name,
            "",
            "",
            "",
            "",
            "",
            datasetcommands.describe(entry.obj),
            entry.origin,
        ]
        for entry in registry.datasets.entries()
        if _listed(entry.name, args.patterns)
    ]
    if not rows:
        names = ", ".join([*registry.methods.names(), *registry.datasets.names()])
        raise UsageError(f"list {' '.join(args.patterns)}: no method or dataset name matches; the names: {names}")
    print(
        tabulate(
            rows,
            headers=[
                "kind",
                "name",
                "type",
                "labels",
                "database codes",
                "tunable",
                "presets",
                "reference / description",
                "origin",
            ],
            tablefmt="github",
        )
    )


def _command_table(args: argparse.Namespace) -> None:
    store = ResultsStore(args.results)
    if args.timings:
        print(render_timings(store.records(), fmt=args.format, clock=args.timings))
    elif args.published:
        print(render_published(store.frame(), load_published(args.published), fmt=args.format))
    else:
        print(render(store.frame(), metric=args.metric, fmt=args.format, against=args.against, test=args.test))


def _command_plot(args: argparse.Namespace) -> None:
    for path in plot_curves(ResultsStore(args.results).records(), args.out, tuple(args.format)):
        print(f"wrote {path}")


def _command_report(args: argparse.Namespace) -> None:
    published = pd.concat([load_published(source) for source in args.published]) if args.published else None
    written = write_site(ResultsStore(args.results).records(), args.out, results=args.results, published=published)
    print(f"wrote {len(written)} files; open {Path(args.out) / 'index.html'}")


def _report(what: str, violations: list) -> int:
    for violation in violations:
        print(f"FAIL {violation}")
    verdict = "conforms" if not violations else f"breaks {len(violations)} rule(s)"
    print(f"{what} {verdict}")
    return 1 if violations else 0


def _command_check(args: argparse.Namespace) -> int:
    method_class = registry.methods.get(args.method)
    violations = check_method(method_class)
    for rule in RULES:
        if rule not in {v.rule for v in violations}:
            print(f"ok   [{rule}]")
    return _report(f"method {args.method!r}", violations)


def _command_check_dataset(args: argparse.Namespace) -> int:
    loader = (
        (lambda: load_dataset(args.dataset)) if looks_like_path(args.dataset) else registry.datasets.get(args.dataset)
    )
    return _report(f"dataset {args.dataset!r}", check_dataset(loader))


def _command_bench_search(args: argparse.Namespace) -> None:
    problem = benchsearch.random_problem(args.queries, args.db, args.bits)
    result = benchsearch.run(problem, args.k, repeats=args.repeats)
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


def _command_new(args: argparse.Namespace) -> None:
    package = Path(args.package) if args.package else None
    for path in scaffold(args.kind, args.name, package=package):
        print(f"wrote {path}")


COMMANDS = {
    "run": _command_run,
    "evaluate": _command_evaluate,
    "rescore": _command_rescore,
    "grid": _command_grid,
    "tune": _command_tune,
    "list": _command_list,
    "table": _command_table,
    "plot": _command_plot,
    "report": _command_report,
    "check": _command_check,
    "check-dataset": _command_check_dataset,
    "bench-search": _command_bench_search,
    "new": _command_new,
    "datasets": datasetcommands.command,
}


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
        return COMMANDS[args.command](args) or 0
    except UsageError as error:
        print(f"hashbench: error: {error}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())

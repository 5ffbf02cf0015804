"""``hashbench table | plot | report``: the results store as tables, curves and a static site."""

from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from hashbench.cli.options import Subcommands, add_results, flag
from hashbench.harness.store import ResultsStore
from hashbench.reports.plots import FIGURE_FORMATS, plot_curves
from hashbench.reports.published import load_published
from hashbench.reports.site import write_site
from hashbench.reports.tables import FORMATS, TESTS, render, render_published, render_timings


def add_commands(commands: Subcommands) -> None:
    """The sub-commands of this module."""
    table = commands.add_parser("table", _command_table, help="comparison table of the results store")
    add_results(table)
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

    plot = commands.add_parser(
        "plot", _command_plot, help="PR and precision@K curves of the results store, per dataset/task/bits"
    )
    add_results(plot)
    plot.add_argument("--out", default="plots", help="folder for the figures (default ./plots)")
    plot.add_argument("--format", nargs="+", choices=FIGURE_FORMATS, default=["png", "pdf"],
                      help="png, pdf and/or svg (default png and pdf)")  # fmt: skip

    report = commands.add_parser(
        "report", _command_report, help="the results store as a static site: tables, curves, method pages"
    )
    add_results(report)
    report.add_argument("--out", default="site", help="folder of the site (default ./site); open its index.html")
    report.add_argument(
        "--published", nargs="+", default=[], metavar="SOURCE", help="published tables beside the reproduced rows"
    )


def _published(sources: list[str]) -> pd.DataFrame:
    with flag("published table", "--published"):
        return pd.concat([load_published(source) for source in sources])


def _command_table(args: argparse.Namespace) -> None:
    store = ResultsStore(args.results)
    if args.timings:
        print(render_timings(store.records(), fmt=args.format, clock=args.timings))
    elif args.published:
        print(render_published(store.frame(), _published([args.published]), fmt=args.format))
    else:
        with flag("method to compare against", "--against"), flag("paired test", "--test"):
            print(render(store.frame(), metric=args.metric, fmt=args.format, against=args.against, test=args.test))


def _command_plot(args: argparse.Namespace) -> None:
    for path in plot_curves(ResultsStore(args.results).records(), args.out, tuple(args.format)):
        print(f"wrote {path}")


def _command_report(args: argparse.Namespace) -> None:
    published = _published(args.published) if args.published else None
    with flag("site folder", "--out"):
        written = write_site(ResultsStore(args.results).records(), args.out, results=args.results, published=published)
    print(f"wrote {len(written)} files; open {Path(args.out) / 'index.html'}")

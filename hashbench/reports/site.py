"""``hashbench report``: the results store as a static site that opens from disk and needs no network.

``index.html`` holds, per dataset and database-code protocol, the comparison table of mAP (mean ± sample
std over seeds, the best complete mean of each column marked, sortable by a click on a column's head),
rows of published tables beside the reproduced ones, the curves of :mod:`hashbench.reports.plots` as SVG and the
timing table of :mod:`hashbench.reports.tables`. ``methods/<name>.html`` holds a method's parameters and where they
came from, its training losses per epoch (deep methods), its times and the command that reproduces each run.
Pages are Jinja2 templates (``hashbench/reports/templates``); the one script is inline and sorts tables.
"""

from __future__ import annotations

import re
import shlex
from collections import defaultdict
from pathlib import Path
from typing import Any

import pandas as pd

from hashbench import registry
from hashbench.errors import UsageError
from hashbench.files import atomic_write
from hashbench.harness.record import RunRecord
from hashbench.harness.store import method_label, records_frame
from hashbench.reports.plots import plot_curves, plot_losses
from hashbench.reports.published import PUBLISHED_NAMES
from hashbench.reports.tables import summarise, timings

METRIC = "map"
_SLUG = re.compile(r"[^A-Za-z0-9_.+-]+")


def page_stem(label: str) -> str:
    """The stem of a method's files (its page, its loss figure): its label with every run of other characters
    made one ``_``."""
    return _SLUG.sub("_", label).strip("_")


def page_name(label: str) -> str:
    """The file name of a method's page."""
    return page_stem(label) + ".html"


def reproducing_command(record: RunRecord, results: str) -> str:
    """The command that makes ``record`` again (codes made elsewhere: the command that scored them)."""
    if record.external is not None:
        words = ["hashbench", "evaluate", "--codes", record.external["file"], "--name", record.method]
        return shlex.join([*words, "--dataset", record.dataset, "--seed", str(record.seed),
                           "--results", results])  # fmt: skip
    words = ["hashbench", "run", "--method", record.method, "--dataset", record.dataset,
             "--bits", str(record.bits), "--seed", str(record.seed)]  # fmt: skip
    source = record.params_source
    if source.get("kind") == "preset":
        words += ["--preset", source["name"]]
    elif source.get("kind") == "tuning file":
        words += ["--params", source["file"]]
    words += [f"--param={key}={value}" for key, value in sorted(_non_default(record).items())]
    if record.db_codes != "modality":
        words += ["--db-codes", record.db_codes]
    if (record.threads or 1) != 1:
        words += ["--threads", str(record.threads)]
    return shlex.join([*words, "--results", results])


def _non_default(record: RunRecord) -> dict[str, Any]:
    """The record's parameters that differ from its method's defaults (all of them if it is not registered)."""
    try:
        defaults = registry.methods.get(record.method)().get_params()
    except UsageError:
        return dict(record.params)
    return {key: value for key, value in record.params.items() if defaults.get(key) != value}


def _format(value: float, std: float, seeds: int) -> str:
    return f"{value:.4f}" if seeds < 2 or pd.isna(std) else f"{value:.4f} ± {std:.4f}"


def comparison_tables(records: list[RunRecord], published: pd.DataFrame | None) -> list[dict[str, Any]]:
    """One table per (dataset, database-code protocol): columns (task, bits), rows with a sortable value and
    the text of each cell; published rows (``published``: rows of :func:`hashbench.reports.published.load_published`)
    follow the reproduced ones in the per-modality table."""
    summary = summarise(records_frame(records), METRIC)
    tables = []
    for (dataset, db_codes), block in summary.groupby(["dataset", "db_codes"], sort=True):
        columns = sorted(block[["task", "bits"]].drop_duplicates().itertuples(index=False, name=None))
        rows = []
        for method, group in block.groupby("method", sort=True):
            cells = {(r.task, r.bits): r for r in group.itertuples()}
            rows.append({
                "method": method, "page": page_name(method), "published": False,
                "reference": next((r for r in group["reference"] if isinstance(r, str)), ""),
                "cells": [_cell(cells.get(column)) for column in columns],
            })  # fmt: skip
        if published is not None and db_codes == "modality":
            rows += _published_rows(published[published["dataset"] == dataset], columns)
        tables.append({"dataset": dataset, "db_codes": db_codes, "columns": columns, "rows": rows})
    return tables


def _cell(row: Any) -> dict[str, Any]:
    if row is None:
        return {"value": "", "text": "–", "best": False}
    if not row.complete:
        return {"value": "", "text": f"– ({row.seeds}/{row.expected_seeds} seeds)", "best": False}
    return {"value": f"{row.mean:.6f}", "text": _format(row.mean, row.std, row.seeds), "best": bool(row.best)}


def _published_rows(published: pd.DataFrame, columns: list[tuple]) -> list[dict[str, Any]]:
    rows = []
    for (source, method), group in published.groupby(["source", "method"], sort=True):
        values = {(r.task, r.bits): r.map for r in group.itertuples()}
        cells = [
            {"value": f"{values[c]:.6f}", "text": f"{values[c]:.4f}", "best": False}
            if c in values
            else {"value": "", "text": "–", "best": False}
            for c in columns
        ]
        if any(cell["value"] for cell in cells):
            rows.append({"method": f"{method} (published)", "page": None, "published": True, "reference": source,
                         "cells": cells})  # fmt: skip
    return rows


def timing_rows(records: list[RunRecord]) -> tuple[list[str], list[list[str]]]:
    """The timing table (:func:`hashbench.reports.tables.timings`, wall clock) as headers and formatted rows; none when
    no record was trained here."""
    trained = [record for record in records if record.external is None]
    if not trained:
        return [], []
    frame = timings(trained)
    headers = [str(column) for column in frame.columns]
    rows = [[f"{value:.4g}" if isinstance(value, float) else str(value) for value in row]
            for row in frame.itertuples(index=False)]  # fmt: skip
    return headers, rows


def method_pages(groups: list[tuple[str, list[RunRecord]]], results: str) -> dict[str, dict[str, Any]]:
    """Per method label (``groups``: :func:`records_by_label`): its runs (bits, seed, mAP, times, command),
    parameters and where they came from."""
    pages = {}
    for label, runs in groups:
        runs = sorted(runs, key=lambda r: (r.dataset, r.bits, r.seed))
        first = runs[0]
        pages[label] = {
            "label": label,
            "page": page_name(label),
            "method": first.method,
            "reference": first.reference or "",
            "kind": first.method_kind,
            "supervised": first.supervised,
            "published_as": PUBLISHED_NAMES.get(first.method),
            "parameter_sets": _parameter_sets(runs),
            "runs": [_run_row(record, results) for record in runs],
        }
    return pages


def _parameter_sets(runs: list[RunRecord]) -> list[dict[str, Any]]:
    sets: list[dict[str, Any]] = []
    for record in runs:
        entry = {"params": record.params, "source": record.params_source}
        if entry not in sets:
            sets.append(entry)
    return sets


def _run_row(record: RunRecord, results: str) -> dict[str, Any]:
    times = record.timings
    fit = times.get("fit_s")
    return {
        "dataset": record.dataset,
        "bits": record.bits,
        "seed": record.seed,
        "i2t": f"{record.metrics['i2t'][METRIC]:.4f}",
        "t2i": f"{record.metrics['t2i'][METRIC]:.4f}",
        "fit_s": "–" if fit is None else f"{fit:.3g}",
        "fit_cpu_s": f"{times['fit_cpu_s']:.3g}" if "fit_cpu_s" in times else "–",
        "encode_us": f"{times['encode_database_s_per_item'] * 1e6:.3g}"
        if "encode_database_s_per_item" in times
        else "–",
        "search_us": f"{times['search_s_per_query'] * 1e6:.3g}",
        "busy": bool((record.machine or {}).get("busy_warning")),
        "command": reproducing_command(record, results),
    }


def write_site(
    records: list[RunRecord], out_dir: str | Path, results: str = "results", published: pd.DataFrame | None = None
) -> list[Path]:
    """Write the site of ``records`` into ``out_dir`` (``results``: the folder the commands name); return the
    files written. Every file is written atomically; a second report over the same folder replaces them."""
    from jinja2 import Environment, PackageLoader, select_autoescape

    if not records:
        raise UsageError("no records: the results folder holds no run to report")
    out = Path(out_dir)
    try:
        (out / "methods").mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"cannot create the folder ({error.strerror})", thing="site folder", value=out) from None
    plots = plot_curves(records, out / "plots", ("svg",))
    groups = records_by_label(records)
    pages = method_pages(groups, results)
    losses = {label: plot_losses(runs, out / "plots", page_stem(label)) for label, runs in groups}
    environment = Environment(loader=PackageLoader("hashbench.reports", "templates"), autoescape=select_autoescape())
    headers, rows = timing_rows(records)
    index = environment.get_template("index.html").render(
        tables=comparison_tables(records, published),
        plots=[path.name for path in plots],
        timing_headers=headers,
        timing_rows=rows,
        pages=pages,
        results=results,
        runs=len(records),
    )
    written = [*plots, *(path for path in losses.values() if path is not None)]
    written.append(_write_text(out / "index.html", index))
    template = environment.get_template("method.html")
    for label, page in pages.items():
        loss_plot = losses.get(label)
        html = template.render(page=page, loss_plot=None if loss_plot is None else loss_plot.name)
        written.append(_write_text(out / "methods" / page["page"], html))
    return written


def records_by_label(records: list[RunRecord]) -> list[tuple[str, list[RunRecord]]]:
    """The records grouped by the label tables give them (:func:`hashbench.harness.store.method_label`), by label."""
    groups: dict[str, list[RunRecord]] = defaultdict(list)
    for record in records:
        groups[method_label(record)].append(record)
    return sorted(groups.items())


def _write_text(path: Path, text: str) -> Path:
    atomic_write(path, lambda file: file.write(text.encode()))
    return path

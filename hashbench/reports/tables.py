"""Paper-style comparison tables from the tidy results frame (Markdown, LaTeX, CSV).

One row per method with its reference; one column per (dataset, task, bits);
each cell the mean (± sample standard deviation) over seeds. A cell is shown
only when every seed that the store holds for its method and dataset finished
(at any code length or task); otherwise
it reads ``– (k/n seeds)``, never an average of what happened to finish. The
largest complete mean of each column is bold (for the metrics where larger is better,
:func:`hashbench.scoring.metrics.ranks_methods`; none for ``queries_without_relevant``), within each
database-code protocol: rows with unified database codes (``method [unified]``) come after the per-modality
rows and are ranked among themselves.

With ``against=METHOD`` each cell is also tested against that method's cell, paired by seed (a paired t-test,
or Wilcoxon's signed-rank test, over the seeds both hold, at least two): a dagger marks p < 0.05. With three
seeds the signed-rank test can never reach 0.05 (its smallest two-sided p is 0.25); the t-test assumes the
paired differences are roughly normal.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pandas as pd
from scipy import stats
from tabulate import tabulate

from hashbench.errors import UsageError
from hashbench.harness.record import RunRecord
from hashbench.harness.store import label_of, method_label
from hashbench.reports.published import beside_published
from hashbench.scoring.metrics import ranks_methods

FORMATS = ("markdown", "latex", "csv")
TESTS = ("ttest", "wilcoxon")
ALPHA = 0.05
_MISSING = "–"
_DAGGER = "†"


def _check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise UsageError(f"expected one of {', '.join(FORMATS)}", thing="table format", value=repr(fmt))


def summarise(
    frame: pd.DataFrame, metric: str = "map", against: str | None = None, test: str = "ttest"
) -> pd.DataFrame:
    """Mean, std and completeness per (method, dataset, task, bits) for one metric; with ``against``, the
    p-value of the paired test of each cell against that method's cell (``p_value``)."""
    chosen = frame[frame["metric"] == metric].copy()
    if chosen.empty:
        known = ", ".join(sorted(frame["metric"].unique())) or "(the store is empty)"
        raise UsageError(f"metric {metric!r}: no record has it; expected one of: {known}")
    # Rows are named by the label (non-default parameters and unified database codes each get a row of their
    # own); "family" keeps the registered method.
    chosen["family"] = chosen["method"]
    if "db_codes" not in chosen:
        chosen["db_codes"] = "modality"
    if "label" not in chosen:  # a frame made by hand: label it as the store does
        fields = [column for column in ("method", "variant", "db_codes") if column in chosen]
        chosen["label"] = [label_of(**row) for row in chosen[fields].to_dict("records")]
    chosen["method"] = chosen["label"]
    expected_seeds = chosen.groupby(["method", "dataset"])["seed"].nunique().rename("expected_seeds")
    summary = (
        chosen.groupby(["method", "family", "db_codes", "reference", "dataset", "task", "bits"], dropna=False)
        .agg(mean=("value", "mean"), std=("value", "std"), seeds=("seed", "nunique"))
        .reset_index()
    )
    summary = summary.join(expected_seeds, on=["method", "dataset"])
    summary["complete"] = summary["seeds"] == summary["expected_seeds"]
    # the best of each column within each database-code protocol: the two protocols are not comparable
    best = summary[summary["complete"]].groupby(["db_codes", "dataset", "task", "bits"])["mean"].transform("max")
    summary["best"] = ranks_methods(metric) & summary["complete"] & (summary["mean"] == best.reindex(summary.index))
    if against is not None:
        summary["p_value"] = (
            paired_p_values(chosen, against, test)
            .reindex(pd.MultiIndex.from_frame(summary[["method", "dataset", "task", "bits"]]))
            .to_numpy()
        )
    return summary


def paired_p_values(chosen: pd.DataFrame, against: str, test: str) -> pd.Series:
    """p-value per (method, dataset, task, bits) of the paired test against ``against``'s values, by seed."""
    if test not in TESTS:
        raise UsageError(f"expected one of {', '.join(TESTS)}", thing="paired test", value=repr(test))
    if against not in set(chosen["method"]):
        known = ", ".join(sorted(chosen["method"].unique()))
        raise UsageError(
            f"no such method in the store; expected one of: {known}",
            thing="method to compare against",
            value=repr(against),
        )
    values = chosen.pivot_table(index=["dataset", "task", "bits", "seed"], columns="method", values="value")
    p_values = {}
    for (dataset, task, bits), cell in values.groupby(level=["dataset", "task", "bits"]):
        for method in cell.columns.drop(against):
            pairs = cell[[method, against]].dropna()
            p_values[(method, dataset, task, bits)] = _paired_p(pairs[method], pairs[against], test)
    index = pd.MultiIndex.from_tuples(list(p_values), names=["method", "dataset", "task", "bits"])
    return pd.Series(list(p_values.values()), index=index, dtype=float)


def _paired_p(values: pd.Series, reference: pd.Series, test: str) -> float:
    differences = (values - reference).to_numpy()
    if len(differences) < 2:
        return float("nan")
    if not differences.any():
        return 1.0
    if test == "wilcoxon":
        return float(stats.wilcoxon(differences).pvalue)
    if np.ptp(differences) == 0:  # a constant non-zero difference: the t statistic is infinite
        return 0.0
    return float(stats.ttest_1samp(differences, 0.0).pvalue)


def _mean_std(mean: float, std: float, seeds: int) -> str:
    return f"{mean:.4f} ± {std:.4f}" if seeds > 1 else f"{mean:.4f}"


def _cell(row) -> str:
    if not row.complete:
        return f"{_MISSING} ({row.seeds}/{row.expected_seeds} seeds)"
    marked = getattr(row, "p_value", float("nan")) < ALPHA
    return _mean_std(row.mean, row.std, row.seeds) + (f" {_DAGGER}" if marked else "")


def _wide(summary: pd.DataFrame, style: Callable[[str, bool], str]) -> tuple[list[tuple], list[list[str]]]:
    """Column keys and table rows (per-modality database codes first, then unified ones, each by name);
    ``style(text, is_best)`` escapes and marks each cell."""
    columns = sorted(summary[["dataset", "task", "bits"]].drop_duplicates().itertuples(index=False, name=None))
    rows = []
    groups = summary.groupby(["db_codes", "method", "reference"], dropna=False)
    for (_, method, reference), group in sorted(groups, key=lambda item: (item[0][0] != "modality", item[0][1])):
        cells = {(r.dataset, r.task, r.bits): style(_cell(r), r.best) for r in group.itertuples()}
        reference = "" if pd.isna(reference) else reference
        rows.append(
            [style(method, False), style(reference, False), *[cells.get(c, style(_MISSING, False)) for c in columns]]
        )
    return columns, rows


_LATEX_ESCAPES = str.maketrans(
    {"&": r"\&", "%": r"\%", "_": r"\_", "#": r"\#", "±": r"$\pm$", "–": "--", _DAGGER: r"$^\dagger$"}
)


def _latex_cell(text: str, best: bool) -> str:
    text = text.translate(_LATEX_ESCAPES)
    return rf"\textbf{{{text}}}" if best else text


def _latex(columns: list[tuple], rows: list[list[str]], metric: str) -> str:
    groups: list[tuple[str, int]] = []
    for dataset, task, _ in columns:
        label = f"{dataset} {task}".translate(_LATEX_ESCAPES)
        if groups and groups[-1][0] == label:
            groups[-1] = (label, groups[-1][1] + 1)
        else:
            groups.append((label, 1))
    lines = [
        r"\begin{tabular}{ll" + "c" * len(columns) + "}",
        r"\toprule",
        " & ".join(["", "", *[rf"\multicolumn{{{n}}}{{c}}{{{label}}}" for label, n in groups]]) + r" \\",
        " & ".join(["Method", "Reference", *[f"{bits} bits" for _, _, bits in columns]]) + r" \\",
        r"\midrule",
        *[" & ".join(row) + r" \\" for row in rows],
        r"\bottomrule",
        r"\end{tabular}",
    ]
    return f"% {metric}: mean ± sample std over seeds; best complete value in bold\n" + "\n".join(lines)


def render(
    frame: pd.DataFrame, metric: str = "map", fmt: str = "markdown", against: str | None = None, test: str = "ttest"
) -> str:
    """The comparison table of ``metric`` in ``fmt`` ("markdown", "latex" or "csv"); with ``against``, cells
    that differ from that method's at p < 0.05 (paired ``test`` over seeds) carry a dagger."""
    _check_format(fmt)
    summary = summarise(frame, metric, against, test)
    note = f"\n\n{_DAGGER}: differs from {against} at p < {ALPHA} ({test}, paired by seed)" if against else ""
    if fmt == "csv":
        columns = ["method", "db_codes", "reference", "dataset", "task", "bits", "mean", "std", "seeds", "complete"]
        return summary[columns + (["p_value"] if against else [])].to_csv(index=False)
    if fmt == "latex":
        columns, rows = _wide(summary, _latex_cell)
        return _latex(columns, rows, metric) + note.replace("\n\n", "\n% ")
    columns, rows = _wide(summary, lambda text, best: f"**{text}**" if best else text)
    headers = ["Method", "Reference", *[f"{d} {t} {b}" for d, t, b in columns]]
    return tabulate(rows, headers=headers, tablefmt="github", disable_numparse=True) + note


#: The record's timing fields behind the table's columns, per clock: wall seconds or the process's CPU seconds.
CLOCKS = {
    "wall": {"fit s": "fit_s", "encode µs/item": "encode_database_s_per_item",
             "search µs/query": "search_s_per_query"},
    "cpu": {"fit CPU s": "fit_cpu_s", "encode CPU µs/item": "encode_database_cpu_s_per_item",
            "search CPU µs/query": "search_cpu_s_per_query"},
}  # fmt: skip


def timings(records: list[RunRecord], clock: str = "wall") -> pd.DataFrame:
    """Mean timings over seeds per (method, dataset, bits): fit, encoding per item, search per query (wall or
    CPU seconds, ``clock``), the memory of the database codes, and how many of the runs warned that the machine
    was busy (their times overstate). Codes scored by ``hashbench evaluate`` were not trained here and have no
    row."""
    if clock not in CLOCKS:
        raise UsageError(f"timings clock {clock!r}: expected one of {', '.join(CLOCKS)}")
    records = [record for record in records if record.external is None]
    if not records:
        raise UsageError("no records: the results folder holds no run to time")
    fields = CLOCKS[clock]
    for record in records:
        if any(field not in record.timings for field in fields.values()):
            raise UsageError(f"record {record.run_id} has no {clock} timings (made before "
                             "hashbench recorded CPU time); expected a newer record, or wall timings")  # fmt: skip
    rows = [
        {
            "method": method_label(record),
            "dataset": record.dataset,
            "bits": record.bits,
            **{
                column: record.timings[field] * (1 if column.endswith(" s") else 1e6)
                for column, field in fields.items()
            },
            "database codes KiB": record.code_bytes["database"] / 1024,
            "seeds": 1,
            "busy runs": int(bool((record.machine or {}).get("busy_warning"))),
        }
        for record in records
    ]
    frame = pd.DataFrame(rows)
    keys = ["method", "dataset", "bits"]
    means = frame.drop(columns=["seeds", "busy runs"]).groupby(keys).mean()
    return means.join(frame.groupby(keys)[["seeds", "busy runs"]].sum()).reset_index()


def render_timings(records: list[RunRecord], fmt: str = "markdown", clock: str = "wall") -> str:
    """The timing table of ``records`` in ``fmt`` (means over seeds; the seeds column counts them, "busy runs"
    those that ran on a busy machine)."""
    _check_format(fmt)
    frame = timings(records, clock)
    if fmt == "csv":
        return frame.to_csv(index=False)
    if fmt == "latex":
        frame.columns = [str(column).translate(_LATEX_ESCAPES).replace("µ", r"$\mu$") for column in frame.columns]
        return frame.to_latex(index=False, float_format="%.4g")
    table = tabulate(frame, headers="keys", tablefmt="github", showindex=False, floatfmt=".4g")
    if frame["busy runs"].any():
        table += ("\n\nbusy runs: runs whose record warns that other processes kept more cores busy than the run "
                  "left free (machine.busy_warning): their times overstate")  # fmt: skip
    return table


def render_published(frame: pd.DataFrame, published: pd.DataFrame, fmt: str = "markdown") -> str:
    """Reproduced mAP beside the ``published`` values of the same cells, with the difference."""
    _check_format(fmt)
    summary = summarise(frame, "map")
    table = beside_published(summary[summary["complete"]], published)
    if table.empty:
        raise UsageError(
            f"no reproduced mAP has a published value to stand beside: the store holds "
            f"{', '.join(sorted(summary['dataset'].unique()))}; the published rows cover "
            f"{', '.join(sorted(published['dataset'].unique()))}"
        )
    if fmt == "csv":
        return table.to_csv(index=False)
    shown = table.assign(
        reproduced=[_mean_std(r.mean, r.std, r.seeds) for r in table.itertuples()],
        published=table["published"].map("{:.4f}".format),
        difference=table["difference"].map("{:+.4f}".format),
    )[["method", "dataset", "task", "bits", "reproduced", "published", "difference", "source"]]
    if fmt == "latex":
        return shown.to_latex(index=False).replace("±", r"$\pm$")
    return tabulate(shown, headers="keys", tablefmt="github", showindex=False, disable_numparse=True)

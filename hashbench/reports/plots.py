"""The curves papers print, from the records: precision-recall by Hamming radius and precision@K.

One figure per (dataset, task, bits), two panels, one line per method (a variant is a method of its own), each
point the mean over the seeds the store holds. Lines differ in marker and dash as well as colour, so that a
grey-scale print still tells them apart. Figures are written atomically, as PNG, PDF or SVG (SVG without a date
and with fixed element ids, so that the same records give the same file). Deep methods' training losses per
epoch get a figure of their own (:func:`plot_losses`).
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd

from hashbench.errors import UsageError
from hashbench.files import atomic_write
from hashbench.harness.record import RunRecord
from hashbench.harness.store import method_label

FIGURE_FORMATS = ("png", "pdf", "svg")
#: What each format's metadata holds: no date, so the same records give the same file; SVG none at all, so a
#: report's figures name no web address (matplotlib's default metadata names its home page).
_METADATA = {"svg": dict.fromkeys(("Date", "Creator", "Format", "Type")), "pdf": {"CreationDate": None}, "png": {}}
_MARKERS = ("o", "s", "^", "D", "v", "x", "+", "*", "<", ">", "p", "h")
_DASHES = ("-", "--", ":", "-.")


def curve_frame(records: list[RunRecord]) -> pd.DataFrame:
    """Tidy curve points: one row per (run, task, curve, point) with x, precision and recall."""
    rows = []
    for record in records:
        method = method_label(record)
        for task, curves in record.curves.items():
            key = {"method": method, "dataset": record.dataset, "task": task, "bits": record.bits,
                   "seed": record.seed}  # fmt: skip
            by_k = curves["precision_at_k"]
            rows += [{**key, "curve": "p@k", "x": k, "precision": p, "recall": np.nan}
                     for k, p in zip(by_k["k"], by_k["precision"], strict=True)]  # fmt: skip
            pr = curves["pr_by_radius"]
            rows += [{**key, "curve": "pr", "x": r, "precision": p, "recall": q}
                     for r, p, q in zip(pr["radius"], pr["precision"], pr["recall"], strict=True)]  # fmt: skip
    return pd.DataFrame(rows)


def mean_curves(frame: pd.DataFrame) -> pd.DataFrame:
    """Each curve's points averaged over seeds."""
    keys = ["dataset", "task", "bits", "method", "curve", "x"]
    return frame.groupby(keys, sort=True)[["precision", "recall"]].mean().reset_index()


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    matplotlib.rcParams["svg.hashsalt"] = "hashbench"
    from matplotlib import pyplot

    return pyplot


def _save(figure, path: Path, fmt: str) -> Path:
    atomic_write(path, lambda file: figure.savefig(file, format=fmt, dpi=150, metadata=_METADATA[fmt]))
    return path


def plot_curves(records: list[RunRecord], out_dir: str | Path, formats: tuple[str, ...] = ("png", "pdf")) -> list[Path]:
    """Write one figure per (dataset, task, bits) into ``out_dir``; return the files written."""
    pyplot = _pyplot()
    unknown = sorted(set(formats) - set(FIGURE_FORMATS))
    if unknown:
        raise UsageError(f"figure format {unknown[0]!r}: expected one or more of {', '.join(FIGURE_FORMATS)}")
    frame = curve_frame(records)
    if frame.empty:
        raise UsageError("no records with curves: the results folder holds no run to plot")
    means = mean_curves(frame)
    styles = dict(zip(sorted(means["method"].unique()), itertools.product(_DASHES, _MARKERS), strict=False))
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for (dataset, task, bits), cell in means.groupby(["dataset", "task", "bits"]):
        figure, (pr_axes, k_axes) = pyplot.subplots(1, 2, figsize=(13, 4.5), layout="constrained")
        for method, lines in cell.groupby("method"):
            dash, marker = styles[method]
            pr = lines[lines["curve"] == "pr"]
            pr_axes.plot(pr["recall"], pr["precision"], dash, marker=marker, markersize=4, label=method,
                         markevery=max(1, len(pr) // 16))  # fmt: skip
            by_k = lines[lines["curve"] == "p@k"]
            k_axes.plot(by_k["x"], by_k["precision"], dash, marker=marker, markersize=4, label=method)
        pr_axes.set(xlabel="recall", ylabel="precision", title=f"PR by Hamming radius: {dataset} {task} {bits} bits")
        k_axes.set(xlabel="K (retrieved items)", ylabel="precision@K", xscale="log",
                   title=f"precision@K: {dataset} {task} {bits} bits")  # fmt: skip
        figure.legend(*k_axes.get_legend_handles_labels(), loc="outside right upper", fontsize="small")
        written += [_save(figure, out / f"{dataset}_{task}_{bits}b.{fmt}", fmt) for fmt in formats]
        pyplot.close(figure)
    return written


def loss_frame(records: list[RunRecord]) -> pd.DataFrame:
    """Per-epoch training losses (``fit_info["losses"]`` of deep methods): one row per (run, epoch, loss), the
    total losses only (entries named ``loss_*``)."""
    rows = [
        {"dataset": record.dataset, "bits": record.bits, "seed": record.seed, "epoch": entry["epoch"],
         "loss": name, "value": value}
        for record in records
        for entry in (record.fit_info or {}).get("losses", [])
        for name, value in entry.items()
        if name.startswith("loss_")
    ]  # fmt: skip
    return pd.DataFrame(rows)


def plot_losses(records: list[RunRecord], out_dir: str | Path, stem: str, fmt: str = "svg") -> Path | None:
    """One figure of a method's training losses per epoch, a panel per loss and a line per (dataset, bits),
    each point the mean over seeds, written to ``out_dir/stem_losses.fmt``; None when no record has losses."""
    frame = loss_frame(records)
    if frame.empty:
        return None
    pyplot = _pyplot()
    means = frame.groupby(["loss", "dataset", "bits", "epoch"])["value"].mean().reset_index()
    names = sorted(means["loss"].unique())
    figure, axes = pyplot.subplots(1, len(names), figsize=(4 * len(names), 3.5), layout="constrained", squeeze=False)
    for panel, name in zip(axes[0], names, strict=True):
        for (dataset, bits), line in means[means["loss"] == name].groupby(["dataset", "bits"]):
            panel.plot(line["epoch"], line["value"], label=f"{dataset} {bits} bits")
        panel.set(xlabel="epoch", title=name)
    figure.legend(*axes[0][0].get_legend_handles_labels(), loc="outside right upper", fontsize="small")
    Path(out_dir).mkdir(parents=True, exist_ok=True)
    path = _save(figure, Path(out_dir) / f"{stem}_losses.{fmt}", fmt)
    pyplot.close(figure)
    return path

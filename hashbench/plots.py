"""The curves papers print, from the records: precision-recall by Hamming radius and precision@K.

One figure per (dataset, task, bits), two panels, one line per method (a variant is a method of its own), each
point the mean over the seeds the store holds. Lines differ in marker and dash as well as colour, so that a
grey-scale print still tells them apart. Figures are written atomically, as PNG and PDF.
"""

from __future__ import annotations

import itertools
from pathlib import Path

import numpy as np
import pandas as pd

from hashbench.errors import UsageError
from hashbench.store import atomic_write, method_label

FIGURE_FORMATS = ("png", "pdf")
_MARKERS = ("o", "s", "^", "D", "v", "x", "+", "*", "<", ">", "p", "h")
_DASHES = ("-", "--", ":", "-.")


def curve_frame(records: list[dict]) -> pd.DataFrame:
    """Tidy curve points: one row per (run, task, curve, point) with x, precision and recall."""
    rows = []
    for record in records:
        method = method_label(record)
        for task, curves in record.get("curves", {}).items():
            key = {"method": method, "dataset": record["dataset"], "task": task, "bits": record["bits"],
                   "seed": record["seed"]}  # fmt: skip
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


def plot_curves(records: list[dict], out_dir: str | Path, formats: tuple[str, ...] = FIGURE_FORMATS) -> list[Path]:
    """Write one figure per (dataset, task, bits) into ``out_dir``; return the files written."""
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib import pyplot

    unknown = sorted(set(formats) - set(FIGURE_FORMATS))
    if unknown:
        raise UsageError(f"--format {unknown[0]!r}: expected {' and/or '.join(FIGURE_FORMATS)}")
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
        for fmt in formats:
            path = out / f"{dataset}_{task}_{bits}b.{fmt}"
            atomic_write(path, lambda file, fmt=fmt, figure=figure: figure.savefig(file, format=fmt, dpi=150))
            written.append(path)
        pyplot.close(figure)
    return written

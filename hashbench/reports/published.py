"""Published mAP beside reproduced mAP: the tables that papers printed, matched cell by cell.

The shipped tables are ``hashbench/reports/data/published_map.csv`` (provenance in the README beside it): one
row per (source, method, dataset, task, bits). A source is picked by name or prefix ("SSAH CVPR 2018 Table 2",
"DCMH CVPR 2017"), or a CSV file with the same columns is given instead.
"""

from __future__ import annotations

from importlib import resources
from pathlib import Path

import pandas as pd

from hashbench.errors import UsageError

COLUMNS = ("source", "method", "dataset", "task", "bits", "map")

#: The published name of each built-in method that papers report (both SCM and both SePH variants are
#: printed as one row, the papers not saying which variant ran).
PUBLISHED_NAMES = {
    "cmfh": "CMFH",
    "cmssh": "CMSSH",
    "cvh": "CVH",
    "dcmh": "DCMH",
    "scm-orth": "SCM",
    "scm-seq": "SCM",
    "seph-km": "SePH",
    "seph-rnd": "SePH",
    "ssah": "SSAH",
    "stmh": "STMH",
}


def shipped_tables() -> pd.DataFrame:
    """Every published row hashbench ships."""
    with resources.files("hashbench.reports").joinpath("data/published_map.csv").open("rb") as file:
        return pd.read_csv(file)


def load_published(source: str) -> pd.DataFrame:
    """The published rows of ``source``: a CSV file's path, or a shipped source's name or its prefix."""
    path = Path(source)
    if path.suffix == ".csv":
        try:
            table = pd.read_csv(path)
        except (OSError, pd.errors.ParserError) as error:
            raise UsageError(f"cannot read it as CSV ({error})", thing="published table", value=source) from None
        missing = [column for column in COLUMNS if column not in table.columns]
        if missing:
            raise UsageError(
                f"no column {missing[0]!r}; expected columns {', '.join(COLUMNS)}",
                thing="published table",
                value=source,
            )
        return table
    table = shipped_tables()
    chosen = table[table["source"].str.startswith(source)]
    if chosen.empty:
        known = "; ".join(sorted(table["source"].unique()))
        raise UsageError(
            f"no such source; expected a .csv file or one of: {known}", thing="published table", value=repr(source)
        )
    return chosen


def beside_published(summary: pd.DataFrame, published: pd.DataFrame) -> pd.DataFrame:
    """Reproduced cells (a :func:`hashbench.reports.tables.summarise` frame) with the published value of the same
    method, dataset, task and bits, and reproduced minus published; cells without a published value are left
    out."""
    reproduced = summary.assign(published_name=summary["family"].map(PUBLISHED_NAMES))  # a variant: its method's
    printed = published.rename(columns={"method": "published_name", "map": "published"})
    merged = reproduced.merge(printed, on=["published_name", "dataset", "task", "bits"], how="inner")
    merged["difference"] = merged["mean"] - merged["published"]
    columns = ["method", "dataset", "task", "bits", "mean", "std", "seeds", "published", "difference", "source"]
    return merged[columns].sort_values(["dataset", "task", "bits", "method", "source"]).reset_index(drop=True)

"""Comparison tables: mean ± std over seeds, best marked, incomplete cells never averaged."""

import pandas as pd
import pytest

from hashbench.errors import UsageError
from hashbench.tables import render, render_timings, summarise, timings


def frame(rows):
    columns = ["run_id", "method", "reference", "dataset", "bits", "seed", "task", "metric", "value"]
    return pd.DataFrame(
        [(f"{m}{b}{s}", m, f"ref {m}", "wiki", b, s, "i2t", "map", v) for m, b, s, v in rows], columns=columns
    )


RUNS = frame(
    [
        ("cmfh", 16, 0, 0.20),
        ("cmfh", 16, 1, 0.22),
        ("cmfh", 32, 0, 0.25),
        ("cmfh", 32, 1, 0.27),
        ("scm-seq", 16, 0, 0.30),
        ("scm-seq", 16, 1, 0.32),
        ("scm-seq", 32, 0, 0.40),  # seed 1 at 32 bits missing
    ]
)


def test_cells_hold_mean_and_sample_std_over_seeds():
    summary = summarise(RUNS).set_index(["method", "bits"])
    assert summary.loc[("cmfh", 16), "mean"] == pytest.approx(0.21)
    assert summary.loc[("cmfh", 16), "std"] == pytest.approx(0.0141421356)


def test_an_incomplete_cell_is_shown_missing_and_never_wins():
    markdown = render(RUNS)
    assert "– (1/2 seeds)" in markdown
    assert "0.4000" not in markdown
    assert "**0.2600 ± 0.0141**" in markdown  # cmfh wins 32 bits, since scm-seq's cell is incomplete
    assert "**0.3100 ± 0.0141**" in markdown


def test_latex_marks_the_best_in_bold_and_escapes():
    latex = render(RUNS, fmt="latex")
    assert r"\textbf{0.3100 $\pm$ 0.0141}" in latex
    assert r"\multicolumn{2}{c}{wiki i2t}" in latex


def test_csv_is_long_form():
    lines = render(RUNS, fmt="csv").splitlines()
    assert lines[0] == "method,reference,dataset,task,bits,mean,std,seeds,complete"
    assert len(lines) == 5


def test_a_variant_with_other_parameters_gets_its_own_row():
    variants = RUNS.assign(variant="").copy()
    variants.loc[variants["method"] == "scm-seq", "variant"] = "lam=0.1"
    markdown = render(variants)
    assert "scm-seq (lam=0.1)" in markdown and "| cmfh " in markdown


def test_an_unknown_metric_is_a_usage_error():
    with pytest.raises(UsageError, match="metric 'p@5': no record has it"):
        render(RUNS, metric="p@5")


def timed_record(method, bits, seed, fit_s, variant=""):
    n_database = 1000
    return {
        "method": method, "variant": variant, "dataset": "wiki", "bits": bits, "seed": seed,
        "timings": {"fit_s": fit_s, "encode_database_s_per_item": 2e-6 * (seed + 1), "search_s_per_query": 1e-5},
        "code_bytes": {"database": n_database * bits // 8},
    }  # fmt: skip


def test_the_timing_table_averages_each_configuration_over_its_seeds():
    records = [timed_record("cmfh", 16, 0, 1.0), timed_record("cmfh", 16, 1, 3.0), timed_record("cmfh", 64, 0, 5.0),
               timed_record("cmfh", 16, 0, 7.0, variant="db_codes=unified")]  # fmt: skip
    table = timings(records).set_index(["method", "bits"])
    assert table.loc[("cmfh", 16), "fit s"] == pytest.approx(2.0) and table.loc[("cmfh", 16), "seeds"] == 2
    assert table.loc[("cmfh", 16), "encode µs/item"] == pytest.approx(3.0)
    assert table.loc[("cmfh", 64), "database codes KiB"] == pytest.approx(1000 * 8 / 1024)
    assert table.loc[("cmfh (db_codes=unified)", 16), "fit s"] == pytest.approx(7.0)
    csv = render_timings(records, fmt="csv").splitlines()
    assert csv[0] == "method,dataset,bits,fit s,encode µs/item,search µs/query,database codes KiB,seeds"
    assert len(csv) == 4


def test_an_empty_store_has_no_timing_table():
    with pytest.raises(UsageError, match="holds no run"):
        render_timings([])

"""Comparison tables: mean ± std over seeds, best marked, incomplete cells never averaged."""

import dataclasses

import numpy as np
import pandas as pd
import pytest
from records import shipped_record
from scipy import stats

from hashbench.errors import UsageError
from hashbench.reports.published import beside_published, load_published
from hashbench.reports.tables import render, render_published, render_timings, summarise, timings


def frame(rows, db_codes="modality"):
    columns = ["run_id", "method", "label", "db_codes", "reference", "dataset", "bits", "seed", "task", "metric",
               "value"]  # fmt: skip
    label = " [unified]" if db_codes == "unified" else ""
    return pd.DataFrame(
        [(f"{m}{b}{s}{db_codes}", m, m + label, db_codes, f"ref {m}", "wiki", b, s, "i2t", "map", v)
         for m, b, s, v in rows],
        columns=columns,
    )  # fmt: skip


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


def test_a_metric_that_does_not_rank_methods_marks_no_best():
    counts = RUNS.assign(metric="queries_without_relevant")
    assert "**" not in render(counts, metric="queries_without_relevant")
    assert "**" in render(RUNS.assign(metric="map@50"), metric="map@50")


def test_latex_marks_the_best_in_bold_and_escapes():
    latex = render(RUNS, fmt="latex")
    assert r"\textbf{0.3100 $\pm$ 0.0141}" in latex
    assert r"\multicolumn{2}{c}{wiki i2t}" in latex


def test_csv_is_long_form():
    lines = render(RUNS, fmt="csv").splitlines()
    assert lines[0] == "method,db_codes,reference,dataset,task,bits,mean,std,seeds,complete"
    assert len(lines) == 5


def test_a_variant_with_other_parameters_gets_its_own_row():
    variants = RUNS.drop(columns="label").assign(variant="")
    variants.loc[variants["method"] == "scm-seq", "variant"] = "lam=0.1"
    markdown = render(variants)
    assert "scm-seq (lam=0.1)" in markdown and "| cmfh " in markdown


def test_unified_rows_come_after_the_per_modality_rows_and_are_ranked_among_themselves():
    unified = frame([("cmfh", 16, 0, 0.60), ("cmfh", 16, 1, 0.62), ("cmfh", 32, 0, 0.1), ("cmfh", 32, 1, 0.1)],
                    db_codes="unified")  # fmt: skip
    lines = render(pd.concat([RUNS, unified])).splitlines()[2:]
    assert [line.split("|")[1].strip() for line in lines] == ["cmfh", "scm-seq", "cmfh [unified]"]
    assert "**0.3100 ± 0.0141**" in lines[1]  # scm-seq stays the best per-modality cell at 16 bits
    assert "**0.6100 ± 0.0141**" in lines[2] and "**0.1000" in lines[2]  # the only unified row is its own best
    assert "cmfh [unified],unified,ref cmfh,wiki,i2t,16,0.61" in render(pd.concat([RUNS, unified]), fmt="csv")


def test_an_unknown_metric_is_a_usage_error():
    with pytest.raises(UsageError, match="metric 'p@5': no record has it"):
        render(RUNS, metric="p@5")


def timed_record(method, bits, seed, fit_s, variant=""):
    n_database = 1000
    return shipped_record(
        method=method, variant=variant, dataset="wiki", bits=bits, seed=seed, threads=1, db_codes="modality",
        machine=None,
        timings={"fit_s": fit_s, "encode_database_s_per_item": 2e-6 * (seed + 1), "search_s_per_query": 1e-5,
                 "fit_cpu_s": 2 * fit_s, "encode_database_cpu_s_per_item": 1e-6, "search_cpu_s_per_query": 3e-5},
        code_bytes={"query": 0, "database": n_database * bits // 8},
    )  # fmt: skip


def test_the_timing_table_averages_each_configuration_over_its_seeds():
    records = [timed_record("cmfh", 16, 0, 1.0), timed_record("cmfh", 16, 1, 3.0), timed_record("cmfh", 64, 0, 5.0),
               dataclasses.replace(timed_record("cmfh", 16, 0, 7.0), db_codes="unified")]  # fmt: skip
    table = timings(records).set_index(["method", "bits"])
    assert table.loc[("cmfh", 16), "fit s"] == pytest.approx(2.0) and table.loc[("cmfh", 16), "seeds"] == 2
    assert table.loc[("cmfh", 16), "encode µs/item"] == pytest.approx(3.0)
    assert table.loc[("cmfh", 64), "database codes KiB"] == pytest.approx(1000 * 8 / 1024)
    assert table.loc[("cmfh [unified]", 16), "fit s"] == pytest.approx(7.0)
    csv = render_timings(records, fmt="csv").splitlines()
    assert csv[0] == "method,dataset,bits,fit s,encode µs/item,search µs/query,database codes KiB,seeds,busy runs"
    assert len(csv) == 4


def test_the_timing_table_shows_cpu_seconds_and_counts_runs_on_a_busy_machine():
    busy = dataclasses.replace(timed_record("cmfh", 16, 1, 3.0), machine={"busy_warning": "the machine was busy: ..."})
    records = [timed_record("cmfh", 16, 0, 1.0), busy, timed_record("cmfh", 64, 0, 5.0)]
    table = timings(records, clock="cpu").set_index(["method", "bits"])
    assert table.loc[("cmfh", 16), "fit CPU s"] == pytest.approx(4.0)
    assert table.loc[("cmfh", 16), "search CPU µs/query"] == pytest.approx(30.0)
    assert table.loc[("cmfh", 16), "busy runs"] == 1 and table.loc[("cmfh", 64), "busy runs"] == 0
    assert "busy runs: runs whose record warns" in render_timings(records)
    del records[2].timings["fit_cpu_s"]  # a record made before CPU time was recorded
    with pytest.raises(UsageError, match="has no cpu timings"):
        timings(records, clock="cpu")
    assert timings(records)["fit s"].notna().all()  # wall timings still work


def test_an_empty_store_has_no_timing_table():
    with pytest.raises(UsageError, match="holds no run"):
        render_timings([])


def cells(dataset, rows):
    """A results frame of mAP cells: (method, variant, bits, seed, value) rows in ``dataset``, task i2t."""
    columns = ["run_id", "method", "variant", "reference", "dataset", "bits", "seed", "task", "metric", "value"]
    return pd.DataFrame(
        [(f"{m}{v}{b}{s}", m, v, "", dataset, b, s, "i2t", "map", x) for m, v, b, s, x in rows], columns=columns
    )


def test_a_shipped_source_is_chosen_by_its_name_or_prefix():
    assert set(load_published("SSAH CVPR 2018 Table 2")["source"]) == {"SSAH CVPR 2018 Table 2"}
    assert set(load_published("DCMH")["source"]) == {"DCMH CVPR 2017 Table 3", "DCMH CVPR 2017 Table 4"}
    with pytest.raises(UsageError, match=r"no such source; expected a \.csv file or one of: DCMH CVPR 2017 Table 3"):
        load_published("SSAH 2019")


def test_reproduced_cells_stand_beside_the_published_ones_of_the_same_method_and_cell():
    runs = cells("mirflickr25k", [("cvh", "", 16, 0, 0.50), ("cvh", "", 16, 1, 0.52), ("scm-seq", "", 16, 0, 0.60),
                                  ("scm-orth", "reg=0.1", 16, 0, 0.55), ("cca-itq", "", 16, 0, 0.5)])  # fmt: skip
    table = beside_published(summarise(runs), load_published("SSAH CVPR 2018 Table 2")).set_index("method")
    assert set(table.index) == {"cvh", "scm-seq", "scm-orth (reg=0.1)"}  # CCA-ITQ is not the papers' CCA
    assert table.loc["cvh", "published"] == 0.557 and table.loc["cvh", "difference"] == pytest.approx(0.51 - 0.557)
    markdown = " ".join(render_published(runs, load_published("SSAH CVPR 2018 Table 2")).split())
    assert "| cvh | mirflickr25k | i2t | 16 | 0.5100 ± 0.0141 | 0.5570 | -0.0470 | SSAH CVPR 2018 Table 2 |" in markdown


def test_a_csv_of_ones_own_published_numbers_works_the_same(tmp_path):
    path = tmp_path / "mine.csv"
    path.write_text("source,method,dataset,task,bits,map\nmy paper,CMFH,wiki,i2t,16,0.2\n", encoding="utf-8")
    csv = render_published(cells("wiki", [("cmfh", "", 16, 0, 0.21)]), load_published(str(path)), fmt="csv")
    assert csv.splitlines()[1].startswith("cmfh,wiki,i2t,16,0.21,") and "my paper" in csv
    path.write_text("method,dataset,bits,map\n", encoding="utf-8")
    with pytest.raises(UsageError, match="no column 'source'"):
        load_published(str(path))


PAIRED = frame(
    [
        ("ssah", 16, 0, 0.20), ("ssah", 16, 1, 0.22), ("ssah", 16, 2, 0.25),
        ("udsph", 16, 0, 0.30), ("udsph", 16, 1, 0.32), ("udsph", 16, 2, 0.34),  # +0.10, +0.10, +0.09
        ("dcmh", 16, 0, 0.21), ("dcmh", 16, 1, 0.20), ("dcmh", 16, 2, 0.26),  # +0.01, -0.02, +0.01
    ]
)  # fmt: skip


def test_cells_are_tested_against_a_chosen_method_paired_by_seed():
    summary = summarise(PAIRED, against="ssah").set_index("method")
    differences = np.array([0.10, 0.10, 0.09])
    t = differences.mean() / (differences.std(ddof=1) / np.sqrt(3))
    assert summary.loc["udsph", "p_value"] == pytest.approx(2 * stats.t.sf(t, df=2))
    assert summary.loc["dcmh", "p_value"] > 0.5 and np.isnan(summary.loc["ssah", "p_value"])
    markdown = render(PAIRED, against="ssah")
    assert "**0.3200 ± 0.0200 †**" in markdown and "| 0.2233 ± 0.0321       |" in markdown
    assert markdown.endswith("†: differs from ssah at p < 0.05 (ttest, paired by seed)")
    assert "†" not in render(PAIRED, against="ssah", test="wilcoxon").split("\n\n")[0]  # 3 seeds: p >= 0.25


def test_an_unknown_method_to_test_against_is_a_usage_error():
    with pytest.raises(
        UsageError, match="method to compare against 'nope': no such method in the store; expected one of: dcmh"
    ):
        summarise(PAIRED, against="nope")

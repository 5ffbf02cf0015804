"""hashbench plot: curve points averaged over seeds, one PNG and PDF per dataset/task/bits, bad input."""

import pytest
from records import shipped_record

from hashbench.cli import main
from hashbench.errors import UsageError
from hashbench.reports.plots import curve_frame, mean_curves, plot_curves


def curved_record(method, seed, precision):
    curves = {"precision_at_k": {"k": [1, 10], "precision": [precision, precision / 2]},
              "pr_by_radius": {"radius": [0, 1], "precision": [precision, 0.1], "recall": [0.2, 1.0]}}  # fmt: skip
    return shipped_record(method=method, variant="", threads=1, db_codes="modality", dataset="wiki", bits=16, seed=seed,
                          curves={"i2t": curves})  # fmt: skip


def test_each_point_is_the_mean_over_seeds():
    means = mean_curves(curve_frame([curved_record("cmfh", 0, 0.4), curved_record("cmfh", 1, 0.6)]))
    by_k = means[means["curve"] == "p@k"].set_index("x")["precision"]
    assert by_k[1] == pytest.approx(0.5) and by_k[10] == pytest.approx(0.25)
    pr = means[means["curve"] == "pr"].set_index("x")
    assert pr.loc[0, "precision"] == pytest.approx(0.5) and pr.loc[1, "recall"] == pytest.approx(1.0)


def test_plot_writes_a_png_and_a_pdf_per_dataset_task_and_bits(tmp_path, capsys):
    results = tmp_path / "results"
    assert main(["run", "--method", "cca-itq", "--bits", "16", "32", "--results", str(results)]) == 0
    capsys.readouterr()
    assert main(["plot", "--results", str(results), "--out", str(tmp_path / "plots")]) == 0
    written = sorted(p.name for p in (tmp_path / "plots").iterdir())
    assert written == sorted(f"wiki_{t}_{b}b.{f}" for t in ("i2t", "t2i") for b in (16, 32) for f in ("pdf", "png"))
    assert (tmp_path / "plots" / "wiki_i2t_16b.png").read_bytes().startswith(b"\x89PNG")
    assert (tmp_path / "plots" / "wiki_t2i_32b.pdf").read_bytes().startswith(b"%PDF")


def test_nothing_to_plot_or_an_unknown_format_is_a_usage_error(tmp_path):
    with pytest.raises(UsageError, match="no run to plot"):
        plot_curves([], tmp_path)
    with pytest.raises(UsageError, match="'jpg': expected one or more of png, pdf, svg"):
        plot_curves([curved_record("cmfh", 0, 0.4)], tmp_path, ("jpg",))
    assert not list(tmp_path.iterdir())

"""Figures and the HTML page: written, non-empty, column-width, one colour per config, self-contained."""

from __future__ import annotations

import re
from pathlib import Path

from fixtures.report_results import make_results, write_distill
from leafbench.report import build_report, load_results
from leafbench.report.figures import write_figures
from leafbench.report.style import COLUMN_WIDTH_IN, TEACHER_COLOUR, colours
from leafbench.report.tables import SignificanceOptions


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    return int.from_bytes(head[16:20], "big"), int.from_bytes(head[20:24], "big")


def test_figures_written_at_column_width(tmp_path: Path) -> None:
    rs = load_results([make_results(tmp_path / "results")])
    figures = write_figures(rs, tmp_path / "figures")
    assert [f.name for f in figures] == ["score_vs_dim", "per_task", "quantization_loss"]  # no throughput records
    for f in figures:
        width, height = _png_size(f.png)
        # 300 dpi, tight bounding box: close to a 3.4 in column, never wider
        assert 0.8 * COLUMN_WIDTH_IN * 300 < width <= 1.02 * COLUMN_WIDTH_IN * 300 and height > 300, f.name
        assert f.pdf.read_bytes()[:5] == b"%PDF-" and f.pdf.stat().st_size > 5000
        assert f.caption


def test_learning_curve_from_a_distill_record(tmp_path: Path) -> None:
    folder = make_results(tmp_path / "results")
    write_distill(folder)
    figures = write_figures(load_results([folder]), tmp_path / "figures")
    curve = next(f for f in figures if f.name == "learning_curve")
    assert curve.png.stat().st_size > 10_000 and "40.0 samples/s" in curve.caption


def test_colours_fixed_per_config(tmp_path: Path) -> None:
    rs = load_results([make_results(tmp_path / "results")])
    col = colours(rs)
    assert col["teacher"] == TEACHER_COLOUR and len(set(col.values())) == 3
    assert colours(load_results([make_results(tmp_path / "results")])) == col  # deterministic
    assert colours(load_results([tmp_path / "results"], teacher="student"))["student"] == TEACHER_COLOUR


def test_html_is_one_offline_page(tmp_path: Path) -> None:
    report = build_report([make_results(tmp_path / "results")], tmp_path / "report",
                          opts=SignificanceOptions(n_resamples=500))
    page = report.html.read_text()
    assert page.count('src="data:image/png;base64,') == len(report.figures)
    assert {f.name for f in report.figures} >= {"score_vs_dim", "frontier_bytes"}
    assert not re.search(r'(src|href)="(https?:)?//', page)  # nothing fetched from anywhere
    assert '<table id="table1">' in page and "<sup>b</sup>" in page and "<details>" in page


def test_quality_vs_throughput_needs_throughput_records(tmp_path: Path) -> None:
    from fixtures.report_results import write_throughput
    from leafbench.report.figures import quality_vs_throughput
    from leafbench.report.style import pareto

    folder = make_results(tmp_path / "results")
    assert quality_vs_throughput(load_results([folder]), tmp_path / "f") is None
    write_throughput(folder)
    fig = quality_vs_throughput(load_results([folder]), tmp_path / "f")
    assert fig is not None and fig.png.stat().st_size > 10_000 and "Test CPU" in fig.caption
    # (speed, quality): (1, .9) and (10, .8) are on the front, (5, .7) is beaten by (10, .8)
    assert pareto([(1, 0.9), (5, 0.7), (10, 0.8)]) == [(1, 0.9), (10, 0.8)]


def test_report_stage_of_a_run(tmp_path: Path, capsys) -> None:
    from leafbench.report.commands import report_after_run, reports_root

    assert reports_root(Path("results")) == Path("reports")
    assert reports_root(tmp_path / "out") == tmp_path / "out" / "reports"
    folder = make_results(tmp_path / "results")
    out = report_after_run(folder, tmp_path / "results", "fixture")
    assert out == tmp_path / "reports" / "fixture"
    assert (out / "index.html").is_file() and (out / "tables" / "table1.tex").is_file()
    assert "Table 1" in capsys.readouterr().out


def test_family_frontier_plots_asymmetric_quality_against_query_latency(tmp_path: Path) -> None:
    from fixtures.report_results import write_throughput
    from leafbench.report.frontier import frontier, frontier_points

    folder = make_results(tmp_path / "results")
    rs = load_results([folder])
    assert frontier(rs, tmp_path / "f") is None  # no latency measured: no figure
    write_throughput(folder)
    rs = load_results([folder])
    points, setup = frontier_points(rs)
    # the teacher (reference) and the asymmetric config, never the standard student config
    assert {p.config for p in points} == {"teacher", "leaf-asym"} and setup == ("Test CPU", "torch fp32")
    asym = [p for p in points if p.config == "leaf-asym"]
    assert {(p.dim, p.precision) for p in asym} == {(d, pr) for d in rs.dims("leaf-asym") for pr in rs.precisions}
    assert all(p.ndcg10 == rs.mean_score("leaf-asym", p.dim, p.precision) for p in asym)
    fig = frontier(rs, tmp_path / "f")
    assert fig is not None and fig.name == "family_frontier" and fig.png.stat().st_size > 10_000
    assert "batch-1 latency on Test CPU" in fig.caption

"""Reports from result folders: tables (Markdown, LaTeX, CSV, rich), paper figures, one offline HTML page, and
leaderboard JSON in MTEB's layout.

    from leafbench.report import build_report
    report = build_report(["results/quickstart"], "reports/quickstart")

Layout of a report folder:
    tables.md                the main tables in Markdown (paste into a README or paper draft)
    tables/<name>.md|tex|csv table1, share, mrl, mteb, mteb_mrl, throughput, deploy_*, alignment, distill,
                             significance (as the results support: a table whose data the run did not produce is
                             left out)
    cells.csv                every cell, every metric, long format
    figures/<name>.png|pdf   score_vs_dim, per_task, quantization_loss, quality_vs_throughput, learning_curve,
                             frontier_bytes, frontier_latency
    deploy.json              every deploy point with each cost marked measured or projected (leafbench.deploy)
    index.html               all of it on one self-contained page
"""

from __future__ import annotations

import os
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from leafbench.resultset import ResultSet, load_results
from leafbench.report.deploy import deploy_analysis, deploy_tables, write_deploy_json
from leafbench.report.distill import distill_table
from leafbench.report.render import Table
from leafbench.report.share import share_table
from leafbench.report.tables import SignificanceOptions, alignment_table, cells_csv, mrl_table, mteb_mrl_table, \
    mteb_table, significance_families, significance_table, table1
from leafbench.report.throughput import throughput_table

__all__ = ["Report", "SignificanceOptions", "build_report", "build_figures", "default_report_dir", "load_results"]


@dataclass
class Report:
    results: ResultSet
    out: Path
    tables: list[Table] = field(default_factory=list)
    figures: list = field(default_factory=list)  # list[figures.Figure]; matplotlib is imported only when drawing
    html: Path | None = None


def default_report_dir(rs: ResultSet, root: Path = Path("reports")) -> Path:
    """reports/<suite> for one suite, reports/<suite1+suite2> for a few, reports/combined otherwise."""
    return root / ("+".join(rs.suites) if len(rs.suites) <= 3 else "combined")


def _write_text(path: Path, text: str) -> None:
    """Temp file and rename, so a reader (a browser, LaTeX) never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def build_tables(rs: ResultSet, out: Path, opts: SignificanceOptions = SignificanceOptions()) -> list[Table]:
    """Compute and write every table the results support; returns them for printing."""
    families = significance_families(rs, opts)
    retrieval = ([table1(rs, families, opts), share_table(rs, opts.metric, opts.n_resamples, opts.seed), mrl_table(rs)]
                 if rs.cells else [])
    made = [*retrieval, mteb_table(rs), mteb_mrl_table(rs), throughput_table(rs), *deploy_tables(rs),
            alignment_table(rs), distill_table(rs), significance_table(families, opts)]
    tables = [t for t in made if t is not None and t.rows]
    for t in tables:
        _write_text(out / "tables" / f"{t.name}.md", t.to_markdown())
        _write_text(out / "tables" / f"{t.name}.tex", t.to_latex())
        _write_text(out / "tables" / f"{t.name}.csv", t.to_csv())
    notes = "".join(f"- {n}\n" for n in rs.notes)
    main = [t for t in tables if t.name != "significance"]  # hundreds of rows: its own file only
    _write_text(out / "tables.md", "\n".join(t.to_markdown() for t in main) + (f"\nNotes:\n{notes}" if notes else ""))
    _write_text(out / "cells.csv", cells_csv(rs))
    write_deploy_json(rs, out)
    return tables


def build_figures(rs: ResultSet, out: Path) -> list:
    from leafbench.report.deploy_figures import deploy_figures
    from leafbench.report.figures import write_figures

    return write_figures(rs, out / "figures") + deploy_figures(rs, deploy_analysis(rs), out / "figures")


def build_report(folders: list[str | Path], out: str | Path | None = None, teacher: str | None = None,
                 opts: SignificanceOptions = SignificanceOptions(), all_runs: bool = False) -> Report:
    """Tables, figures and the HTML page for the latest run of each folder (every record with `all_runs`)
    (default out: reports/<suite>)."""
    from leafbench.report.html import render_html

    rs = load_results(folders, teacher, all_runs=all_runs)
    out_dir = Path(out) if out is not None else default_report_dir(rs)
    report = Report(rs, out_dir, build_tables(rs, out_dir, opts), build_figures(rs, out_dir))
    report.html = out_dir / "index.html"
    title = f"leafbench report: {', '.join(rs.suites)}"
    _write_text(report.html, render_html(rs, report.tables, report.figures, title))
    return report

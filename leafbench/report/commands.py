"""The `report`, `figures` and `export` subcommands, and the report stage that ends `leafbench run`.

Registered from `leafbench.cli.build_parser` with one call, so the CLI module stays a thin list of commands.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.console import Console

from leafbench.report.significance import CORRECTIONS, METHODS

out = Console()


def _options(args: argparse.Namespace) -> Any:
    from leafbench.errors import UserError
    from leafbench.report.tables import SignificanceOptions

    if not 0 < args.alpha < 1:
        raise UserError(f"--alpha {args.alpha}: expected a significance level between 0 and 1, e.g. 0.05")
    if args.resamples < 1:
        raise UserError(f"--resamples {args.resamples}: expected a positive number of sign flips and "
                        f"bootstrap draws, e.g. 10000")
    return SignificanceOptions(method=args.test, alpha=args.alpha, correction=args.correction,
                               n_resamples=args.resamples)


def cmd_report(args: argparse.Namespace) -> int:
    from leafbench.report import build_report

    report = build_report(args.results, args.out, teacher=args.teacher, opts=_options(args), all_runs=args.all)
    for table in report.tables:
        if table.name != "significance":
            out.print(table.to_rich())
    for note in report.results.notes:
        out.print(f"note: {note}")
    out.print(f"{len(report.tables)} tables, {len(report.figures)} figures -> {report.out}/ "
              f"(open {report.html})")
    return 0


def cmd_figures(args: argparse.Namespace) -> int:
    from leafbench.report import build_figures, default_report_dir, load_results

    rs = load_results(args.results, args.teacher, all_runs=args.all)
    target = Path(args.out) if args.out else default_report_dir(rs)
    figures = build_figures(rs, target)
    for f in figures:
        out.print(f"{f.png}  {f.pdf.name}  {f.caption}", highlight=False)
    out.print(f"{len(figures)} figures -> {target / 'figures'}")
    return 0


def cmd_export(args: argparse.Namespace) -> int:
    from leafbench.report.export import export_mteb

    outcome = export_mteb(args.results, args.out)
    for note in outcome.notes:
        out.print(f"note: {note}")
    out.print(f"{len(outcome.files)} MTEB result files ({outcome.copied} copied from the run's MTEB stage, "
              f"{len(outcome.files) - outcome.copied} converted from the retrieval grid) for "
              f"{', '.join(sorted(outcome.models))}; read back by mteb and checked -> {outcome.out}", highlight=False)
    return 0


def reports_root(output_root: Path) -> Path:
    """`reports/` beside the results root when that is named `results` (the default: ./results, ./reports), inside
    it otherwise, so `--output DIR` keeps everything a run writes under DIR."""
    return output_root.with_name("reports") if output_root.name == "results" else output_root / "reports"


def report_after_run(results_dir: Path, output_root: Path, suite_name: str) -> Path:
    """The last stage of `leafbench run`: tables, figures and HTML in <reports root>/<suite>/."""
    from leafbench.report import build_report

    report = build_report([results_dir], reports_root(output_root) / suite_name)
    headline = next((t for t in report.tables if t.name in ("table1", "mteb")), None)
    if headline is not None:
        out.print(headline.to_rich())
    budget = next((t for t in report.tables if t.name == "deploy_budget"), None)  # what to ship (leafbench deploy)
    if budget is not None:
        out.print(budget.to_rich())
    out.print(f"report: {len(report.tables)} tables, {len(report.figures)} figures -> {report.out}/ "
              f"(open {report.html})")
    return report.out


def add_report_commands(sub: Any) -> None:
    """Register report/figures/export on the CLI's subparsers."""
    p = sub.add_parser("report", help="tables (Markdown, LaTeX, CSV), figures and an HTML page from result folders")
    p.add_argument("results", nargs="+", metavar="RESULTS_DIR", help="results folders (any runs, suites, machines)")
    p.add_argument("--out", help="report folder (default: reports/<suite>)")
    p.add_argument("--teacher", metavar="CONFIG", help="the config to compare against (default: the document model "
                   "of the asymmetric configs, else the config named 'teacher')")
    p.add_argument("--all", action="store_true", help="every record found, not only each folder's latest run")
    p.add_argument("--test", choices=METHODS, default="randomization", help="paired significance test")
    p.add_argument("--correction", choices=CORRECTIONS, default="bonferroni", help="multiple-testing correction")
    p.add_argument("--alpha", type=float, default=0.05, help="significance level (default 0.05)")
    p.add_argument("--resamples", type=int, default=10_000,
                   help="randomisation test's sign flips and the share table's bootstrap draws (default 10000)")
    p.set_defaults(func=cmd_report)

    p = sub.add_parser("figures", help="paper figures (PNG + PDF) from result folders")
    p.add_argument("results", nargs="+", metavar="RESULTS_DIR")
    p.add_argument("--out", help="report folder; figures go to OUT/figures (default: reports/<suite>)")
    p.add_argument("--teacher", metavar="CONFIG", help="the config drawn as the teacher")
    p.add_argument("--all", action="store_true", help="every record found, not only each folder's latest run")
    p.set_defaults(func=cmd_figures)

    p = sub.add_parser("export", help="leaderboard JSON in MTEB's results layout, checked by loading it with mteb")
    p.add_argument("results", metavar="RESULTS_DIR", help="a results folder, e.g. results/quickstart")
    p.add_argument("--format", choices=["mteb"], default="mteb", help="output format (mteb: MTEB results layout)")
    p.add_argument("--out", required=True, help="output folder; files go to OUT/results/<org>__<model>/<revision>/ "
                   "(mteb.ResultCache(cache_path=OUT) reads it)")
    p.set_defaults(func=cmd_export)

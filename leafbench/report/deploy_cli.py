"""`leafbench deploy RESULTS... [--docs N] [--max-bytes B] [--max-latency-ms L]`: which configuration to ship.

Prints the best configuration under each budget given (or a few default budgets), the frontier and the search-cost
model's held-out check, at N documents (default: the largest corpus evaluated). Reads results only: no model is
loaded and neither torch nor mteb is imported, so it answers in about a second. The first call on a machine times
the search-cost calibration (a few seconds) unless the run's report already did.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from rich.console import Console

out = Console()
MAX_DOCS = 10 ** 13  # far above any corpus; beyond it the costs are meaningless numbers


def budgets_from(args: argparse.Namespace) -> list[Any] | None:
    from leafbench.deploy.budgets import Budget
    from leafbench.deploy.numbers import parse_number

    max_bytes = parse_number(args.max_bytes, "--max-bytes") if args.max_bytes is not None else None
    max_ms = parse_number(args.max_latency_ms, "--max-latency-ms") if args.max_latency_ms is not None else None
    if max_bytes is None and max_ms is None:
        return None  # the defaults
    budgets = [Budget(max_bytes_per_doc=max_bytes)] if max_bytes is not None else []
    budgets += [Budget(max_latency_ms=max_ms)] if max_ms is not None else []
    if max_bytes is not None and max_ms is not None:
        budgets.append(Budget(max_bytes_per_doc=max_bytes, max_latency_ms=max_ms))
    return budgets


def cmd_deploy(args: argparse.Namespace) -> int:
    from leafbench.deploy.numbers import parse_number
    from leafbench.errors import UserError
    from leafbench.resultset import load_results
    from leafbench.report.deploy import budget_table, deploy_analysis, frontier_table

    n_docs = int(parse_number(args.docs, "--docs", integer=True)) if args.docs is not None else None
    if n_docs is not None and n_docs > MAX_DOCS:
        raise UserError(f"--docs {args.docs}: expected at most {MAX_DOCS:.0e} documents (a corpus size to cost)")
    budgets = budgets_from(args)
    rs = load_results(args.results)
    scale = [Path(f) for f in args.scale or []]
    for path in scale:
        if not path.is_file():
            raise UserError(f"--scale {path}: no such file (expected the JSON benchmarks/scale.py writes)")
    analysis = deploy_analysis(rs, n_docs, budgets, scale=scale)
    if analysis is None:
        raise UserError(f"{', '.join(args.results)}: no retrieval cells (deploy ranks retrieval configurations; "
                        f"expected results of `leafbench run` with tasks)")
    if args.max_latency_ms is not None and analysis.throughput_setup is None:
        raise UserError(f"--max-latency-ms {args.max_latency_ms}: {', '.join(args.results)} holds no throughput "
                        f"record, so no configuration has a query latency (run `leafbench throughput SUITE` first)")
    for table in (budget_table(analysis), frontier_table(analysis)):
        if table is not None:  # the terminal gets the deciding columns; tables/ and deploy.json keep them all
            out.print(table.to_rich())
    for answer in analysis.answers:
        if answer.best is None:
            out.print(f"nothing fits {answer.budget.label}: {cheapest(analysis)}", highlight=False)
    for note in analysis.notes + rs.notes:
        out.print(f"note: {note}", highlight=False)
    return 0


def cheapest(analysis: Any) -> str:
    """What the least demanding configurations need, so a user sees how far the budget is from any of them."""
    from leafbench.deploy.numbers import human_bytes

    by_bytes = min(analysis.points, key=lambda p: p.bytes_per_doc, default=None)
    timed = [p for p in analysis.points if p.latency_ms is not None]
    parts = [f"the smallest, {by_bytes.label}, needs {human_bytes(by_bytes.bytes_per_doc)}/doc"] if by_bytes else []
    if timed:
        fastest = min(timed, key=lambda p: p.latency_ms)
        parts.append(f"the fastest, {fastest.label}, {fastest.latency_ms:.3g} ms/query")
    return "; ".join(parts) or "no configuration has a cost"


def add_deploy_command(sub: Any) -> None:
    """Register `deploy` on the CLI's subparsers."""
    p = sub.add_parser("deploy", help="quality/memory/latency frontier and the best configuration under a budget")
    p.add_argument("results", nargs="+", metavar="RESULTS_DIR", help="results folders, e.g. results/quickstart")
    p.add_argument("--docs", metavar="N", help="corpus size to cost, e.g. 8.8M (default: the largest evaluated)")
    p.add_argument("--max-bytes", metavar="B", help="bytes per document budget, e.g. 128 or 1Ki")
    p.add_argument("--max-latency-ms", metavar="L", help="query latency budget in milliseconds, e.g. 20")
    p.add_argument("--scale", metavar="FILE", action="append",
                   help="a benchmarks/scale.py result to cost FAISS backends from (default: results/bench/scale.json "
                        "beside the results folder)")
    p.set_defaults(func=cmd_deploy)

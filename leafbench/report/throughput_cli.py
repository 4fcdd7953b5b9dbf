"""`leafbench throughput SUITE` and the console tables that end it (and the throughput stage of `leafbench run`):
per model and setup the medians [min-max over trials], then the speed-ups against the teacher."""

from __future__ import annotations

import argparse
import os
from typing import Any

from rich.console import Group
from rich.markup import escape
from rich.table import Table

from leafbench.throughput.record import RateRatio, Spread
from leafbench.throughput.stage import ThroughputOutcome


def _fmt_spread(s: Spread | None, digits: int = 1) -> str:
    if not s:
        return "-"
    return escape(f"{s.median:,.{digits}f} [{s.min:,.{digits}f}-{s.max:,.{digits}f}]")


def _fmt_ratio(r: RateRatio | float | None) -> str:
    if r is None:
        return "-"
    if isinstance(r, RateRatio):
        return escape(f"{r.median:.2f}x [{r.low:.2f}-{r.high:.2f}]")
    return f"{r:.2f}x"


def throughput_table(outcome: ThroughputOutcome) -> Group:
    """Two small tables: medians [min-max over trials] per model and setup, then the speed-ups vs the teacher."""
    figures = Table(title=escape("Throughput (median [min-max] over trials)"))
    for col in ("model", "setup", "params", "docs/s", "queries/s", "p50/p95 ms", "peak"):
        figures.add_column(col, justify="left" if col in ("model", "setup") else "right")
    for r in outcome.records:
        lat = r.latency_ms
        head = (r.documents.by_batch_size.get(str(r.batch_size)) if r.documents else None)
        peak = head.peak_fraction if head else None
        figures.add_row(r.model.name, f"{r.backend} {r.dtype} {r.device} b{r.batch_size}",
                        f"{r.n_parameters / 1e6:.1f}M" if r.n_parameters else "-", _fmt_spread(r.docs_per_s),
                        _fmt_spread(r.queries_per_s), f"{lat.p50:.1f}/{lat.p95:.1f}" if lat else "-",
                        f"{peak.median:.0%}" if peak else "-")
    ratios = outcome.ratios
    if ratios is None or not ratios.comparisons:
        return Group(figures)
    speedups = Table(title=escape(f"Speed-up vs teacher '{ratios.teacher}' (x; [range over trials])"))
    for col in ("model", "setup", "params", "docs/s", "queries/s", "latency p50"):
        speedups.add_column(col, justify="left" if col in ("model", "setup") else "right")
    for c in ratios.comparisons:
        vs = f" (teacher {c.teacher_dtype})" if c.teacher_dtype not in (None, c.dtype) else ""
        speedups.add_row(c.model, f"{c.backend} {c.dtype}{vs} {c.device}", _fmt_ratio(c.params),
                         _fmt_ratio(c.docs_per_s), _fmt_ratio(c.queries_per_s), _fmt_ratio(c.latency_p50))
    return Group(figures, speedups)


def load_note(outcome: ThroughputOutcome) -> str | None:
    """A warning when the machine was busier than its cores during a measurement: figures are then noisy."""
    loads = [x for r in outcome.records for x in ((r.load_average or {}).get("before") or [])[:1]]
    cores = os.cpu_count() or 1
    if loads and max(loads) > cores:
        return (f"note: 1-minute load average up to {max(loads):.1f} on {cores} cores during measurement: other "
                f"processes shared the CPU, so these figures are slower and noisier than on an idle machine")
    return None


def print_throughput(outcome: ThroughputOutcome, console: Any) -> None:
    """The tables and the load note, as `leafbench run` and `leafbench throughput` end."""
    if outcome.records:
        console.print(throughput_table(outcome))
    note = load_note(outcome)
    if note:
        console.print(note)


def throughput_command(args: argparse.Namespace, console: Any) -> int:
    """`leafbench throughput SUITE`: the suite's throughput section (defaults when it has none), then the table."""
    from leafbench.config import load_suite
    from leafbench.hardware import run_machine
    from leafbench.results import recorded_run
    from leafbench.runner import carry_all, throughput_stage

    suite = load_suite(args.suite, {"output": args.output, "device": args.device})
    with recorded_run(suite.results_dir, suite.name, "throughput", carry_all, carry_files=True,
                      machine=run_machine(suite.device)) as log:
        outcome = throughput_stage(suite, args.force, None, log)
    print_throughput(outcome, console)
    console.print(f"{outcome.measured} throughput records measured, {outcome.reused} reused -> "
                  f"{suite.results_dir / 'throughput'}")
    return 0

"""`leafbench distill SUITE` and the distill stage's console table (rich): the CLI side of leafbench.distill.stage.

An interrupted run continues from its last checkpoint by default (Ctrl-C says: re-run the same command);
`--restart` discards the checkpoints and starts over; `--force` retrains a finished run.
"""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.table import Table

from leafbench.distill.record import DistillRecord
from leafbench.errors import UserError


def _pct(value: float | None) -> str:
    return "-" if value is None else f"{100 * value:.1f}%"


def _num(value: float | None) -> str:
    return "-" if value is None else f"{value:.4f}"


def distill_table(rec: DistillRecord) -> Table:
    """Projection-only vs fine-tuned: held-out cosine, then per curve task asymmetric nDCG@10 (% of the teacher),
    query cosine and top-10 overlap with the teacher; off-domain tasks marked."""
    tasks = rec.curve_tasks()
    table = Table(title=f"distill ({rec.training.steps} steps, {rec.training.samples_per_second:.1f} samples/s)")
    table.add_column("student")
    table.add_column("held-out cosine", justify="right")
    for t in tasks:
        off = any(t in ev.curve and ev.curve[t].off_domain for ev in rec.history)
        table.add_column(f"{t}{' (off-domain)' if off else ''}: asym nDCG@10 (% teacher) / q-cos / top-10",
                         justify="right")
    for label, ev in (("projection only", rec.projection_only), ("fine-tuned", rec.final)):
        cells = []
        for t in tasks:
            p = ev.curve.get(t)
            cells.append("-" if p is None else
                         f"{p.ndcg10:.4f} ({_pct(p.share)}) / {p.query_cosine:.3f} / {p.top10_overlap:.2f}")
        table.add_row(label, _num(ev.val_cosine), *cells)
    return table


def cmd_distill(args: argparse.Namespace) -> int:
    """Only the distill stage of a suite: train (or continue, or reuse) and export."""
    from leafbench.config import load_suite
    from leafbench.embed import EmbeddingService
    from leafbench.hardware import run_machine
    from leafbench.results import recorded_run
    from leafbench.runner import carry_all, distill_stage

    suite = load_suite(args.suite, {"output": args.output, "device": args.device})
    if suite.distill is None:
        raise UserError(f"{args.suite}: no 'distill:' section (see suites/distill-quickstart.yaml)")
    service = EmbeddingService(suite.models, device=suite.device, executor=suite.executor)
    # under the results lock and in run.json like `leafbench run`: a run of the same suite meanwhile would
    # otherwise share the checkpoint folder (each save removes the other checkpoints)
    with recorded_run(suite.results_dir, suite.name, "distill", carry_all, carry_files=True,
                      machine=run_machine(suite.device)) as log:
        records = [distill_stage(stage, service, log, restart=args.restart, force=args.force)
                   for stage in suite.distill_stages()]
    out = Console()
    for rec in records:
        out.print(distill_table(rec))
        for variant, path in rec.outputs.items():
            if path:
                out.print(f"{variant}: {path}")
    return 0

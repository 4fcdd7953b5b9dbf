"""The tables `leafbench run` ends with: task x config x dim -> nDCG@10 per precision, and where the time went."""

from __future__ import annotations

from collections import defaultdict
from typing import Any

from rich.table import Table

from leafbench.records import RetrievalCell


def grid_table(records: list[RetrievalCell], metric: str = "NDCG@10") -> Table:
    """One row per (task, config, dim), one column per precision, in the order the suite ran them."""
    precisions: list[str] = []
    rows: dict[tuple[str, str, int], dict[str, float]] = defaultdict(dict)
    for rec in records:
        if rec.precision not in precisions:
            precisions.append(rec.precision)
        rows[(rec.task, rec.config, rec.dim)][rec.precision] = rec.scores[metric]
    table = Table(title=f"{metric} (retrieval)", show_lines=False)
    for col in ("task", "config", "dim"):
        table.add_column(col, style="bold" if col == "task" else None)
    for p in precisions:
        table.add_column(p, justify="right")
    previous = None
    for (task, config, dim), scores in rows.items():
        if previous is not None and previous != (task, config):
            table.add_section()
        previous = (task, config)
        table.add_row(task, config, str(dim), *(f"{scores[p]:.4f}" if p in scores else "-" for p in precisions))
    return table


def timings_table(timings: dict[str, Any], depth: int = 3, machine: str = "") -> Table:
    """One screen of stage times (run.json's `timings`): each stage and sub-stage to `depth` levels with its share
    of the wall time, then every encoding pass (stage, model, role) with its texts and texts/s. `machine` (one
    line, leafbench.hardware.machine_line) heads it: a time means little without the CPU it was taken on."""
    total = float(timings.get("total_s") or 0.0)
    table = Table(title=f"time: {total:.1f} s" + (f" on {machine}" if machine else ""), show_lines=False)
    for col, justify in (("stage", "left"), ("seconds", "right"), ("share", "right"), ("calls", "right"),
                         ("texts", "right"), ("texts/s", "right")):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]

    def add(stages: dict[str, Any], level: int) -> None:
        for name, node in stages.items():
            share = f"{100 * node['seconds'] / total:.0f}%" if total else "-"
            table.add_row("  " * level + name, f"{node['seconds']:.1f}", share, str(node["calls"]), "", "")
            if level + 1 < depth:
                add(node.get("stages", {}), level + 1)

    add(timings.get("stages", {}), 0)
    encoded = timings.get("encoded", [])
    if encoded:
        table.add_section()
        for e in encoded:
            rate = f"{e['texts_per_s']:.1f}" if e.get("texts_per_s") else "-"
            table.add_row(f"encode {e['model']} {e['role']} ({e['stage']})", f"{e['seconds']:.1f}",
                          f"{100 * e['seconds'] / total:.0f}%" if total else "-", "", str(e["texts"]), rate)
    return table

"""The table `leafbench run` ends with: task x config x dim -> nDCG@10 per precision."""

from __future__ import annotations

from collections import defaultdict
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

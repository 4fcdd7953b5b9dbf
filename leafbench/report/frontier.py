"""The frontier of student families: asymmetric quality against batch-1 query latency.

The question a LEAF user asks is how fast queries can get while documents keep the teacher's index. So: one point
per asymmetric config (a student family on the query side, the teacher on documents) x dim x precision, at its
mean nDCG@10 over the tasks, against the query model's measured batch-1 latency (p50, log axis); the teacher's own
config is the reference point, and the dotted line joins the points no other beats on both axes. Latency comes from
one machine and backend only (the most common in the result set): latencies across machines do not compare.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from leafbench.resultset import ResultSet
from leafbench.report.style import (COLUMN_WIDTH_IN, METRIC, PRECISION_MARKERS, TEACHER_COLOUR, Figure, colours, pareto,
                                    paper_style, plt, save, tasks_label)
from leafbench.report.throughput import throughput_rows


@dataclass(frozen=True)
class FrontierPoint:
    config: str
    dim: int
    precision: str
    latency_ms: float
    ndcg10: float


def frontier_points(rs: ResultSet) -> tuple[list[FrontierPoint], tuple[str, str] | None]:
    """The asymmetric configs' (and the teacher's) points on the most common (device, backend), and that setup."""
    rows = [r for r in throughput_rows(rs) if r.latency_p50_ms]
    if not rows:
        return [], None
    setups = [(r.device, r.backend) for r in rows]
    setup = max(dict.fromkeys(setups), key=setups.count)
    points = []
    for r in rows:
        if (r.device, r.backend) != setup or (rs.configs[r.config].mode != "asymmetric" and r.config != rs.teacher):
            continue
        for dim in rs.dims(r.config):
            for precision in rs.precisions:
                score = rs.mean_score(r.config, dim, precision)
                if score is not None:
                    points.append(FrontierPoint(r.config, dim, precision, r.latency_p50_ms, score))  # type: ignore
    return points, setup


def frontier(rs: ResultSet, out: Path) -> Figure | None:
    """The figure (None without latency records for an asymmetric config)."""
    points, setup = frontier_points(rs)
    if setup is None or not any(p.config != rs.teacher for p in points):
        return None
    col = colours(rs)
    with paper_style():
        fig, ax = plt.subplots(figsize=(COLUMN_WIDTH_IN, 2.3))
        front = pareto([(1 / p.latency_ms, p.ndcg10) for p in points])
        ax.plot([1 / s for s, _ in front], [q for _, q in front], color="#999999", linewidth=0.8, linestyle=":",
                zorder=1, label="Pareto front")
        for config in dict.fromkeys(p.config for p in points):
            own = [p for p in points if p.config == config]
            full = max(p.dim for p in own)
            for p in own:
                ax.scatter([p.latency_ms], [p.ndcg10], color=TEACHER_COLOUR if config == rs.teacher else col[config],
                           marker=PRECISION_MARKERS.get(p.precision, "o"), s=22 if p.dim == full else 10, zorder=2,
                           alpha=1.0 if p.dim == full else 0.6,
                           label=config if (p.dim, p.precision) == (full, own[0].precision) else None)
        for precision in dict.fromkeys(p.precision for p in points):  # marker key
            ax.scatter([], [], color="#777777", marker=PRECISION_MARKERS.get(precision, "o"), s=14, label=precision)
        ax.set_xscale("log")
        ax.set_xlabel("batch-1 query latency, ms (p50, log scale)")
        ax.set_ylabel(f"asymmetric {tasks_label(rs)}")
        ax.legend(frameon=False, fontsize=5.5, loc="lower right", ncol=2)
        fig.tight_layout(pad=0.3)
    caption = (f"Asymmetric {METRIC} (student queries against the teacher's document index, mean of tasks) against "
               f"the query model's batch-1 latency on {setup[0]} ({setup[1]}), one point per config x dim x "
               f"precision (large: full dimension; smaller: Matryoshka prefixes; marker: precision). The teacher's "
               f"own config (grey) is the reference; the dotted line joins the points no other beats on both axes.")
    return save(fig, out, "family_frontier", caption)

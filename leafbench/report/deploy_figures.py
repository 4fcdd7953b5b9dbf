"""The deploy figures: nDCG@10 against bytes per document and against query latency, every evaluated point drawn
(faded when dominated), the frontier points joined and labelled config/dim/precision[/backend]. Same look as
`leafbench.report.style` (its style, sizes, config colours and precision markers)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from leafbench.deploy.analysis import DeployAnalysis, Point
from leafbench.deploy.numbers import human_count
from leafbench.deploy.rescoring import Curve
from leafbench.resultset import ResultSet
from leafbench.report.style import COLUMN_WIDTH_IN, METRIC, PRECISION_MARKERS, Figure, colours, paper_style, plt, save


def _frontier_plot(rs: ResultSet, a: DeployAnalysis, out: Path, name: str, front: list[Point],
                   cost: Callable[[Point], float | None], xlabel: str, caption: str) -> Figure | None:
    pts = [p for p in a.points if cost(p) is not None]
    if len(front) < 1 or not pts:
        return None
    col = colours(rs)
    on = {p.label for p in front}
    with paper_style():
        fig, ax = plt.subplots(figsize=(COLUMN_WIDTH_IN, 2.8))
        for p in pts:
            faded = p.label not in on
            ax.scatter([cost(p)], [p.quality], color=col.get(p.config, "#999999"), alpha=0.22 if faded else 1.0,
                       marker=PRECISION_MARKERS.get(p.precision, "o"), s=10 if faded else 18, linewidths=0,
                       zorder=2 if faded else 3)
        xs, ys = [cost(p) for p in front], [p.quality for p in front]
        ax.plot(xs, ys, color="#555555", linewidth=0.8, zorder=1, drawstyle="steps-post")
        # frontier labels: steeply rotated, so successive points (each right of and above the last) keep apart;
        # points of about the same cost (same bytes, or the same query model) share one label, best first
        groups: list[tuple[float, list[Point]]] = []
        for p in front:  # cheapest first: a point within 15% of the previous group's cost joins it
            x = float(cost(p) or 0)
            if groups and x <= groups[-1][0] * 1.15:
                groups[-1][1].append(p)
            else:
                groups.append((x, [p]))
        for x, members in groups:
            members.sort(key=lambda p: -p.quality)
            text = ", ".join(p.label for p in members[:2]) + (f" +{len(members) - 2}" if len(members) > 2 else "")
            ax.annotate(text, (x, members[0].quality), xytext=(1, 4), textcoords="offset points", fontsize=4.5,
                        rotation=60, rotation_mode="anchor", color=col.get(members[0].config, "#333333"))
        ax.set_xscale("log")
        ax.set_xlabel(xlabel)
        ax.set_ylabel(f"{METRIC} (mean of {len(rs.tasks)} tasks)" if len(rs.tasks) > 1 else METRIC)
        for config in dict.fromkeys(p.config for p in pts):
            ax.scatter([], [], color=col.get(config, "#999999"), marker="o", s=12, label=config)
        for precision in dict.fromkeys(p.precision for p in pts):
            ax.scatter([], [], color="#777777", marker=PRECISION_MARKERS.get(precision, "o"), s=12, label=precision)
        ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.28), ncol=5, frameon=False, fontsize=5.5,
                  handletextpad=0.2, columnspacing=0.8)
        ax.margins(x=0.08, y=0.08)
        low, high = ax.get_ylim()
        ticks = [t for t in ax.get_yticks() if low <= t <= min(high, 1.0)]
        ax.set_ylim(low, high + 0.55 * (high - low))  # room for the labels, without ticks above the data
        ax.set_yticks(ticks)
        fig.tight_layout(pad=0.3)
        return save(fig, out, name, caption)


def rescoring_figure(rs: ResultSet, task: str | None, curves: list[Curve], out: Path) -> Figure | None:
    """nDCG@10 vs float32 rescoring depth, one panel per quantized precision, one line per config (float32 dotted)."""
    precisions = list(dict.fromkeys(c.precision for c in curves))
    if not curves:
        return None
    col = colours(rs)
    with paper_style():
        fig, axes = plt.subplots(1, len(precisions), figsize=(COLUMN_WIDTH_IN, 1.9), sharey=True, squeeze=False)
        for ax, precision in zip(axes[0], precisions):
            for c in (c for c in curves if c.precision == precision):
                depths = [max(d, 1) for d, _ in c.points]  # depth 0 (no rescoring) drawn at 1 on the log axis
                colour = col.get(c.config, "#999999")
                style = "--" if c.config in rs.configs and rs.configs[c.config].mode == "asymmetric" else "-"
                ax.plot(depths, [v for _, v in c.points], color=colour, linestyle=style,
                        marker=PRECISION_MARKERS.get(precision, "o"), markersize=2.5, label=f"{c.config} ({c.dim})")
                ax.axhline(c.float32, color=colour, linestyle=":", linewidth=0.6)
            ax.set_xscale("log")
            ticks = sorted({max(d, 1) for c in curves for d, _ in c.points})
            ax.set_xticks(ticks, ["none" if t == 1 else str(t) for t in ticks], rotation=45)
            ax.minorticks_off()
            ax.set_title(precision)
            ax.set_xlabel("float32 rescoring depth")
        axes[0][0].set_ylabel(METRIC)
        handles, labels = axes[0][0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=min(3, len(labels)),
                   frameon=False)
        fig.tight_layout(pad=0.3)
        caption = (f"{METRIC} on {task} (the largest evaluated task) against the number of quantized candidates "
                   f"rescored in float32, each config at its full dimension; dotted: the same config in float32. "
                   f"Recomputed from the stored embeddings (leafbench.deploy.rescoring).")
        return save(fig, out, "rescoring", caption)


def deploy_figures(rs: ResultSet, a: DeployAnalysis | None, out: Path) -> list[Figure]:
    """Both frontier plots (each when its cost is known for some point) and the rescoring curve."""
    if a is None:
        return []
    from leafbench.report.deploy import rescoring_for

    task, curves = rescoring_for(rs)
    n = f"N = {human_count(a.n_docs)} documents" + ("" if a.n_docs_given else " (the largest evaluated)")
    figures = [
        _frontier_plot(rs, a, out, "frontier_bytes", a.bytes_frontier, lambda p: p.bytes_per_doc,
                       "bytes per document (log scale)",
                       f"{METRIC} against bytes per stored document at {n}: every config/dim/precision evaluated, "
                       f"the frontier (no point beats it on both) joined and labelled, dominated points faded; colour "
                       f"is the config, marker the precision."),
        _frontier_plot(rs, a, out, "frontier_latency", a.latency_frontier, lambda p: p.latency_ms,
                       "query latency, ms (log scale)",
                       f"{METRIC} against query latency at {n}: measured batch-1 query encoding plus one query's "
                       f"exact search (projected by the search-cost model unless N was timed); frontier joined and "
                       f"labelled, dominated points faded."),
        rescoring_figure(rs, task, curves, out),
    ]
    return [f for f in figures if f is not None]

"""Paper figures from a `ResultSet`: PNG (for the HTML page and READMEs) and PDF (vector, for LaTeX).

Every figure here draws with the one style of `leafbench.report.style`; `write_figures` makes all that the results
support, the family frontier (its own module) included.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.ticker
import numpy as np

from leafbench.resultset import ResultSet
from leafbench.report.distill import records as distill_records
from leafbench.report.frontier import frontier
from leafbench.report.style import (COLUMN_WIDTH_IN, METRIC, PALETTE, PRECISION_MARKERS, TEACHER_COLOUR, Figure,
                                    colours, linestyle, paper_style, pareto, plt, save, tasks_label, wrap)
from leafbench.report.throughput import ThroughputRow, throughput_rows


def score_vs_dim(rs: ResultSet, out: Path) -> Figure | None:
    """One panel per precision: score against Matryoshka dimension, one line per config (the paper's Fig. 6)."""
    series = {p: {c: [(d, v) for d in sorted(rs.dims(c)) if (v := rs.mean_score(c, d, p)) is not None]
                  for c in rs.configs} for p in rs.precisions}
    precisions = [p for p in rs.precisions if any(len(s) > 0 for s in series[p].values())]
    if not precisions:
        return None
    ncols = 1 if len(precisions) == 1 else 2
    nrows = -(-len(precisions) // ncols)
    col = colours(rs)
    with paper_style():
        fig, axes = plt.subplots(nrows, ncols, figsize=(COLUMN_WIDTH_IN, 0.3 + 1.45 * nrows), sharex=True,
                                 sharey=True, squeeze=False)
        all_dims = sorted({d for p in precisions for s in series[p].values() for d, _ in s})
        for ax, p in zip(axes.flat, precisions):
            for c, pts in series[p].items():
                if pts:
                    ax.plot(*zip(*pts), color=col[c], linestyle=linestyle(rs, c),
                            marker=PRECISION_MARKERS.get(p, "o"), label=c)
            ax.set_title(p)
            ax.set_xscale("log", base=2)
            ax.set_xticks(all_dims, [str(d) for d in all_dims], rotation=45 if len(all_dims) > 4 else 0)
            ax.minorticks_off()
        for ax in axes.flat[len(precisions):]:
            ax.set_visible(False)
        for ax in axes.flat[max(0, len(precisions) - ncols):len(precisions)]:  # the lowest panel of each column
            ax.xaxis.set_tick_params(labelbottom=True)
            ax.set_xlabel("embedding dimension (dims)")
        for ax in axes[:, 0]:
            ax.set_ylabel(METRIC)
        handles, labels = axes.flat[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=min(3, len(labels)),
                   frameon=False)
        fig.tight_layout(pad=0.3)
        caption = (f"{tasks_label(rs)} against Matryoshka dimension, one panel per precision; dashed lines are "
                   f"asymmetric configs (student queries, teacher documents).")
        return save(fig, out, "score_vs_dim", caption)


def per_task_bars(rs: ResultSet, out: Path) -> Figure | None:
    """Headline score per task (and the mean), one bar per config: standard vs asymmetric vs teacher."""
    groups = list(rs.tasks) + (["mean"] if len(rs.tasks) > 1 else [])
    configs = list(rs.configs)

    def value(c: str, g: str) -> float | None:
        full = rs.configs[c].full_dim
        return rs.mean_score(c, full, "float32") if g == "mean" else rs.score(g, c, full, "float32")

    if all(value(c, g) is None for c in configs for g in groups):
        return None
    col = colours(rs)
    width = 0.8 / len(configs)
    with paper_style():
        fig, ax = plt.subplots(figsize=(COLUMN_WIDTH_IN, 2.1))
        x = np.arange(len(groups))
        for i, c in enumerate(configs):
            vals = [value(c, g) for g in groups]
            ax.bar(x + (i - (len(configs) - 1) / 2) * width, [np.nan if v is None else v for v in vals], width,
                   color=col[c], label=c, hatch="///" if rs.configs[c].mode == "asymmetric" else None,
                   edgecolor="white", linewidth=0.3)
        ax.set_xticks(x, [wrap(g) for g in groups])
        ax.set_ylabel(f"{METRIC} (full dim, float32)")
        ax.set_ylim(0, 1.0)
        ax.grid(axis="x", visible=False)
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=min(3, len(configs)), frameon=False)
        fig.tight_layout(pad=0.3)
        caption = (f"{METRIC} per task at each config's full dimension in float32; hatched bars are "
                   f"asymmetric configs.")
        return save(fig, out, "per_task", caption)


def quantization_loss(rs: ResultSet, out: Path) -> Figure | None:
    """Change vs float32 at full dimension for every other precision, one bar per config."""
    lossy = [p for p in rs.precisions if p != "float32"]
    configs = list(rs.configs)

    def change(c: str, p: str) -> float | None:
        full = rs.configs[c].full_dim
        ref, v = rs.mean_score(c, full, "float32"), rs.mean_score(c, full, p)
        return None if ref is None or v is None or ref == 0 else (v - ref) / ref * 100

    if not lossy or all(change(c, p) is None for c in configs for p in lossy):
        return None
    col = colours(rs)
    width = 0.8 / len(configs)
    with paper_style():
        fig, ax = plt.subplots(figsize=(COLUMN_WIDTH_IN, 2.0))
        x = np.arange(len(lossy))
        for i, c in enumerate(configs):
            vals = [change(c, p) for p in lossy]
            ax.bar(x + (i - (len(configs) - 1) / 2) * width, [np.nan if v is None else v for v in vals], width,
                   color=col[c], label=c, hatch="///" if rs.configs[c].mode == "asymmetric" else None,
                   edgecolor="white", linewidth=0.3)
        ax.axhline(0, color="black", linewidth=0.6)
        ax.set_xticks(x, lossy)
        ax.set_xlabel("output precision")
        ax.set_ylabel(f"{METRIC} change vs float32 (%)")
        ax.grid(axis="x", visible=False)
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=min(3, len(configs)), frameon=False)
        fig.tight_layout(pad=0.3)
        caption = (f"Relative change in {tasks_label(rs)} from float32 to each quantized precision, at full "
                   f"dimension; negative is a loss.")
        return save(fig, out, "quantization_loss", caption)


def quality_vs_throughput(rs: ResultSet, out: Path) -> Figure | None:
    """Headline quality against measured speed, one panel for documents/s (indexing) and one for queries/s
    (serving), with each panel's Pareto front: an asymmetric config indexes at the teacher's speed but serves
    queries at the student's, which only the second panel shows."""
    rows: list[ThroughputRow] = throughput_rows(rs)
    if not rows:
        return None
    setups = [(r.device, r.backend) for r in rows]
    setup = max(dict.fromkeys(setups), key=setups.count)  # one machine and backend: speeds across them don't mix
    rows = [r for r in rows if (r.device, r.backend) == setup]
    col = colours(rs)
    panels = []
    for attr, label in (("docs_per_s", "documents/s (log scale)"), ("queries_per_s", "queries/s (log scale)")):
        pts = [(getattr(r, attr), q, r.config) for r in rows
               if getattr(r, attr) and (q := rs.mean_score(r.config, rs.configs[r.config].full_dim, "float32"))
               is not None]
        if pts:
            panels.append((label, pts))
    if not panels:
        return None
    with paper_style():
        fig, axes = plt.subplots(1, len(panels), figsize=(COLUMN_WIDTH_IN, 1.9), sharey=True, squeeze=False)
        for ax, (label, pts) in zip(axes[0], panels):
            front = pareto([(s, q) for s, q, _ in pts])
            ax.plot(*zip(*front), color="#999999", linewidth=0.8, linestyle=":", zorder=1, label="Pareto front")
            for s, q, c in pts:
                ax.scatter([s], [q], color=col[c], s=20, zorder=2, label=c,
                           marker="D" if rs.configs[c].mode == "asymmetric" else "o")
            ax.set_xscale("log")
            speeds = sorted({s for s, _, _ in pts})
            ax.set_xticks(speeds, [f"{v:,.0f}" if v >= 10 else f"{v:.2g}" for v in speeds], rotation=30)
            ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
            ax.margins(x=0.15, y=0.1)
            ax.set_xlabel(label)
        axes[0][0].set_ylabel(tasks_label(rs))
        handles, labels = axes[0][0].get_legend_handles_labels()
        unique = dict(zip(labels, handles))
        unique["Pareto front"] = unique.pop("Pareto front")  # configs first
        fig.legend(unique.values(), unique.keys(), loc="lower center", bbox_to_anchor=(0.5, 1.0),
                   ncol=min(3, len(unique)), frameon=False)
        fig.tight_layout(pad=0.3)
        caption = (f"Quality ({METRIC}, full dimension, float32) against measured encoding throughput on "
                   f"{setup[0]} ({setup[1]}); the dotted line joins the configs no other config beats on both. "
                   "Asymmetric configs (diamonds) encode documents with the teacher and queries with the student.")
        return save(fig, out, "quality_vs_throughput", caption)


TARGET_SHARE = 95  # the LEAF issue's in-domain asymmetric target: this % of the teacher's score


def learning_curves(rs: ResultSet, out: Path) -> list[Figure]:
    """Per distill run, against samples seen: held-out cosine and each curve task's query cosine to the teacher;
    asymmetric nDCG@10 as % of the teacher (95% dotted); top-10 overlap with the teacher. Off-domain tasks dashed."""
    figures = []
    recs = distill_records(rs)
    for rec in recs:
        history = sorted(rec.history, key=lambda ev: ev.samples_seen)
        if len(history) < 2:
            continue
        seen = [ev.samples_seen for ev in history]
        tasks = rec.curve_tasks()
        off = set(rec.curve_tasks(off_domain=True))
        with paper_style():
            fig, axes = plt.subplots(1, 3 if tasks else 1, figsize=(COLUMN_WIDTH_IN * (1.5 if tasks else 1), 1.8),
                                     squeeze=False)
            ax = axes[0][0]
            ax.plot(seen, [ev.val_cosine for ev in history], color=TEACHER_COLOUR, marker="o", label="held-out")
            for i, task in enumerate(tasks):
                colour, style = PALETTE[i % len(PALETTE)], "--" if task in off else "-"
                for panel, key, scale in ((0, "query_cosine", 1), (1, "share", 100), (2, "top10_overlap", 1)):
                    pts = [(s_, getattr(ev.curve[task], key) * scale) for s_, ev in zip(seen, history)
                           if task in ev.curve and getattr(ev.curve[task], key) is not None]
                    if pts:
                        axes[0][panel].plot(*zip(*pts), color=colour, linestyle=style, marker=".",
                                            label=wrap(task + (" (off)" if task in off else ""), 16))
            ax.set_xlabel("samples seen")
            ax.set_ylabel("cosine to teacher")
            ax.legend(frameon=False, fontsize=5)
            if tasks:
                axes[0][1].axhline(TARGET_SHARE, color="#999999", linestyle=":", linewidth=0.8)
                axes[0][1].set_ylabel("asym, % of teacher")
                axes[0][2].set_ylabel("top-10 overlap")
                for ax in axes[0][1:]:
                    ax.set_xlabel("samples seen")
            fig.tight_layout(pad=0.3)
        tr = rec.training
        name = "learning_curve" if len(recs) == 1 else f"learning_curve-{rec.suite}"
        caption = (f"Distillation of {rec.student_init.id} into {rec.teacher.id}'s space ({rec.suite}), against "
                   f"samples seen: held-out cosine and each task's mean query cosine to the teacher; asymmetric "
                   f"{METRIC} (student queries, teacher documents) as % of the teacher's (dotted: {TARGET_SHARE}%); "
                   f"top-10 overlap with the teacher's ranking. Dashed: off-domain tasks, kept out of every "
                   f"training mix. {tr.steps} steps at {tr.samples_per_second:.1f} samples/s on {tr.device}.")
        figures.append(save(fig, out, name, caption))
    return figures


def write_figures(rs: ResultSet, out: Path) -> list[Figure]:
    """Every figure the results support; one the data cannot support (no throughput, one precision) is skipped."""
    makers = (score_vs_dim, per_task_bars, quantization_loss, quality_vs_throughput, frontier)
    return [f for make in makers if (f := make(rs, out)) is not None] + learning_curves(rs, out)

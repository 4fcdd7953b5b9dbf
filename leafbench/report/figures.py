"""Paper figures from a `ResultSet`: PNG (for the HTML page and READMEs) and PDF (vector, for LaTeX).

One style for all: single-column width (3.4 in), 7-8 pt type, TrueType fonts embedded in PDFs, one fixed colour per
config across every figure (the teacher is always dark grey; others take the Okabe-Ito colour-blind-safe palette in
the order the suite lists them), solid lines for standard configs and dashed for asymmetric ones. matplotlib runs
headless (Agg), so this works on servers and in CI.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import matplotlib.ticker  # noqa: E402
import numpy as np  # noqa: E402

from leafbench.report.data import ResultSet  # noqa: E402
from leafbench.report.distill import records as distill_records  # noqa: E402
from leafbench.report.throughput import ThroughputRow, throughput_rows  # noqa: E402

COLUMN_WIDTH_IN = 3.4
METRIC = "nDCG@10"  # the headline metric as papers write it
TEACHER_COLOUR = "#4d4d4d"
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"]
PRECISION_MARKERS = {"float32": "o", "int8": "s", "int8-affine": "D", "binary": "^"}
_STYLE = {
    "font.size": 7, "axes.titlesize": 7, "axes.labelsize": 7, "xtick.labelsize": 6.5, "ytick.labelsize": 6.5,
    "legend.fontsize": 6.5, "lines.linewidth": 1.2, "lines.markersize": 3.5, "axes.linewidth": 0.6,
    "axes.spines.top": False, "axes.spines.right": False, "axes.grid": True, "grid.linewidth": 0.4,
    "grid.alpha": 0.5, "pdf.fonttype": 42, "ps.fonttype": 42, "savefig.bbox": "tight", "savefig.pad_inches": 0.02,
    "figure.dpi": 100,
}


@dataclass(frozen=True)
class Figure:
    name: str
    caption: str
    png: Path
    pdf: Path


def colours(rs: ResultSet) -> dict[str, str]:
    """Config -> colour, fixed for a result set so a config looks the same in every figure."""
    others = [c for c in rs.configs if c != rs.teacher]
    out = {c: PALETTE[i % len(PALETTE)] for i, c in enumerate(others)}
    if rs.teacher:
        out[rs.teacher] = TEACHER_COLOUR
    return out


def _linestyle(rs: ResultSet, config: str) -> str:
    return "--" if rs.configs[config].mode == "asymmetric" else "-"


@contextlib.contextmanager
def _style() -> Iterator[None]:
    with plt.rc_context(_STYLE):
        yield


def _save(fig: Any, out: Path, name: str, caption: str) -> Figure:
    out.mkdir(parents=True, exist_ok=True)
    png, pdf = out / f"{name}.png", out / f"{name}.pdf"
    fig.savefig(png, dpi=300)
    fig.savefig(pdf)
    plt.close(fig)
    return Figure(name, caption, png, pdf)


def _wrap(name: str, width: int = 16) -> str:
    """A task name on lines of about `width` characters, broken after hyphens (subset names run long)."""
    lines = [""]
    for part in name.split("-"):
        piece = part if not lines[-1] else "-" + part
        if lines[-1] and len(lines[-1]) + len(piece) > width:
            lines[-1] += "-"
            lines.append(part)
        else:
            lines[-1] += piece
    return "\n".join(lines)


def _tasks_label(rs: ResultSet) -> str:
    return f"{METRIC} (mean of {len(rs.tasks)} tasks)" if len(rs.tasks) > 1 else f"{METRIC}"


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
    with _style():
        fig, axes = plt.subplots(nrows, ncols, figsize=(COLUMN_WIDTH_IN, 0.3 + 1.45 * nrows), sharex=True,
                                 sharey=True, squeeze=False)
        all_dims = sorted({d for p in precisions for s in series[p].values() for d, _ in s})
        for ax, p in zip(axes.flat, precisions):
            for c, pts in series[p].items():
                if pts:
                    ax.plot(*zip(*pts), color=col[c], linestyle=_linestyle(rs, c),
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
        caption = (f"{_tasks_label(rs)} against Matryoshka dimension, one panel per precision; dashed lines are "
                   f"asymmetric configs (student queries, teacher documents).")
        return _save(fig, out, "score_vs_dim", caption)


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
    with _style():
        fig, ax = plt.subplots(figsize=(COLUMN_WIDTH_IN, 2.1))
        x = np.arange(len(groups))
        for i, c in enumerate(configs):
            vals = [value(c, g) for g in groups]
            ax.bar(x + (i - (len(configs) - 1) / 2) * width, [np.nan if v is None else v for v in vals], width,
                   color=col[c], label=c, hatch="///" if rs.configs[c].mode == "asymmetric" else None,
                   edgecolor="white", linewidth=0.3)
        ax.set_xticks(x, [_wrap(g) for g in groups])
        ax.set_ylabel(f"{METRIC} (full dim, float32)")
        ax.set_ylim(0, 1.0)
        ax.grid(axis="x", visible=False)
        ax.legend(loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=min(3, len(configs)), frameon=False)
        fig.tight_layout(pad=0.3)
        caption = (f"{METRIC} per task at each config's full dimension in float32; hatched bars are "
                   f"asymmetric configs.")
        return _save(fig, out, "per_task", caption)


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
    with _style():
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
        caption = (f"Relative change in {_tasks_label(rs)} from float32 to each quantized precision, at full "
                   f"dimension; negative is a loss.")
        return _save(fig, out, "quantization_loss", caption)


def _pareto(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Points not beaten on both speed and quality, in order of speed."""
    front, best = [], -np.inf
    for speed, quality in sorted(points, key=lambda p: (-p[0], -p[1])):
        if quality > best:
            front.append((speed, quality))
            best = quality
    return sorted(front)


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
    with _style():
        fig, axes = plt.subplots(1, len(panels), figsize=(COLUMN_WIDTH_IN, 1.9), sharey=True, squeeze=False)
        for ax, (label, pts) in zip(axes[0], panels):
            front = _pareto([(s, q) for s, q, _ in pts])
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
        axes[0][0].set_ylabel(_tasks_label(rs))
        handles, labels = axes[0][0].get_legend_handles_labels()
        unique = dict(zip(labels, handles))
        unique["Pareto front"] = unique.pop("Pareto front")  # configs first
        fig.legend(unique.values(), unique.keys(), loc="lower center", bbox_to_anchor=(0.5, 1.0),
                   ncol=min(3, len(unique)), frameon=False)
        fig.tight_layout(pad=0.3)
        caption = (f"Quality ({METRIC}, full dimension, float32) against measured encoding throughput on "
                   f"{setup[0]} ({setup[1]}); the dotted line joins the configs no other config beats on both. "
                   "Asymmetric configs (diamonds) encode documents with the teacher and queries with the student.")
        return _save(fig, out, "quality_vs_throughput", caption)


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
        with _style():
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
                                            label=_wrap(task + (" (off)" if task in off else ""), 16))
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
        figures.append(_save(fig, out, name, caption))
    return figures


def write_figures(rs: ResultSet, out: Path) -> list[Figure]:
    """Every figure the results support; one the data cannot support (no throughput, one precision) is skipped."""
    from leafbench.report.frontier import frontier  # it draws with this module's style

    makers = (score_vs_dim, per_task_bars, quantization_loss, quality_vs_throughput, frontier)
    return [f for make in makers if (f := make(rs, out)) is not None] + learning_curves(rs, out)

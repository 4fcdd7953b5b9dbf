"""The one look of every leafbench figure, and the pieces each figure module draws with.

Single-column width (3.4 in), 7-8 pt type, TrueType fonts embedded in PDFs, one fixed colour per config across
every figure (the teacher is always dark grey; others take the Okabe-Ito colour-blind-safe palette in the order the
suite lists them), solid lines for standard configs and dashed for asymmetric ones. matplotlib runs headless (Agg),
so this works on servers and in CI. It lives apart from the figures so that every figure module (retrieval,
frontier, deploy) imports it and none imports another.
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
import numpy as np  # noqa: E402

from leafbench.resultset import ResultSet  # noqa: E402

COLUMN_WIDTH_IN = 3.4
METRIC = "nDCG@10"  # the headline metric as papers write it
TEACHER_COLOUR = "#4d4d4d"
PALETTE = ["#0072B2", "#D55E00", "#009E73", "#CC79A7", "#E69F00", "#56B4E9", "#F0E442", "#000000"]
PRECISION_MARKERS = {"float32": "o", "int8": "s", "int8-affine": "D", "binary": "^"}
STYLE = {
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


def linestyle(rs: ResultSet, config: str) -> str:
    return "--" if rs.configs[config].mode == "asymmetric" else "-"


@contextlib.contextmanager
def paper_style() -> Iterator[None]:
    with plt.rc_context(STYLE):
        yield


def save(fig: Any, out: Path, name: str, caption: str) -> Figure:
    out.mkdir(parents=True, exist_ok=True)
    png, pdf = out / f"{name}.png", out / f"{name}.pdf"
    fig.savefig(png, dpi=300)
    fig.savefig(pdf)
    plt.close(fig)
    return Figure(name, caption, png, pdf)


def wrap(name: str, width: int = 16) -> str:
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


def tasks_label(rs: ResultSet) -> str:
    return f"{METRIC} (mean of {len(rs.tasks)} tasks)" if len(rs.tasks) > 1 else f"{METRIC}"


def pareto(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Points not beaten on both speed and quality, in order of speed."""
    front, best = [], -np.inf
    for speed, quality in sorted(points, key=lambda p: (-p[0], -p[1])):
        if quality > best:
            front.append((speed, quality))
            best = quality
    return sorted(front)

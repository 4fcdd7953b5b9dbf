"""Search time per query against corpus size: a linear cost model per backend, precision and dim, and its check.

An exact scan touches every document once per query, so its time is a + b*N: a fixed part (query encoding into
the precision's form, top-k bookkeeping) and a per-document part. The model is fitted (least squares) on every
calibrated size but the largest, and checked against the largest, which it never saw: the relative error of that
prediction is printed beside every projection in the report. Projections to a corpus far beyond the checked size
remain extrapolations; the report says so by marking them projected.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from leafbench.deploy.calibration import TIMED_AS, Calibration


@dataclass(frozen=True)
class SearchCostModel:
    backend: str
    precision: str  # as timed (int8-affine is timed as int8)
    dim: int
    fixed_ms: float  # a
    ms_per_doc: float  # b
    fitted_on: tuple[int, ...]
    checked_on: int
    measured_ms: float  # at checked_on
    predicted_ms: float  # at checked_on, by the model fitted without it

    def ms(self, n_docs: float) -> float:
        """Predicted milliseconds per query against `n_docs` documents."""
        return max(0.0, self.fixed_ms + self.ms_per_doc * n_docs)

    @property
    def error(self) -> float:
        """Relative error of the held-out check: (predicted - measured) / measured."""
        return (self.predicted_ms - self.measured_ms) / self.measured_ms if self.measured_ms else float("nan")


def fit(backend: str, precision: str, dim: int, sizes: list[int], ms: list[float]) -> SearchCostModel:
    """Fit a + b*N on all sizes but the largest; check on the largest. Needs three or more sizes."""
    if len(sizes) < 3:
        raise ValueError(f"need at least 3 measured sizes (2 to fit, 1 to check), got {len(sizes)}")
    order = np.argsort(sizes)
    n = np.asarray(sizes, dtype=np.float64)[order]
    t = np.asarray(ms, dtype=np.float64)[order]
    b, a = np.polyfit(n[:-1], t[:-1], 1)
    return SearchCostModel(backend, precision, dim, float(a), float(b), tuple(int(x) for x in n[:-1]), int(n[-1]),
                           float(t[-1]), float(a + b * n[-1]))


def models_from(cal: Calibration) -> dict[tuple[str, int], SearchCostModel]:
    """(timed precision, dim) -> its cost model, for every pair the calibration holds at three or more sizes."""
    grouped: dict[tuple[str, int], list[tuple[int, float]]] = {}
    for t in cal.timings:
        grouped.setdefault((t.precision, t.dim), []).append((t.n_docs, t.ms_per_query))
    out = {}
    for (precision, dim), pts in grouped.items():
        if len(pts) >= 3:
            sizes, ms = zip(*sorted(pts))
            out[(precision, dim)] = fit(cal.backend, precision, dim, list(sizes), list(ms))
    return out


def model_for(models: dict[tuple[str, int], SearchCostModel], precision: str, dim: int) -> SearchCostModel | None:
    return models.get((TIMED_AS.get(precision, precision), dim))

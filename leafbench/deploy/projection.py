"""Search time per query against corpus size: a linear cost model per backend, precision and dim, and its check.

An exact scan touches every document once per query, so its time is a + b*N: a fixed part (query encoding into
the precision's form, top-k bookkeeping) and a per-document part. The check: the line through every calibrated
size but the largest predicts the largest, which it never saw; the relative error of that prediction is printed
beside every projection in the report. The projection itself, beyond the largest size, is the robust line through
every calibrated size (Theil-Sen: the median of the pairwise slopes, and the median intercept), so one timing
spoilt by a busy moment does not set the per-document cost (a non-positive slope, which only noise makes, falls
back to time proportional to N). Within the calibrated range it interpolates between the measured sizes, and below
the smallest it scales the smallest's time with N. Projections
far beyond the calibrated sizes remain extrapolations; the report marks every one of them projected.
"""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from leafbench.deploy.calibration import TIMED_AS, Calibration


@dataclass(frozen=True)
class SearchCostModel:
    backend: str
    precision: str  # as timed (int8-affine is timed as int8)
    dim: int
    fixed_ms: float  # a, of the projection line beyond the largest size (a + b * N)
    ms_per_doc: float  # b
    projected_from: tuple[int, ...]
    sizes: tuple[int, ...]  # every calibrated size, ascending, and its measured time
    times_ms: tuple[float, ...]
    fitted_on: tuple[int, ...]  # the check's line
    checked_on: int
    measured_ms: float  # at checked_on
    predicted_ms: float  # at checked_on, by the line fitted without it
    source: str = "calibration"  # this machine's calibration, "scale.py" (the benchmark's rows), or "scale.py on
    # <CPU>" when the benchmark ran on another CPU

    def ms(self, n_docs: float) -> float:
        """Projected milliseconds per query against `n_docs` documents."""
        if n_docs >= self.sizes[-1]:
            return max(self.fixed_ms + self.ms_per_doc * n_docs, 0.0)
        if n_docs <= self.sizes[0]:
            return self.times_ms[0] * n_docs / self.sizes[0]
        return float(np.interp(n_docs, self.sizes, self.times_ms))

    @property
    def error(self) -> float:
        """Relative error of the held-out check: (predicted - measured) / measured."""
        return (self.predicted_ms - self.measured_ms) / self.measured_ms if self.measured_ms else float("nan")


def fit(backend: str, precision: str, dim: int, sizes: list[int], ms: list[float]) -> SearchCostModel:
    """Check a + b*N fitted on all sizes but the largest against the largest; project with the Theil-Sen line
    through all of them. Needs three or more sizes."""
    if len(sizes) < 3:
        raise ValueError(f"need at least 3 measured sizes (2 to fit, 1 to check), got {len(sizes)}")
    order = np.argsort(sizes)
    n = np.asarray(sizes, dtype=np.float64)[order]
    t = np.asarray(ms, dtype=np.float64)[order]
    b, a = np.polyfit(n[:-1], t[:-1], 1)
    slope = float(np.median([(t[j] - t[i]) / (n[j] - n[i]) for i in range(len(n)) for j in range(i + 1, len(n))]))
    intercept = float(np.median(t - slope * n))
    if slope <= 0:
        slope, intercept = float(t[-1] / n[-1]), 0.0
    return SearchCostModel(backend, precision, dim, intercept, slope,
                           tuple(int(x) for x in n), tuple(int(x) for x in n), tuple(float(x) for x in t),
                           tuple(int(x) for x in n[:-1]), int(n[-1]), float(t[-1]), float(a + b * n[-1]))


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


def model_for(models: dict[tuple[str, str, int], SearchCostModel], backend: str, precision: str,
              dim: int) -> SearchCostModel | None:
    """The cost model of a cell's (backend, precision, dim), int8-affine read as int8."""
    return models.get((backend, TIMED_AS.get(precision, precision), dim))


def all_models(own: Calibration | None, benchmarks: list[Calibration]) -> dict[tuple[str, str, int], SearchCostModel]:
    """(backend, timed precision, dim) -> model: this machine's own calibration first, the scale benchmark's rows
    for what it lacks (the FAISS backends, and the exact scan at dims the calibration did not time)."""
    from leafbench.deploy.calibration import machine

    here = machine().get("cpu_model")

    def named(b: Calibration) -> str:  # a benchmark timed elsewhere says where
        cpu = b.machine.get("cpu_model")
        return "scale.py" if cpu in (here, None) else f"scale.py on {cpu}"

    out: dict[tuple[str, str, int], SearchCostModel] = {}
    for cal, source in [(own, "calibration")] * bool(own) + [(b, named(b)) for b in benchmarks]:
        for (precision, dim), model in models_from(cal).items():
            out.setdefault((cal.backend, precision, dim), replace(model, source=source))
    return out


@dataclass(frozen=True)
class ScaleCheck:
    """This machine's calibration projected to a corpus size `benchmarks/scale.py` measured, beside that measurement:
    the check of an extrapolation far beyond the calibrated sizes (the calibration stops at 100k, a deployment does
    not)."""

    precision: str
    dim: int
    n_docs: int
    projected_ms: float  # the calibration's line at n_docs
    measured_ms: float  # scale.py's single-query median at n_docs
    source: str  # the benchmark file

    @property
    def error(self) -> float:
        return (self.projected_ms - self.measured_ms) / self.measured_ms


def scale_checks(own: Calibration | None, benchmarks: list[Calibration]) -> list[ScaleCheck]:
    """Every exact-scan size the scale benchmark timed beyond the calibration's largest, on the same CPU (a
    benchmark from another machine checks nothing about this one), against the calibration's projection there."""
    if own is None:
        return []
    models = models_from(own)
    out = []
    for bench in benchmarks:
        if bench.backend != "exact" or bench.machine.get("cpu_model") != own.machine.get("cpu_model"):
            continue
        for t in bench.timings:
            model = models.get((t.precision, t.dim))
            if model is not None and t.n_docs > model.sizes[-1] and t.ms_per_query > 0:
                out.append(ScaleCheck(t.precision, t.dim, t.n_docs, model.ms(t.n_docs), t.ms_per_query,
                                      str(bench.machine.get("source") or "scale.py")))
    return sorted(out, key=lambda c: (c.precision, c.dim, c.n_docs))

"""One deploy `Point` per evaluated (config, dim, precision[, backend]): quality and every cost at N documents.

Quality is the mean nDCG@10 over the result set's tasks (a point missing a task is left out: a partial mean would
not compare). Costs, each marked measured or projected:

    bytes/doc, RAM, disk   computed from the storage layout (leafbench.deploy.storage: codes in RAM, plus the float32
                           copy on disk a rescoring configuration reads from), or a built index's size read from disk:
                           measured at the evaluated corpus size, projected (scaled) to any other N
    query latency          the query model's batch-1 encode p50 (measured by the throughput stage) + one query's
                           search time at N (leafbench.deploy.projection; measured only at a calibrated size) + for a
                           rescoring configuration, its float32 rescoring of R candidates (calibrated too)
    encoding hours         N / the document model's docs/s (measured rate, projected time), on the device the
                           throughput stage measured
    grid search            the grid's own search time per query on each task (measured, batched over the task's
                           queries, index build included): what the evaluation spent, shown per cell

An asymmetric config pays its query model per query and its document model per document.
"""

from __future__ import annotations

import math
from collections import Counter
from dataclasses import dataclass, field
from typing import Any, Literal

from leafbench.deploy.budgets import Answer, Budget, best_under
from leafbench.deploy.calibration import RESCORE, TIMED_AS, Calibration, machine
from leafbench.deploy.pareto import frontier
from leafbench.deploy.projection import ScaleCheck, SearchCostModel, all_models, model_for, scale_checks
from leafbench.deploy.scale import backend_key
from leafbench.deploy.storage import footprint
from leafbench.precisions import get as get_precision
from leafbench.resultset import ResultSet, config_models, measured_models
from leafbench.throughput.record import ThroughputRecord

Source = Literal["measured", "projected", "computed"]
DEFAULT_BYTE_BUDGETS = (32.0, 128.0, 512.0)


@dataclass(frozen=True)
class Point:
    config: str
    dim: int
    precision: str
    backend: str
    quality: float  # mean nDCG@10 over tasks (measured)
    evaluated_docs: int  # the largest corpus this point was evaluated on
    rescore: int
    bytes_per_doc: float
    bytes_source: Source
    ram_bytes: float
    disk_bytes: float
    encode_p50_ms: float | None  # query model, batch 1 (measured)
    search_ms: float | None  # one query at N
    search_source: Source | None
    docs_per_s: float | None  # document model (measured)
    encode_hours: float | None  # N documents (projected from docs_per_s)
    grid_search_ms: dict[str, float] = field(default_factory=dict)  # task -> measured ms/query in the grid
    rescore_ms: float | None = None  # the float32 rescoring of `rescore` candidates, included in search_ms

    @property
    def label(self) -> str:
        return f"{self.config}/{self.dim}/{self.precision}" + ("" if self.backend == "exact" else f"/{self.backend}")

    @property
    def latency_ms(self) -> float | None:
        if self.encode_p50_ms is None or self.search_ms is None:
            return None
        return self.encode_p50_ms + self.search_ms

    @property
    def latency_source(self) -> Source | None:
        return None if self.latency_ms is None else self.search_source


@dataclass
class DeployAnalysis:
    n_docs: int
    n_docs_given: bool  # --docs N, else the largest evaluated corpus
    points: list[Point]
    bytes_frontier: list[Point]
    latency_frontier: list[Point]
    answers: list[Answer[Point]]
    cost_models: list[SearchCostModel]
    throughput_setup: tuple[str, str] | None  # (device name, "backend dtype") the latencies and docs/s come from
    calibration: Calibration | None
    notes: list[str] = field(default_factory=list)
    scale_checks: list[ScaleCheck] = field(default_factory=list)  # the calibration against scale.py's large N


def _search(rec: dict[str, Any]) -> dict[str, Any]:
    """The cell's search section: the backend's identity and its stats (leafbench.search), {} for older cells."""
    return rec.get("search") or {}


def _backend(rec: dict[str, Any]) -> str:
    """The search backend a cell used ("exact", "hnsw", "ivf", "flat"...); older cells used the exact scan."""
    backend = _search(rec).get("backend", "exact")
    if isinstance(backend, dict):  # the backend's stats carry its whole identity under the same key
        backend = backend.get("backend", "exact")
    return str(backend)


def _cost_key(rec: dict[str, Any]) -> str:
    """The backend and the parameters its search cost depends on (leafbench.deploy.scale.backend_key)."""
    search = _search(rec)
    identity = search["backend"] if isinstance(search.get("backend"), dict) else search
    return backend_key({**identity, "backend": _backend(rec)})


def _index_bytes_per_doc(recs: list[dict[str, Any]]) -> float | None:
    """A built index's measured bytes per document (the cell's `search.index_bytes` / docs), at the largest
    corpus; None for the exact scan, whose layout leafbench.deploy.storage knows."""
    sized = [(int(r["task_size"]["docs"]), _search(r).get("index_bytes")) for r in recs
             if (r.get("task_size") or {}).get("docs")]
    sized = [(n, b) for n, b in sized if isinstance(b, (int, float)) and b > 0]
    if not sized:
        return None
    n, b = max(sized)
    return float(b) / n


def _grid_ms(rec: dict[str, Any]) -> float | None:
    search_s = (rec.get("timings") or {}).get("search_s", _search(rec).get("search_s"))
    queries = (rec.get("task_size") or {}).get("queries")
    return round(1000 * search_s / queries, 4) if search_s is not None and queries else None


def _pick_setup(rs: ResultSet, measured: dict[tuple[str, str, str], ThroughputRecord]) -> tuple[str, str] | None:
    """The (device, backend) with the most measured models, torch before onnx: one machine's speeds, never mixed."""
    setups = Counter((d, b) for _, d, b in measured)
    if not setups:
        return None
    return max(setups, key=lambda s: (setups[s], s[1].startswith("torch"), s))


def largest_corpus(rs: ResultSet) -> int | None:
    sizes = [(r.get("task_size") or {}).get("docs") for r in rs.cells.values()]
    return max((int(s) for s in sizes if s), default=None)


def build_points(rs: ResultSet, n_docs: int, calibration: Calibration | None,
                 models: dict[tuple[str, str, int], SearchCostModel], setup: tuple[str, str] | None,
                 measured: dict[tuple[str, str, str], ThroughputRecord]) -> list[Point]:
    points = []
    keys = sorted({(k[1], k[2], k[3]) for k in rs.cells}, key=lambda k: (list(rs.configs).index(k[0]), -k[1], k[2]))
    for config, dim, precision in keys:
        quality = rs.mean_score(config, dim, precision)
        if quality is None:
            continue
        recs = [rec for t in rs.tasks if (rec := rs.cell(t, config, dim, precision)) is not None]
        evaluated = max(int((r.get("task_size") or {}).get("docs") or 0) for r in recs)
        rescore = max(int(r.get("rescore") or 0) for r in recs)
        measured_index = _index_bytes_per_doc(recs)
        fp = footprint(precision, dim, n_docs, rescore, measured_index)
        q, d = config_models(rs, config, measured, *setup) if setup else (None, None)
        cost = model_for(models, _cost_key(recs[0]), precision, dim)
        search_ms, search_source = (cost.ms(n_docs), "projected") if cost else (None, None)
        timed = TIMED_AS.get(precision, precision)
        at_n = [t.ms_per_query for t in (calibration.timings if calibration and cost and cost.backend == "exact"
                                         else [])
                if t.precision == timed and t.dim == dim and t.n_docs == n_docs]
        if at_n:  # a calibrated size: the timing itself, not the model
            search_ms, search_source = at_n[0], "measured"
        rescore_ms = None
        if rescore and get_precision(precision).rescorable and search_ms is not None:
            rescoring = model_for(models, "exact", RESCORE, dim)
            rescore_ms = rescoring.ms(rescore) if rescoring else None
            # a rescored latency without its rescoring would flatter it: unknown rescoring, unknown latency
            search_ms = search_ms + rescore_ms if rescore_ms is not None else None
            if rescore_ms is None:
                search_source = None
            elif search_source == "measured" and rescoring and rescore not in rescoring.sizes:
                search_source = "projected"
        docs_per_s = d.docs_per_s.median if d is not None and d.docs_per_s else None
        if measured_index is None:
            bytes_source: Source = "computed"
        else:
            bytes_source = "measured" if n_docs == evaluated else "projected"
        points.append(Point(
            config=config, dim=dim, precision=precision, backend=_backend(recs[0]), quality=quality,
            evaluated_docs=evaluated, rescore=rescore, bytes_per_doc=fp.per_doc,
            bytes_source=bytes_source,
            ram_bytes=fp.ram, disk_bytes=fp.disk,
            encode_p50_ms=q.latency_ms.p50 if q is not None and q.latency_ms else None,
            search_ms=search_ms, search_source=search_source, docs_per_s=docs_per_s,
            encode_hours=n_docs / docs_per_s / 3600 if docs_per_s else None,
            grid_search_ms={r["task"]: ms for r in recs if (ms := _grid_ms(r)) is not None}, rescore_ms=rescore_ms))
    return points


def _round2(x: float) -> float:
    """Two significant figures, rounded up: a budget just above a measured latency."""
    digits = 1 - int(math.floor(math.log10(x)))
    return math.ceil(x * 10 ** digits) / 10 ** digits


def default_latency_budgets(points: list[Point]) -> list[Budget]:
    """Latency budgets the measured machine can meet: just above the fastest query model's latency and twice it
    (fixed milliseconds would be all-or-nothing across machines and loads)."""
    latencies = sorted(x for p in points if (x := p.latency_ms) is not None and x > 0)
    if not latencies:
        return []
    return [Budget(max_latency_ms=_round2(latencies[0] * f)) for f in (1.0, 2.0)]


def analyse(rs: ResultSet, calibration: Calibration | None, n_docs: int | None = None,
            budgets: list[Budget] | None = None, scale: list[Calibration] | None = None) -> DeployAnalysis:
    """Points, both frontiers and the budget answers at `n_docs` (default: the largest evaluated corpus)."""
    notes: list[str] = []
    largest = largest_corpus(rs)
    given = n_docs is not None
    n = int(n_docs if n_docs is not None else (largest or 1))
    models = all_models(calibration, scale or [])
    measured = measured_models(rs)
    setup = _pick_setup(rs, measured)
    if setup is None:
        notes.append("no throughput records: query latency and encoding hours need the throughput stage "
                     "(leafbench throughput SUITE); the latency frontier is empty")
    if calibration is None:
        notes.append("no search-cost calibration for this machine: search time at N is unknown")
    elif setup is not None and calibration.machine.get("cpu_model") not in (setup[0], None):
        notes.append(f"encode latency was measured on {setup[0]} but search time on "
                     f"{calibration.machine.get('cpu_model')} (this machine): their sum mixes two machines")
    points = build_points(rs, n, calibration, models, setup, measured)
    if any(p.backend != "exact" and p.search_ms is None for p in points):
        notes.append("some cells use a FAISS backend (or parameters) that neither this machine's calibration nor a "
                     "benchmarks/scale.py result (results/bench/scale.json, or --scale FILE) times: they show no "
                     "latency")
    here = machine().get("cpu_model")
    for other in sorted({m.source for m in models.values() if m.source.startswith("scale.py on ")}):
        notes.append(f"search costs from {other} were timed on another CPU than this machine's ({here})")
    if budgets is None:
        budgets = [Budget(max_bytes_per_doc=b) for b in DEFAULT_BYTE_BUDGETS] + default_latency_budgets(points)
    answers = [best_under(points, b, lambda p: p.quality, lambda p: p.bytes_per_doc, lambda p: p.latency_ms)
               for b in budgets]
    used = {(p.backend, TIMED_AS.get(p.precision, p.precision), p.dim) for p in points}
    used |= {("exact", RESCORE, p.dim) for p in points if p.rescore_ms is not None}
    return DeployAnalysis(
        n_docs=n, n_docs_given=given, points=points,
        bytes_frontier=frontier(points, lambda p: p.bytes_per_doc, lambda p: p.quality),
        latency_frontier=frontier(points, lambda p: p.latency_ms, lambda p: p.quality),
        answers=answers, cost_models=[m for k, m in sorted(models.items()) if k in used],
        throughput_setup=setup, calibration=calibration, notes=notes,
        scale_checks=scale_checks(calibration, scale or []))

"""The report's deploy section: the quality/cost frontier, the best configuration under each budget, and the
search-cost model's held-out check, as tables (Markdown, LaTeX, CSV, HTML, rich) and `deploy.json` (every point).

Every cost column says in its header whether its numbers are measured or projected; where a column mixes both,
each cell carries a superscript (ᵐ measured, ᵖ projected). The analysis itself is `leafbench.deploy.analysis`;
this module only lays it out. The search-cost calibration it needs is timed here on first use (a few seconds) and
kept in the first results folder's `deploy/`, so later reports and `leafbench deploy` reuse it.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from leafbench.deploy.analysis import DeployAnalysis, Point, analyse, largest_corpus
from leafbench.deploy.budgets import Budget
from leafbench.deploy.calibration import RESCORE, Calibration, calibrate, load_calibration
from leafbench.deploy.numbers import human_bytes, human_count
from leafbench.deploy.scale import load_scale
from leafbench.resultset import ResultSet
from leafbench.report.render import Cell, Table
from leafbench.results import write_json_atomic
from leafbench.timing import timed

DEPLOY_TABLE_PREFIX = "deploy_"
DEPLOY_FIGURES = ("frontier_bytes", "frontier_latency", "rescoring")
TERMINAL_SKIP = ("Fitting", "encode p50", "search ms", "disk at N")  # a terminal gets the deciding columns
_MEMO: dict[int, tuple[ResultSet, DeployAnalysis | None]] = {}


def calibration_for(rs: ResultSet, time_missing: bool = True) -> Calibration | None:
    """This machine's search-cost calibration covering every evaluated (precision, dim), and the rescoring of
    every dim a cell rescores at; timed if missing."""
    pairs = sorted({(k[3], k[2]) for k in rs.cells} |
                   {(RESCORE, k[2]) for k, rec in rs.cells.items() if int(rec.get("rescore") or 0) > 0})
    if time_missing and pairs:
        with timed("deploy calibration"):
            return calibrate(rs.sources[0], pairs)
    return load_calibration(rs.sources)


def deploy_analysis(rs: ResultSet, n_docs: int | None = None, budgets: list[Budget] | None = None,
                    time_missing: bool = True, scale: list[Path] | None = None) -> DeployAnalysis | None:
    """The analysis of a result set with retrieval cells that record their corpus size (None otherwise), computed
    once per result set for the report's tables and figures."""
    if not rs.cells or (n_docs is None and largest_corpus(rs) is None):  # no corpus size: nothing to cost
        return None
    key = id(rs)
    default = n_docs is None and budgets is None and not scale
    if default and key in _MEMO and _MEMO[key][0] is rs:
        return _MEMO[key][1]
    result = analyse(rs, calibration_for(rs, time_missing), n_docs, budgets, load_scale(rs.sources, scale))
    if default:
        _MEMO.clear()
        _MEMO[key] = (rs, result)
    return result


def rescoring_for(rs: ResultSet) -> tuple[str | None, list[Any]]:
    """(task, curves) of nDCG@10 vs rescoring depth on the largest task (leafbench.deploy.rescoring), from the
    embedding store; computed once and cached in the first results folder's deploy/."""
    from leafbench.assets import cache_dir
    from leafbench.deploy.rescoring import rescoring_curves

    if not rs.cells or largest_corpus(rs) is None:
        return None, []
    return rescoring_curves(rs.cells, rs.sources[0], cache_dir() / "embeddings")


def _source_header(name: str, sources: list[str | None]) -> tuple[str, bool]:
    """The header with '(measured)', '(projected)' or '(computed)' when the column is uniform; else per-cell
    marks."""
    known = {s for s in sources if s}
    if len(known) == 1:
        return f"{name} ({known.pop()})", False
    marks = ", ".join(f"{_SUP[k]} {k}" for k in ("measured", "projected", "computed") if k in known)
    return (f"{name} ({marks})", True) if known else (name, False)


_SUP = {"measured": "ᵐ", "projected": "ᵖ", "computed": "ᶜ"}


def _cell(value: float | None, digits: int, source: str | None, marked: bool) -> Cell:
    return Cell(value, digits=digits, sup=(source or "")[:1] if marked and value is not None else "")


def _n_label(a: DeployAnalysis) -> str:
    return f"N = {human_count(a.n_docs)} docs" + ("" if a.n_docs_given else " (largest evaluated)")


def _setup_text(a: DeployAnalysis) -> str:
    if a.throughput_setup is None:
        return "no throughput records, so no latency or encoding time"
    device, backend = a.throughput_setup
    return f"encode latency and docs/s measured on {device} ({backend})"


def _check_text(a: DeployAnalysis) -> str:
    if not a.cost_models:
        return "no search-cost model"
    worst = max(a.cost_models, key=lambda m: abs(m.error))
    return (f"search time at N from a linear cost model per precision and dim (timed at N = "
            f"{', '.join(human_count(n) for n in (*worst.fitted_on, worst.checked_on))}); fitted on the smaller sizes, "
            f"it predicts N = {human_count(worst.checked_on)} (held out) within {abs(worst.error):.0%} at worst "
            f"({worst.precision}/{worst.dim}; see the search-cost table)")


def _point_cells(p: Point, marks: dict[str, bool]) -> list[Cell]:
    return [Cell(p.quality, digits=4), _cell(p.bytes_per_doc, 1, p.bytes_source, marks["bytes"]),
            _cell(p.latency_ms, 2, p.latency_source, marks["latency"]),
            Cell(p.encode_p50_ms, digits=2), _cell(p.search_ms, 3, p.search_source, marks["search"]),
            Cell(human_bytes(p.ram_bytes)), Cell(human_bytes(p.disk_bytes)),
            Cell(p.encode_hours, digits=2 if (p.encode_hours or 0) >= 0.1 else 4)]


def _cost_columns(points: list[Point]) -> tuple[list[str], dict[str, bool]]:
    b, mb = _source_header("bytes/doc", [p.bytes_source for p in points])
    lat, ml = _source_header("query latency ms", [p.latency_source for p in points])
    s, ms = _source_header("search ms at N", [p.search_source for p in points])
    kinds = {p.bytes_source for p in points}
    ram = f"RAM at N ({kinds.pop()})" if len(kinds) == 1 else "RAM at N (computed / measured / projected)"
    disk = ram.replace("RAM", "disk")
    return (["nDCG@10 (measured)", b, lat, "encode p50 ms (measured)", s, ram, disk,
             "doc encoding hours at N (projected)"], {"bytes": mb, "latency": ml, "search": ms})


def _terminal_skip(a: DeployAnalysis, columns: list[str]) -> set[str]:
    """Columns the rich rendering leaves out (files keep them): the parts of a sum and the less deciding costs."""
    skip = {c for c in columns if c.startswith(TERMINAL_SKIP)}
    return skip | ({"Backend"} if {p.backend for p in a.points} <= {"exact"} else set())


def frontier_table(a: DeployAnalysis) -> Table | None:
    on_bytes, on_latency = {p.label for p in a.bytes_frontier}, {p.label for p in a.latency_frontier}
    points = sorted((p for p in a.points if p.label in on_bytes | on_latency), key=lambda p: (p.bytes_per_doc,
                                                                                              -p.quality))
    if not points:
        return None
    columns, marks = _cost_columns(points)
    rows = [[Cell(p.config), Cell(str(p.dim)), Cell(p.precision), Cell(p.backend),
             Cell(" + ".join(n for n, on in (("bytes", p.label in on_bytes), ("latency", p.label in on_latency))
                             if on)), *_point_cells(p, marks)] for p in points]
    caption = (f"The configurations no other beats on both quality and cost: nDCG@10 (mean of the tasks) against "
               f"bytes per document and against query latency (batch-1 query encoding + one query's exact search), "
               f"{_n_label(a)}. {len(a.points)} points in all ({len(a.bytes_frontier)} on the bytes frontier, "
               f"{len(a.latency_frontier)} on the latency frontier). {_setup_text(a)}; {_check_text(a)}. Bytes per "
               f"document count everything a configuration keeps: its codes in RAM, computed from the layout "
               f"(float32 4d, int8 d + its per-dim scales over N, binary d/8) or measured (a built index's size on "
               f"disk), plus, for a rescoring configuration, the float32 copy it rescores from, kept on disk (the "
               f"memory-mapped store); its latency includes the rescoring of its R candidates. Encoding hours = N "
               f"/ measured docs/s of the document model.")
    return Table("deploy_frontier", "Deploy: quality/cost frontier", caption,
                 ["Config", "Dim", "Precision", "Backend", "Frontier", *columns], rows, numeric_from=5,
                 terminal_skip=_terminal_skip(a, columns))


def budget_table(a: DeployAnalysis) -> Table | None:
    if not a.answers:
        return None
    best = [ans.best for ans in a.answers if ans.best is not None]
    columns, marks = _cost_columns(best) if best else _cost_columns(a.points)
    rows = []
    for ans in a.answers:
        p = ans.best
        head = [Cell(ans.budget.label), Cell(p.label if p else "nothing fits"), Cell(ans.fitting)]
        rows.append(head + (_point_cells(p, marks) if p else [Cell(None) for _ in columns]))
    caption = (f"The highest nDCG@10 (mean of the tasks) whose costs fit each budget, {_n_label(a)}; ties go to "
               f"fewer bytes, then lower latency; a point without a latency fits no latency budget. "
               f"{_setup_text(a)}; {_check_text(a)}.")
    return Table("deploy_budget", "Deploy: best under budget", caption, ["Budget", "Best", "Fitting", *columns],
                 rows, numeric_from=2, terminal_skip=_terminal_skip(a, ["Fitting", *columns]))


def projection_table(a: DeployAnalysis) -> Table | None:
    if not a.cost_models:
        return None
    rows = [[Cell(m.backend), Cell(m.precision), Cell(str(m.dim)), Cell(m.source),
             Cell(", ".join(human_count(n) for n in m.fitted_on)), Cell(human_count(m.checked_on)),
             Cell(m.measured_ms, digits=3), Cell(m.predicted_ms, digits=3), Cell(100 * m.error, digits=1),
             Cell(", ".join(human_count(n) for n in m.projected_from)), Cell(m.fixed_ms, digits=3),
             Cell(m.ms_per_doc * 1e6, digits=2), Cell(m.ms(a.n_docs), digits=3)] for m in a.cost_models]
    cal = a.calibration
    simd = f", {cal.machine['simd']}" if cal and cal.machine.get("simd") else ""  # absent in older calibrations
    where = f"{cal.machine.get('cpu_model')} ({cal.machine.get('cpu_count')} cores{simd})" if cal else "?"
    load = f", 1-min load {cal.load_average[0]:.1f} while timing" if cal and cal.load_average else ""
    caption = (f"Search time per query vs corpus size, t(N) = a + bN. Check: the line through the smaller "
               f"calibrated sizes predicts the largest, which it never saw (error = predicted/measured - 1). "
               f"Projection beyond the largest size: the robust (Theil-Sen) line a + bN through every size; within "
               f"the timed range, interpolation. Timed on {where}"
               f"{load}: {cal.method if cal else ''}. Rows with source scale.py come from benchmarks/scale.py "
               f"(results/bench/scale.json beside the results folder, or --scale FILE: one query's median, else per "
               f"query of a batch; 768-d; 'scale.py on <CPU>' when it ran on another CPU). int8-affine is timed as "
               f"int8 (the same "
               f"scan). The last column "
               f"is the projection at {_n_label(a)}.")
    return Table("deploy_projection", "Deploy: search-cost model and its held-out check", caption,
                 ["Backend", "Precision", "Dim", "Source", "fitted on N", "checked at N", "measured ms", "predicted ms",
                  "error %", "projected from N", "a (ms)", "b (ms per 1M docs)", "projected ms at N"], rows,
                 numeric_from=6)


def scale_check_table(a: DeployAnalysis) -> Table | None:
    if not a.scale_checks:
        return None
    rows = [[Cell(c.precision), Cell(str(c.dim)), Cell(human_count(c.n_docs)), Cell(c.source),
             Cell(c.projected_ms, digits=2), Cell(c.measured_ms, digits=2), Cell(100 * c.error, digits=1)]
            for c in a.scale_checks]
    caption = ("The exact scan's cost model, fitted on the calibration's sizes, projected to the corpus sizes "
               "benchmarks/scale.py measured on this CPU (single-query median, 768-d synthetic clustered "
               "embeddings, k=10; the calibration uses random unit vectors, k=100): error = projected/measured - 1.")
    return Table("deploy_scale_check", "Deploy: the cost model against the scale benchmark", caption,
                 ["Precision", "Dim", "N", "Source", "projected ms", "measured ms (scale.py)", "error %"], rows,
                 numeric_from=4)


def deploy_tables(rs: ResultSet) -> list[Table]:
    a = deploy_analysis(rs)
    if a is None:
        return []
    made = (frontier_table(a), budget_table(a), projection_table(a), scale_check_table(a))
    return [t for t in made if t is not None]


def _point_json(p: Point) -> dict[str, Any]:
    return {"label": p.label, "config": p.config, "dim": p.dim, "precision": p.precision, "backend": p.backend,
            "ndcg_at_10": {"value": round(p.quality, 6), "source": "measured"},
            "bytes_per_doc": {"value": p.bytes_per_doc, "source": p.bytes_source},
            "ram_bytes": {"value": p.ram_bytes, "source": p.bytes_source},
            "disk_bytes": {"value": p.disk_bytes, "source": p.bytes_source},
            "encode_p50_ms": {"value": p.encode_p50_ms, "source": "measured"},
            "search_ms": {"value": p.search_ms, "source": p.search_source},
            "latency_ms": {"value": p.latency_ms, "source": p.latency_source},
            "docs_per_s": {"value": p.docs_per_s, "source": "measured"},
            "encode_hours": {"value": p.encode_hours, "source": "projected"},
            "grid_search_ms_per_query": {"value": p.grid_search_ms, "source": "measured"},
            "evaluated_docs": p.evaluated_docs, "rescore": p.rescore}


def write_deploy_json(rs: ResultSet, out: Path) -> Path | None:
    """deploy.json in the report folder: every point with every cost and its source, both frontiers, the answers."""
    a = deploy_analysis(rs)
    if a is None:
        return None
    doc = {"schema": "leafbench.deploy/1", "n_docs": a.n_docs, "n_docs_given": a.n_docs_given,
           "throughput_setup": a.throughput_setup, "notes": a.notes,
           "bytes_frontier": [p.label for p in a.bytes_frontier],
           "latency_frontier": [p.label for p in a.latency_frontier],
           "budgets": [{"budget": ans.budget.label, "best": ans.best.label if ans.best else None,
                        "fitting": ans.fitting} for ans in a.answers],
           "cost_models": [{"backend": m.backend, "precision": m.precision, "dim": m.dim, "fixed_ms": m.fixed_ms,
                            "ms_per_doc": m.ms_per_doc, "source": m.source, "projected_from": list(m.projected_from),
                            "fitted_on": list(m.fitted_on), "checked_on": m.checked_on,
                            "measured_ms": m.measured_ms, "predicted_ms": m.predicted_ms, "error": m.error}
                           for m in a.cost_models],
           "points": [_point_json(p) for p in a.points]}
    path = out / "deploy.json"
    write_json_atomic(path, json.loads(json.dumps(doc, default=str)))
    return path

"""The throughput table: one row per config and setup, from the throughput records a `ResultSet` joins to configs.

Speed-ups compare against the teacher on the same device and backend only: ratios across machines mean nothing. A
model measured in one dtype only (the suite runs it in its own) is compared as it ran: the Backend cell says so.
"""

from __future__ import annotations

from dataclasses import dataclass

from leafbench.report.render import Cell, Table
from leafbench.resultset import ResultSet, config_models, measured_models, setup_label


@dataclass(frozen=True)
class ThroughputRow:
    config: str
    device: str
    backend: str  # the setup compared in (the section): "backend dtype"
    measured: str  # what its models ran as: the backend, or each side's when one ran in its own dtype
    params: int | None  # the query-side model's (what runs per request)
    docs_per_s: float | None
    queries_per_s: float | None
    latency_p50_ms: float | None
    latency_p95_ms: float | None


def throughput_rows(rs: ResultSet) -> list[ThroughputRow]:
    """One row per (config, device, backend) for which both sides' models were measured."""
    measured = measured_models(rs)
    setups = sorted({(d, b) for _, d, b in measured})
    rows = []
    for c in rs.configs:
        for device, backend in setups:
            q, d = config_models(rs, c, measured, device, backend)
            if q is None or d is None:
                continue
            q_as, d_as = setup_label(q)[1], setup_label(d)[1]
            measured_as = q_as if q_as == d_as else f"queries {q_as}, documents {d_as}"
            rows.append(ThroughputRow(c, device, backend, measured_as, q.n_parameters,
                                      d.docs_per_s.median if d.docs_per_s else None,
                                      q.queries_per_s.median if q.queries_per_s else None,
                                      q.latency_ms.p50 if q.latency_ms else None,
                                      q.latency_ms.p95 if q.latency_ms else None))
    # a config compared in a setup the teacher truly ran in (a model in its own dtype) needs no second row in a setup
    # where the teacher only stands in
    taught = {(r.device, r.backend) for r in rows if r.config == rs.teacher and r.measured == r.backend}
    compared = {r.config for r in rows if (r.device, r.backend) in taught}
    return [r for r in rows if (r.device, r.backend) in taught or r.config not in compared]


def throughput_table(rs: ResultSet) -> Table | None:
    rows = throughput_rows(rs)
    if not rows:
        return None
    teacher = {(r.device, r.backend): r for r in rows if r.config == rs.teacher}

    def ratio(a: float | None, b: float | None) -> float | None:
        return a / b if a and b else None

    out, sections, previous = [], set(), None
    for r in sorted(rows, key=lambda r: (r.device, r.backend, list(rs.configs).index(r.config))):
        if (r.device, r.backend) != previous:
            sections.add(len(out))
            previous = (r.device, r.backend)
        t = teacher.get((r.device, r.backend))
        out.append([Cell(r.config), Cell(r.device), Cell(r.measured),
                    Cell(r.params / 1e6 if r.params else None, digits=1),
                    Cell(t.params / r.params if t and t.params and r.params else None, digits=2),
                    Cell(r.docs_per_s, digits=1), Cell(r.queries_per_s, digits=1), Cell(r.latency_p50_ms, digits=2),
                    Cell(r.latency_p95_ms, digits=2),
                    Cell(ratio(r.docs_per_s, t.docs_per_s) if t else None, digits=2),
                    Cell(ratio(r.queries_per_s, t.queries_per_s) if t else None, digits=2),
                    Cell(ratio(t.latency_p50_ms, r.latency_p50_ms) if t else None, digits=2)])
    caption = ("Medians over trials. Asymmetric configs encode documents with the document model and queries with "
               "the query model; params are the query-side model's (what runs per query). Ratios (x) are against the "
               f"teacher ({rs.teacher or 'none'}) on the same device and backend (a model the suite runs in its own "
               "dtype, e.g. a static one in fp32, against the teacher as it runs); latency is batch-1 query encoding. "
               "Configs whose models were not measured are left out.")
    return Table("throughput", "Throughput", caption,
                 ["Config", "Device", "Backend", "Params (M)", "fewer params (x)", "docs/s", "queries/s",
                  "latency p50 (ms)", "latency p95 (ms)", "docs/s vs teacher (x)", "queries/s vs teacher (x)",
                  "latency vs teacher (x)"], out, sections, numeric_from=3)

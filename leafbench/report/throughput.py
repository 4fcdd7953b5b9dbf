"""Throughput records (per model and machine) joined to configs, and the throughput table.

Throughput is measured per model, quality per config. A standard config costs its model on both sides; an
asymmetric config encodes documents with its document model (offline, once) and queries with its query model
(online, per request), so its docs/s is the document model's and its queries/s and latency the query model's.
Speed-ups compare against the teacher on the same device and backend only: ratios across machines mean nothing.
"""

from __future__ import annotations

from dataclasses import dataclass

from leafbench.report.data import ResultSet
from leafbench.report.render import Cell, Table
from leafbench.throughput.record import SCHEMA, ThroughputRecord


@dataclass(frozen=True)
class ThroughputRow:
    config: str
    device: str
    backend: str
    params: int | None  # the query-side model's (what runs per request)
    docs_per_s: float | None
    queries_per_s: float | None
    latency_p50_ms: float | None
    latency_p95_ms: float | None


def throughput_records(rs: ResultSet) -> list[ThroughputRecord]:
    """The result set's throughput records as typed records; one that does not validate is left out with a note
    (a record of another leafbench version must not become a wrong number in a table)."""
    out = []
    for raw in rs.throughput:
        try:
            out.append(ThroughputRecord.model_validate(raw))
        except ValueError as e:
            note = f"{raw.get('_path', 'a throughput record')}: not a valid {SCHEMA} record, left out " \
                   f"({str(e).splitlines()[0]})"
            if note not in rs.notes:
                rs.notes.append(note)
    return out


def setup_label(rec: ThroughputRecord) -> tuple[str, str]:
    """(device name, "backend dtype"): the setups whose speeds compare."""
    return rec.device_name or rec.device, rec.backend + (f" {rec.dtype}" if rec.dtype else "")


def measured_models(rs: ResultSet) -> dict[tuple[str, str, str], ThroughputRecord]:
    """(model fingerprint, id or name; device; backend) -> record; the newest wins when a model was measured twice."""
    out: dict[tuple[str, str, str], ThroughputRecord] = {}
    for rec in sorted(throughput_records(rs), key=lambda r: r.created or ""):
        device, backend = setup_label(rec)
        for ident in (rec.model.fingerprint, rec.model.id, rec.model.name):
            if ident:
                out[(ident, device, backend)] = rec
    return out


def config_models(rs: ResultSet, config: str, measured: dict[tuple[str, str, str], ThroughputRecord], device: str,
                  backend: str) -> tuple[ThroughputRecord | None, ThroughputRecord | None]:
    """The (query-side, document-side) records of a config on one setup, matched by fingerprint, else by id."""
    info = rs.configs[config]
    q = measured.get((info.query_fingerprint or "", device, backend)) or \
        measured.get((info.query_model, device, backend))
    d = measured.get((info.document_fingerprint or "", device, backend)) or \
        measured.get((info.document_model, device, backend))
    return q, d


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
            rows.append(ThroughputRow(c, device, backend, q.n_parameters,
                                      d.docs_per_s.median if d.docs_per_s else None,
                                      q.queries_per_s.median if q.queries_per_s else None,
                                      q.latency_ms.p50 if q.latency_ms else None,
                                      q.latency_ms.p95 if q.latency_ms else None))
    return rows


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
        out.append([Cell(r.config), Cell(r.device), Cell(r.backend),
                    Cell(r.params / 1e6 if r.params else None, digits=1),
                    Cell(t.params / r.params if t and t.params and r.params else None, digits=2),
                    Cell(r.docs_per_s, digits=1), Cell(r.queries_per_s, digits=1), Cell(r.latency_p50_ms, digits=2),
                    Cell(r.latency_p95_ms, digits=2),
                    Cell(ratio(r.docs_per_s, t.docs_per_s) if t else None, digits=2),
                    Cell(ratio(r.queries_per_s, t.queries_per_s) if t else None, digits=2),
                    Cell(ratio(t.latency_p50_ms, r.latency_p50_ms) if t else None, digits=2)])
    caption = ("Medians over trials. Asymmetric configs encode documents with the document model and queries with "
               "the query model; params are the query-side model's (what runs per query). Ratios (x) are against the "
               f"teacher ({rs.teacher or 'none'}) on the same device and backend; latency is batch-1 query encoding. "
               "Configs whose models were not measured are left out.")
    return Table("throughput", "Throughput", caption,
                 ["Config", "Device", "Backend", "Params (M)", "fewer params (x)", "docs/s", "queries/s",
                  "latency p50 (ms)", "latency p95 (ms)", "docs/s vs teacher (x)", "queries/s vs teacher (x)",
                  "latency vs teacher (x)"], out, sections, numeric_from=3)

"""Throughput records (per model and machine) joined to configs, and the throughput table.

Throughput is measured per model, quality per config. A standard config costs its model on both sides; an
asymmetric config encodes documents with its document model (offline, once) and queries with its query model
(online, per request), so its docs/s is the document model's and its queries/s and latency the query model's.
Speed-ups compare against the teacher on the same device and backend only: ratios across machines mean nothing.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from leafbench.report.data import ResultSet
from leafbench.report.render import Cell, Table


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


def _num(rec: dict[str, Any], *keys: str) -> float | None:
    """A median figure under one of several keys; a {median: ...} summary or a bare number both work."""
    for key in keys:
        node: Any = rec
        for part in key.split("."):
            node = node.get(part) if isinstance(node, dict) else None
        if isinstance(node, dict):
            node = node.get("median")
        if isinstance(node, (int, float)):
            return float(node)
    return None


def _by_model(rs: ResultSet) -> dict[tuple[str, str, str], dict[str, Any]]:
    """(model id or fingerprint, device, backend) -> record; the newest wins when a model was measured twice."""
    out: dict[tuple[str, str, str], dict[str, Any]] = {}
    for rec in sorted(rs.throughput, key=lambda r: str(r.get("created", ""))):
        model = rec.get("model") or {}
        device = str(rec.get("device_name") or rec.get("device") or "?")
        backend = str(rec.get("backend") or "torch") + (f" {rec['dtype']}" if rec.get("dtype") else "")
        for ident in (model.get("fingerprint"), model.get("id"), model.get("name")):
            if ident:
                out[(ident, device, backend)] = rec
    return out


def throughput_rows(rs: ResultSet) -> list[ThroughputRow]:
    """One row per (config, device, backend) for which both sides' models were measured."""
    measured = _by_model(rs)
    setups = sorted({(d, b) for _, d, b in measured})
    rows = []
    for c, info in rs.configs.items():
        for device, backend in setups:
            q = measured.get((info.query_fingerprint or "", device, backend)) or \
                measured.get((info.query_model, device, backend))
            d = measured.get((info.document_fingerprint or "", device, backend)) or \
                measured.get((info.document_model, device, backend))
            if q is None or d is None:
                continue
            params = _num(q, "n_parameters", "params", "model.n_parameters")
            rows.append(ThroughputRow(c, device, backend, int(params) if params else None,
                                      _num(d, "docs_per_s", "documents.per_s"),
                                      _num(q, "queries_per_s", "queries.per_s"),
                                      _num(q, "latency_ms.p50", "latency.p50_ms"),
                                      _num(q, "latency_ms.p95", "latency.p95_ms")))
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

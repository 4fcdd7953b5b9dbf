"""Student/teacher ratios from throughput records: every ratio reads "times better than the teacher".

params is teacher/model, the rates model/teacher, the latencies teacher/model. Rate ratios are {median, low, high,
paired}: median is the ratio of the medians; paired (both measured interleaved in one run), low/high are the
smallest and largest trial-by-trial ratio, each pair taken under the same machine load; unpaired (records from
different runs), low = model min / teacher max and high = model max / teacher min. Ratios across devices or backends
mean nothing, so a model is compared with the teacher's record of the same setup; one measured in a dtype the
teacher was not (the suite runs each model in its own) meets the teacher's only record on that device and backend.
"""

from __future__ import annotations

from leafbench.results import now
from leafbench.throughput.record import Comparison, Latency, RateRatio, RatiosRecord, Spread, ThroughputRecord


def _rate_ratio(model: Spread | None, teacher: Spread | None, paired: bool) -> RateRatio | None:
    if not model or not teacher or not teacher.median or not teacher.min:
        return None
    if paired and len(model.trials) == len(teacher.trials):
        each = [m / t for m, t in zip(model.trials, teacher.trials)]
        low, high = min(each), max(each)
    else:
        paired, low, high = False, model.min / teacher.max, model.max / teacher.min
    return RateRatio(median=round(model.median / teacher.median, 3), low=round(low, 3), high=round(high, 3),
                     paired=paired)


def _latency_ratio(model: Latency | None, teacher: Latency | None, key: str) -> float | None:
    if not model or not teacher or not getattr(model, key):
        return None
    return round(getattr(teacher, key) / getattr(model, key), 3)


def choose_teacher(records: list[ThroughputRecord], requested: str | None) -> str | None:
    """The requested model, else the one named 'teacher', else the largest measured."""
    if requested:
        return requested
    if any(r.model.name == "teacher" for r in records):
        return "teacher"
    return max(records, key=lambda r: r.n_parameters or 0).model.name if records else None


def ratios(records: list[ThroughputRecord], teacher: str | None = None) -> RatiosRecord:
    """Every non-teacher record against the teacher's record on the same device, backend and dtype."""
    chosen = choose_teacher(records, teacher)
    teachers = {r.setup: r for r in records if r.model.name == chosen}
    # a model the suite runs in its own dtype (a static one in fp32 beside a bf16 teacher) meets the teacher as it
    # ran, when the teacher ran in one dtype only on that device and backend
    only: dict[tuple[str, str], list[ThroughputRecord]] = {}
    for t in teachers.values():
        only.setdefault((t.device, t.backend), []).append(t)
    comparisons = []
    for r in records:
        alone = only.get((r.device, r.backend), [])
        t = teachers.get(r.setup) or (alone[0] if len(alone) == 1 else None)
        if t is None or r is t:
            continue
        paired = bool(r.run_id) and r.run_id == t.run_id
        comparisons.append(Comparison(
            model=r.model.name, teacher=t.model.name, device=r.device, device_name=r.device_name, backend=r.backend,
            dtype=r.dtype, teacher_dtype=t.dtype, batch_size=r.batch_size, teacher_batch_size=t.batch_size,
            params=round(t.n_parameters / r.n_parameters, 3) if r.n_parameters and t.n_parameters else None,
            docs_per_s=_rate_ratio(r.docs_per_s, t.docs_per_s, paired),
            queries_per_s=_rate_ratio(r.queries_per_s, t.queries_per_s, paired),
            doc_tokens_per_s=_rate_ratio(r.doc_tokens_per_s, t.doc_tokens_per_s, paired),
            latency_p50=_latency_ratio(r.latency_ms, t.latency_ms, "p50"),
            latency_p95=_latency_ratio(r.latency_ms, t.latency_ms, "p95")))
    return RatiosRecord(teacher=chosen, created=now(), comparisons=comparisons)

"""The distillation table: what each distill run reached, before (projection only) and after training, and how fast
it trained. Read from the runs' `distill.json` records, so a report shows the learning outcome beside the grid.

The curve tasks' asymmetric nDCG@10 (student queries, teacher documents, float32, full dim) is computed exactly as
the grid computes its cells, so it is shown as a percentage of the teacher's own grid score on the same task: the
LEAF issue's target reads ">= 95% of the teacher".
"""

from __future__ import annotations

from typing import Any

from leafbench.report.data import ResultSet
from leafbench.report.render import Cell, Table


def teacher_score(rs: ResultSet, task: str) -> float | None:
    """The teacher's headline (full dim, float32) nDCG@10 on a task, when the grid has it."""
    rec = rs.headline(task, rs.teacher) if rs.teacher else None
    value = (rec or {}).get("scores", {}).get("NDCG@10")
    return float(value) if value is not None else None


def curve_tasks(rec: dict[str, Any]) -> list[str]:
    return sorted({t for ev in rec.get("history") or [] for t in (ev.get("curve") or {})})


def distill_table(rs: ResultSet) -> Table | None:
    """One row per (distill run, stage): the ridge-projected init at step 0, then the trained student."""
    if not rs.distill:
        return None
    tasks = sorted({t for rec in rs.distill for t in curve_tasks(rec)})
    teacher = {t: teacher_score(rs, t) for t in tasks}
    rows, sections = [], set()
    for rec in rs.distill:
        sections.add(len(rows))
        tr = rec["training"]
        for label, ev, timed in (("projection only", rec["projection_only"], False),
                                 ("fine-tuned", rec["final"], True)):
            curve = ev.get("curve") or {}
            rows.append([
                Cell(rec.get("suite") or "?"), Cell(label),
                Cell(f"{tr['device']} {'bf16' if tr['bf16'] else 'fp32'}, max_seq_length {tr['max_seq_length']}"),
                Cell(int(ev["step"])), Cell(int(ev["samples_seen"])),
                Cell(ev["val_cosine"]), Cell(ev.get("val_cosine_queries")), Cell(ev.get("val_cosine_documents")),
                *(Cell(curve.get(t), rel=100 * curve[t] / teacher[t] if curve.get(t) is not None and teacher[t]
                       else None) for t in tasks),
                Cell(tr["samples_per_second"] if timed else None, digits=1),
                Cell(tr["train_seconds"] / 60 if timed else None, digits=1)])
    caption = ("Held-out cosine to the teacher (all held-out texts, and queries and documents apart) and asymmetric "
               "NDCG@10 (the student's queries against the teacher's documents, float32, full dim; in parentheses: % "
               "of the teacher's own score on the task) before training (ridge projection only) and after. "
               "Training throughput is optimizer samples per second of training time (validation excluded).")
    return Table("distill", "Distillation", caption,
                 ["Suite", "Student", "Setup", "Steps", "Samples seen", "held-out cosine", "queries", "documents",
                  *(f"{t} asym NDCG@10" for t in tasks), "samples/s", "train (min)"],
                 rows, sections, numeric_from=3)

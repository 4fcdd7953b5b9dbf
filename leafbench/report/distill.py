"""The distillation table: what each distill run reached, before (projection only) and after training, in-domain and
off-domain, and how fast it trained. Read from the runs' `distill.json` records (leafbench.distill.record), so a
report shows the learning outcome beside the grid.

The figures per curve task are the ones the distill stage computes at each validation (student queries against the
teacher's documents, float32, full dim, scored as the grid scores its cells): asymmetric nDCG@10 with its % of the
teacher's own score on the task, the mean query cosine to the teacher and the top-10 overlap with the teacher's
ranking. Off-domain tasks are kept out of every training mix: they show whether the alignment travels.
"""

from __future__ import annotations

from pathlib import Path

from leafbench.distill.record import DistillRecord, Validation, parse_record
from leafbench.resultset import ResultSet
from leafbench.report.render import Cell, Table


def records(rs: ResultSet) -> list[DistillRecord]:
    """The result set's distill records of the current schema (others are skipped)."""
    return [rec for raw in rs.distill if (rec := parse_record(raw)) is not None]


def _share(ev: Validation, off: bool) -> float | None:
    share = ev.mean("share", off)
    return 100 * share if share is not None else None


def distill_table(rs: ResultSet) -> Table | None:
    """One row per (distill run, stage): the ridge-projected init at step 0, then the trained student."""
    recs = records(rs)
    if not recs:
        return None
    tasks = sorted({t for rec in recs for t in rec.curve_tasks()},
                   key=lambda t: (any(t in rec.curve_tasks(off_domain=True) for rec in recs), t))
    off_tasks = {t for rec in recs for t in rec.curve_tasks(off_domain=True)}
    rows, sections = [], set()
    for rec in recs:
        sections.add(len(rows))
        tr = rec.training
        setup = (f"{tr.device} {'bf16' if tr.bf16 else 'fp32'}, {rec.student_init.architecture}, loss {tr.loss}"
                 f"{f' + {tr.rank_weight} rank' if tr.rank_weight else ''}"
                 f"{f' (+{tr.rank_mined} mined)' if tr.rank_mined else ''}"
                 f"{', also at ' + '/'.join(map(str, tr.matryoshka_dims)) + '-d' if tr.matryoshka_dims else ''}"
                 f"{f', max_seq_length {tr.max_seq_length}' if tr.max_seq_length else ''}")  # static: none
        # a suite of several distill stages (one per student family) has one record each: the output name tells
        # them apart
        name = Path(rec.outputs.get("finetuned") or "").name
        for label, ev, timed in (("projection only", rec.projection_only, False), ("fine-tuned", rec.final, True)):
            cells = [Cell(rec.suite), Cell(f"{name}: {label}" if name else label), Cell(setup), Cell(ev.step), Cell(ev.samples_seen),
                     Cell(ev.val_cosine)]
            for t in tasks:
                p = ev.curve.get(t)
                cells.append(Cell(p.ndcg10 if p else None, rel=100 * p.share if p and p.share is not None else None))
            for off in (False, True):
                cells += [Cell(_share(ev, off), digits=1), Cell(ev.mean("query_cosine", off), digits=3),
                          Cell(ev.mean("top10_overlap", off), digits=3)]
            worst = ev.worst_share(True)
            cells.append(Cell(100 * worst if worst is not None else None, digits=1))
            cells += [Cell(tr.samples_per_second if timed else None, digits=1),
                      Cell(tr.train_seconds / 60 if timed else None, digits=1)]
            rows.append(cells)
    caption = ("Held-out cosine to the teacher, then per learning-curve task the asymmetric NDCG@10 (the student's "
               "queries against the teacher's documents, float32, full dim; in parentheses: % of the teacher's own "
               "score on the task) and, averaged over the in-domain and the off-domain tasks (kept out of every "
               "training mix), % of the teacher, mean query cosine to the teacher and top-10 overlap with the "
               "teacher's ranking, then the worst off-domain task's % of the teacher (each yardstick is one query "
               "shape: a mean hides the shape alignment fails on); before training (ridge projection only) and "
               "after. Training throughput is optimizer samples per second of training time (validation "
               "excluded).")
    return Table("distill", "Distillation", caption,
                 ["Suite", "Student", "Setup", "Steps", "Samples seen", "held-out cosine",
                  *(f"{t}{' (off-domain)' if t in off_tasks else ''} asym NDCG@10" for t in tasks),
                  "in-domain % of teacher", "in-domain q-cos", "in-domain top-10",
                  "off-domain % of teacher", "off-domain q-cos", "off-domain top-10", "off-domain worst % of teacher",
                  "samples/s", "train (min)"],
                 rows, sections, numeric_from=3)

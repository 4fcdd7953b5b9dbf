"""The report's tables, built from a `ResultSet`: the paper's Table 1, MRL x precision, throughput, alignment to the
teacher, and every pairwise significance test behind the markers.

Every table is a `render.Table`, written as Markdown, LaTeX (booktabs), CSV and shown with rich. Missing cells are
gaps; an average over tasks is shown only when every task has the cell, because a partial mean would not compare.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from leafbench.resultset import HEADLINE_METRIC, ResultSet
from leafbench.report.render import Cell, Table
from leafbench.report.significance import Correction, Method, PairedTest, compare_all, letters
from leafbench.results import write_json_atomic


@dataclass(frozen=True)
class SignificanceOptions:
    method: Method = "randomization"
    alpha: float = 0.05
    correction: Correction = "bonferroni"
    n_resamples: int = 10_000
    seed: int = 0
    metric: str = HEADLINE_METRIC

    def describe(self) -> str:
        test = ("paired randomisation test" + f" ({self.n_resamples:,} sign flips)" if self.method == "randomization"
                else "paired t-test")
        corr = {"bonferroni": "Bonferroni-corrected", "holm": "Holm-corrected", "none": "uncorrected"}[self.correction]
        return f"{test} on per-query {self.metric}, {corr} over the pairs on each task, p < {self.alpha}"


@dataclass
class Family:
    """One corrected family of tests: all configs sharing one task and one kind of cell."""

    task: str
    label: str  # "headline" (each config's full dim, float32) or "dim D, PRECISION"
    cells: dict[str, tuple[int, str]]  # config -> (dim, precision) compared
    tests: list[PairedTest]

    def beaten_by(self, config: str) -> set[str]:
        return {t.b if t.a == config else t.a for t in self.tests if t.winner == config}


def _per_query(rec: dict[str, Any] | None, metric: str) -> dict[str, float] | None:
    pq = (rec or {}).get("per_query") or {}
    return pq.get(metric) or None


def significance_families(rs: ResultSet, opts: SignificanceOptions) -> list[Family]:
    """Headline comparisons (Table 1) per task, then every (dim, precision) that two or more configs share."""
    families = []
    for task in rs.tasks:
        chosen = {c: rs.headline(task, c) for c in rs.configs}
        systems = {c: pq for c, rec in chosen.items() if (pq := _per_query(rec, opts.metric))}
        if len(systems) > 1:
            families.append(Family(task, "headline", {c: (rs.configs[c].full_dim, "float32") for c in systems},
                                   compare_all(systems, opts.method, opts.alpha, opts.correction, opts.n_resamples,
                                               opts.seed)))
        shared = sorted({(k[2], k[3]) for k in rs.cells if k[0] == task},
                        key=lambda dp: (-dp[0], rs.precisions.index(dp[1])))
        for dim, precision in shared:
            systems = {c: pq for c in rs.configs if (pq := _per_query(rs.cell(task, c, dim, precision), opts.metric))}
            if len(systems) > 1:
                families.append(Family(task, f"dim {dim}, {precision}", {c: (dim, precision) for c in systems},
                                       compare_all(systems, opts.method, opts.alpha, opts.correction,
                                                   opts.n_resamples, opts.seed)))
    return families


def _short(model_id: str) -> str:
    return model_id.rstrip("/").rsplit("/", 1)[-1]


def _models(rs: ResultSet, config: str) -> str:
    info = rs.configs[config]
    if info.mode == "standard":
        return _short(info.document_model)
    return f"{_short(info.query_model)} / {_short(info.document_model)}"


def _bold_best(rows: list[list[Cell]], columns: Iterable[int]) -> None:
    for j in columns:
        values = [r[j].value for r in rows if isinstance(r[j].value, float)]
        if len(values) > 1:
            best = max(values)
            for r in rows:
                r[j].bold = r[j].value == best


def table1(rs: ResultSet, families: list[Family], opts: SignificanceOptions) -> Table:
    """Per-task headline score of every config, their mean and % of the teacher's mean, with ranx-style letters."""
    configs = list(rs.configs)
    letter = dict(zip(configs, letters(len(configs))))
    headline = {f.task: f for f in families if f.label == "headline"}
    teacher_avg = rs.mean_score(rs.teacher, rs.configs[rs.teacher].full_dim, "float32") if rs.teacher else None
    rows = []
    for c in configs:
        info = rs.configs[c]
        row = [Cell(letter[c]), Cell(c), Cell(info.mode), Cell(_models(rs, c)), Cell(info.full_dim)]
        for task in rs.tasks:
            fam = headline.get(task)
            beaten = fam.beaten_by(c) if fam else set()
            sup = "".join(letter[x] for x in configs if x in beaten)
            row.append(Cell(rs.score(task, c, info.full_dim, "float32"), sup=sup))
        avg = rs.mean_score(c, info.full_dim, "float32")
        row.append(Cell(avg))
        row.append(Cell(avg / teacher_avg * 100 if avg is not None and teacher_avg else None, digits=1))
        rows.append(row)
    _bold_best(rows, range(5, 5 + len(rs.tasks) + 1))
    teacher = f"teacher: {rs.teacher} ({rs.teacher_reason})" if rs.teacher else f"teacher: {rs.teacher_reason}"
    caption = (f"{HEADLINE_METRIC} at each config's full dimension, float32; Avg over the {len(rs.tasks)} task(s), "
               f"shown only when all are present; {teacher}. Superscript letters: significantly better than the "
               f"config with that letter ({opts.describe()}). Best in bold; {chr(8211)} = not evaluated.")
    models = "Model(s) (query / document)"
    return Table("table1", f"Table 1: {HEADLINE_METRIC} per task", caption,
                 ["#", "Config", "Mode", models, "Dim", *rs.tasks, "Avg", "% of teacher"],
                 rows, numeric_from=4, terminal_skip={models})


def mrl_table(rs: ResultSet) -> Table:
    """Every (dim, precision) of every config as a mean over tasks, with % of the config's own full-dim float32."""
    rows, sections = [], set()
    for c, info in rs.configs.items():
        ref = rs.mean_score(c, info.full_dim, "float32")
        sections.add(len(rows))
        for dim in rs.dims(c):
            row = [Cell(c), Cell(dim)]
            for p in rs.precisions:
                v = rs.mean_score(c, dim, p)
                row.append(Cell(v, rel=v / ref * 100 if v is not None and ref else None))
            rows.append(row)
    caption = (f"{HEADLINE_METRIC}, mean over {len(rs.tasks)} task(s) ({', '.join(rs.tasks)}); in parentheses: % of "
               f"the same config at its full dimension in float32. Dims are Matryoshka truncations, renormalised.")
    return Table("mrl", f"{HEADLINE_METRIC} by embedding dimension and precision", caption,
                 ["Config", "Dim", *rs.precisions], rows, sections, numeric_from=2)


def alignment_table(rs: ResultSet) -> Table | None:
    """Asymmetric configs: how closely student queries reproduce the teacher's own top 10, and their cosine."""
    asym = [c for c, i in rs.configs.items() if i.mode == "asymmetric"]
    if not asym:
        return None
    overlap_key, cos_key = "top10_overlap_with_teacher", "query_cosine_to_teacher"

    def mean_alignment(c: str, dim: int, p: str, key: str) -> float | None:
        values = [((rs.cell(t, c, dim, p) or {}).get("alignment") or {}).get(key) for t in rs.tasks]
        return None if any(v is None for v in values) else sum(values) / len(values)  # type: ignore[arg-type]

    rows, sections = [], set()
    for c in asym:
        sections.add(len(rows))
        for dim in rs.dims(c):
            row = [Cell(c), Cell(dim)]
            row += [Cell(mean_alignment(c, dim, p, overlap_key), digits=3) for p in rs.precisions]
            row.append(Cell(mean_alignment(c, dim, "float32", cos_key), digits=3))
            rows.append(row)
    caption = ("Top-10 overlap: fraction of the documents the teacher retrieves for its own query embedding that the "
               "config also retrieves, per precision; cosine: mean cosine between student and teacher query "
               f"embeddings (float32, after truncation). Means over {len(rs.tasks)} task(s).")
    return Table("alignment", "Alignment with the teacher", caption,
                 ["Config", "Dim", *(f"top-10 overlap {p}" for p in rs.precisions), "query cosine"],
                 rows, sections, numeric_from=2)


def significance_table(families: list[Family], opts: SignificanceOptions) -> Table:
    """Every test behind the markers: means, difference, raw and corrected p."""
    rows, sections = [], set()
    for fam in families:
        sections.add(len(rows))
        for t in fam.tests:
            da, db = fam.cells[t.a][0], fam.cells[t.b][0]
            rows.append([Cell(fam.task), Cell(fam.label if fam.label != "headline" else f"headline (dim {da} vs {db})"),
                         Cell(t.a), Cell(t.b), Cell(t.n), Cell(t.mean_a), Cell(t.mean_b), Cell(t.diff),
                         Cell(t.p_value), Cell(t.p_adjusted), Cell("yes" if t.significant else "no")])
    return Table("significance", "Paired significance tests", opts.describe() + ".",
                 ["Task", "Cells", "A", "B", "Queries", "Mean A", "Mean B", "A - B", "p", "p (corrected)",
                  "Significant"], rows, sections, numeric_from=4)


_CELL_FIELDS = ("suite", "task", "config", "mode", "dim", "full_dim", "precision", "variant")


def cells_csv(rs: ResultSet) -> str:
    """Every cell found, one row each, every metric and alignment value: the long format for pandas or R."""
    metrics = sorted({m for rec in rs.cells.values() for m in rec.get("scores", {})})
    align = sorted({m for rec in rs.cells.values() for m in (rec.get("alignment") or {})})
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow([*_CELL_FIELDS, "label", *metrics, *align, "query_model", "document_model", "created", "path"])
    for (task, label, dim, precision), rec in sorted(rs.cells.items()):
        info = rs.configs[label]
        writer.writerow([rec.get(f, "") for f in _CELL_FIELDS] + [label]
                        + [rec["scores"].get(m, "") for m in metrics]
                        + [(rec.get("alignment") or {}).get(m, "") for m in align]
                        + [info.query_model, info.document_model, rec.get("created", ""), rec.get("_path", "")])
    return buf.getvalue()


def _mteb_aggregate(rs: ResultSet, config: str, dim: int, precision: str) -> dict[str, Any] | None:
    """MTEB leaderboard aggregates (the MTEB stage's own definition) when the variant has every task, else None."""
    from leafbench.evaluate.mteb.naming import aggregate

    scores = {}
    for task, task_type in rs.mteb_tasks.items():
        rec = rs.mteb.get((task, config, dim, precision))
        if rec is None:
            return None
        scores[task] = (task_type, float(rec["main_score"]))
    return aggregate(scores)


def mteb_table(rs: ResultSet) -> Table | None:
    """MTEB-stage main scores at each config's full dim in float32, with the leaderboard's means."""
    if not rs.mteb:
        return None
    tasks = rs.mteb_tasks
    types = sorted(set(tasks.values()))
    per_task = len(tasks) <= 8  # MTEB(eng, v2) has 41 tasks: then the table shows task-type means only
    per_type = len(types) > 1 and not (per_task and len(types) == len(tasks))  # a type mean of one task repeats it
    configs = [c for c in rs.configs if any(k[1] == c for k in rs.mteb)]
    teacher = _mteb_aggregate(rs, rs.teacher, rs.configs[rs.teacher].full_dim, "float32") if rs.teacher else None
    rows = []
    for c in configs:
        full = rs.configs[c].full_dim
        agg = _mteb_aggregate(rs, c, full, "float32")
        row = [Cell(c), Cell(rs.configs[c].mode), Cell(full)]
        if per_task:
            row += [Cell(float(rec["main_score"]) if (rec := rs.mteb.get((t, c, full, "float32"))) else None)
                    for t in tasks]
        if per_type:
            row += [Cell(agg[t] if agg else None) for t in types]
        mean_task, mean_type = (agg["Mean (Task)"], agg["Mean (TaskType)"]) if agg else (None, None)
        row += [Cell(mean_task), Cell(mean_type),
                Cell(mean_task / teacher["Mean (Task)"] * 100 if mean_task is not None and teacher else None,
                     digits=1)]
        rows.append(row)
    columns = ["Config", "Mode", "Dim", *(tasks if per_task else []), *(types if per_type else []),
               "Mean (Task)", "Mean (TaskType)", "% of teacher"]
    _bold_best(rows, range(3, len(columns) - 1))
    main = sorted({rec["main_score_name"] for rec in rs.mteb.values() if rec.get("main_score_name")})
    caption = (f"MTEB main scores ({', '.join(main)}) from mteb's own evaluators at each config's full dimension, "
               f"float32; Mean (Task) over {len(tasks)} task(s), Mean (TaskType) the mean of the {len(types)} "
               f"task-type means, as the MTEB leaderboard defines them, shown only when every task is present.")
    return Table("mteb", "MTEB", caption, columns, rows, numeric_from=2)


def mteb_mrl_table(rs: ResultSet) -> Table | None:
    """MTEB Mean (Task) for every (dim, precision) of every config, with % of its full-dim float32."""
    if not rs.mteb:
        return None
    found = {k[3] for k in rs.mteb}
    precisions = [p for p in rs.precisions if p in found]  # the MTEB stage may run fewer than the grid
    rows, sections = [], set()
    for c, info in rs.configs.items():
        dims = sorted({k[2] for k in rs.mteb if k[1] == c}, reverse=True)
        if not dims:
            continue
        ref = _mteb_aggregate(rs, c, info.full_dim, "float32")
        sections.add(len(rows))
        for dim in dims:
            row = [Cell(c), Cell(dim)]
            for p in precisions:
                agg = _mteb_aggregate(rs, c, dim, p)
                v = agg["Mean (Task)"] if agg else None
                row.append(Cell(v, rel=v / ref["Mean (Task)"] * 100 if v is not None and ref else None))
            rows.append(row)
    caption = (f"MTEB Mean (Task) over {len(rs.mteb_tasks)} task(s) by dimension and precision; in parentheses: % "
               f"of the same config at its full dimension in float32.")
    return Table("mteb_mrl", "MTEB Mean (Task) by embedding dimension and precision", caption,
                 ["Config", "Dim", *precisions], rows, sections, numeric_from=2)

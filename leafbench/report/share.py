"""Each config's share of the teacher's score, per task and over the tasks, with a paired bootstrap interval.

LEAF's claims are ratios ("the leaf keeps 93% of its teacher on each task"): one config's mean over a task's queries
divided by the teacher's mean over the same queries. On a task of 100-200 queries that ratio moves by several
points with the sample of queries, so a target such as 93% on one task is only met or missed beyond doubt when its
interval says so. The interval is a percentile bootstrap over the queries both were scored on, paired (a query
drawn counts for both sides, so what the two share cancels), with the draws fixed by a seed so a report is
reproducible. The mean over tasks resamples the queries within each task (stratified), as the tasks' mean is of
per-task means, which `scipy.stats.bootstrap` does not do; hence the few lines of numpy here.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from leafbench.report.render import Cell, Table
from leafbench.report.tables import _per_query
from leafbench.resultset import ResultSet

LEVEL = 0.95  # the interval's coverage


@dataclass(frozen=True)
class Share:
    """A config's mean over the paired queries as % of the teacher's, and its bootstrap interval."""

    percent: float
    low: float
    high: float


def _paired(rs: ResultSet, task: str, config: str, teacher: str, metric: str) -> tuple[np.ndarray, np.ndarray] | None:
    """(config, teacher) per-query scores on the queries both have, in a fixed order; None without both."""
    pq = [_per_query(rs.headline(task, c), metric) for c in (config, teacher)]
    if not pq[0] or not pq[1]:
        return None
    qids = sorted(set(pq[0]) & set(pq[1]))
    if not qids:
        return None
    return np.array([pq[0][q] for q in qids]), np.array([pq[1][q] for q in qids])


def share(pairs: list[tuple[np.ndarray, np.ndarray]], n_resamples: int, seed: int) -> Share | None:
    """Mean over the tasks of the config's per-task means as % of the teacher's (one task: that task's ratio).

    Each resample draws every task's queries with replacement, the same draw for both sides; None when the
    teacher's mean is 0 (no share to give).
    """
    teacher_mean = float(np.mean([t.mean() for _, t in pairs]))
    if teacher_mean <= 0:
        return None
    mean = float(np.mean([c.mean() for c, _ in pairs]))
    rng = np.random.default_rng(seed)
    config_draws, teacher_draws = np.zeros(n_resamples), np.zeros(n_resamples)
    for c, t in pairs:
        idx = rng.integers(0, len(c), size=(n_resamples, len(c)))
        config_draws += c[idx].mean(axis=1) / len(pairs)
        teacher_draws += t[idx].mean(axis=1) / len(pairs)
    with np.errstate(divide="ignore", invalid="ignore"):  # a draw of only teacher zeros has no ratio: dropped
        ratios = config_draws / teacher_draws * 100
    ratios = ratios[np.isfinite(ratios)]
    tail = (1 - LEVEL) / 2 * 100
    low, high = np.percentile(ratios, [tail, 100 - tail])
    return Share(mean / teacher_mean * 100, float(low), float(high))


def share_table(rs: ResultSet, metric: str, n_resamples: int, seed: int) -> Table | None:
    """Table 1's "% of teacher" per task, each with its interval: a row per config, a column per task and the mean
    of the tasks (shown only when the config has every task: a partial mean would not compare)."""
    teacher = rs.teacher
    if teacher is None:
        return None
    rows = []
    for config in rs.configs:
        if config == teacher:
            continue
        per_task = [_paired(rs, task, config, teacher, metric) for task in rs.tasks]
        got = [p for p in per_task if p is not None]
        if not got:
            continue
        groups = [[p] if p is not None else None for p in per_task] + [got if len(got) == len(per_task) > 1 else None]
        row = [Cell(config)]
        for group in groups:
            s = share(group, n_resamples, seed) if group else None
            row.append(Cell(s.percent, digits=1, interval=(s.low, s.high)) if s else Cell(None))
        rows.append(row)
    pct = f"{LEVEL * 100:.0f}%"
    caption = (f"Each config's {metric} as % of the teacher's ({teacher}) on the same queries, at full dimension "
               f"in float32 (Table 1's cells); in brackets its {pct} interval, a paired percentile bootstrap over "
               f"the queries ({n_resamples:,} resamples; Avg resamples within each task). A target inside the "
               f"interval is neither met nor missed on these queries.")
    return Table("share", f"% of the teacher's {metric} per task, with {pct} intervals", caption,
                 ["Config", *rs.tasks, "Avg"], rows, numeric_from=1)

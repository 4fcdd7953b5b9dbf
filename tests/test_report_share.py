"""The share of the teacher and its paired bootstrap interval: by hand on the fixture, and against scipy's."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from scipy import stats

from fixtures.report_results import make_results
from leafbench.report import load_results
from leafbench.report.share import share, share_table
from leafbench.report.tables import SignificanceOptions, significance_families, table1


def _row(table, config: str) -> list:
    return next(r for r in table.rows if config in (r[0].value, r[1].value))  # table1 leads with its letter


def test_share_per_task_and_over_tasks_matches_table1(tmp_path: Path) -> None:
    rs = load_results([make_results(tmp_path / "results")])
    t = share_table(rs, "NDCG@10", n_resamples=4000, seed=0)
    assert t is not None and t.columns == ["Config", "alpha", "beta", "Avg"]
    assert [r[0].value for r in t.rows] == ["student", "leaf-asym"]  # the teacher is the reference, not a row
    alpha, beta, avg = _row(t, "leaf-asym")[1:]
    assert alpha.value == pytest.approx(0.875 / 0.916667 * 100, abs=1e-3)  # 95.45
    # Paired: on every alpha query the leaf scores at most the teacher, so no resample can pass 100%.
    assert alpha.interval[0] < alpha.value < alpha.interval[1] <= 100.0
    # Every beta query 0.7 against 0.8: every resample is the same ratio (equal up to the division's last bit).
    assert beta.value == pytest.approx(87.5) and beta.interval == pytest.approx((87.5, 87.5))
    opts = SignificanceOptions(n_resamples=100)
    percent_of_teacher = _row(table1(rs, significance_families(rs, opts), opts), "leaf-asym")[-1].value
    assert avg.value == pytest.approx(percent_of_teacher)  # Table 1's "% of teacher", now with its interval
    assert avg.interval[0] < avg.value < avg.interval[1]


def test_one_task_interval_agrees_with_scipys_paired_percentile_bootstrap() -> None:
    rng = np.random.default_rng(3)
    teacher = rng.uniform(0.2, 1.0, 150)
    config = np.clip(teacher - rng.normal(0.05, 0.1, 150), 0, 1)  # correlated with the teacher, as a student is
    ours = share([(config, teacher)], n_resamples=20_000, seed=0)
    ref = stats.bootstrap((config, teacher), lambda c, t, axis: c.mean(axis) / t.mean(axis) * 100, paired=True,
                          vectorized=True, n_resamples=20_000, method="percentile", random_state=1)
    assert ours is not None and ours.percent == pytest.approx(config.mean() / teacher.mean() * 100)
    # Two Monte Carlo estimates of the same quantiles: at 20k resamples each end moves by ~0.05 points.
    assert ours.low == pytest.approx(ref.confidence_interval.low, abs=0.3)
    assert ours.high == pytest.approx(ref.confidence_interval.high, abs=0.3)
    unpaired_width = 2 * 1.96 * 100 * np.hypot(config.std() / config.mean(), teacher.std() / teacher.mean()) \
        * config.mean() / teacher.mean() / np.sqrt(150)
    assert ours.high - ours.low < 0.6 * unpaired_width  # pairing is what makes the interval narrow


def test_no_share_without_a_teacher_score() -> None:
    assert share([(np.ones(5), np.zeros(5))], n_resamples=100, seed=0) is None

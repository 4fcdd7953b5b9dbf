"""Paired significance tests on constructed examples with known answers."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
from scipy import stats

from leafbench.report.significance import adjust, compare_all, letters, paired_pvalue, randomization_pvalue, \
    randomization_pvalues


def _exact_randomization(diffs: np.ndarray) -> float:
    """Enumerate all 2^n sign flips: the exact two-sided p the Monte Carlo test estimates."""
    observed = abs(diffs.mean())
    flips = np.array(list(itertools.product((-1, 1), repeat=diffs.size)))
    return float(np.mean(np.abs(flips @ diffs) / diffs.size >= observed - 1e-12))


def test_randomization_matches_exact_enumeration() -> None:
    # 10 queries 0.5 better, 2 ties: only the two all-same-sign flips reach |mean|, so p = 2 / 2^10.
    diffs = np.array([0.5] * 10 + [0.0] * 2)
    assert _exact_randomization(diffs) == pytest.approx(2 / 1024)
    assert randomization_pvalue(diffs, 40_000, seed=1) == pytest.approx(2 / 1024, abs=0.001)
    rng = np.random.default_rng(3)
    mixed = rng.normal(0.05, 0.2, size=12)
    assert randomization_pvalue(mixed, 40_000) == pytest.approx(_exact_randomization(mixed), abs=0.01)


def test_batched_and_chunked_paths_agree() -> None:
    # the same exact answer (2 / 2^10: ties flip nothing) through the cached-matrix path, several columns at once,
    # and the chunked path a large query set takes (500 queries x 10,000 flips is past the cache limit)
    small = np.array([0.5] * 10 + [0.0] * 2)
    cols = np.stack([small, -small, np.zeros(12)], axis=1)
    assert randomization_pvalues(cols) == pytest.approx([2 / 1024, 2 / 1024, 1.0], abs=0.0015)
    large = np.concatenate([[0.5] * 10, np.zeros(490)])
    assert randomization_pvalue(large) == pytest.approx(2 / 1024, abs=0.0015)


def test_degenerate_cases() -> None:
    same = np.array([0.3, 0.7, 1.0])
    assert paired_pvalue(same, same) == 1.0 and paired_pvalue(same, same, "t-test") == 1.0
    one_query_differs = np.array([1.0] + [0.0] * 11)  # any sign flip of a single difference keeps |mean|
    assert randomization_pvalue(one_query_differs) == 1.0
    assert paired_pvalue(np.ones(5), np.zeros(5), "t-test") == 0.0  # constant gap: t is infinite


def test_ttest_equals_scipy_paired_ttest() -> None:
    rng = np.random.default_rng(0)
    a, b = rng.uniform(size=50), rng.uniform(size=50)
    assert paired_pvalue(a, b, "t-test") == pytest.approx(stats.ttest_rel(a, b).pvalue)


def test_corrections_by_hand() -> None:
    p = [0.01, 0.04, 0.03]
    assert adjust(p, "bonferroni") == pytest.approx([0.03, 0.12, 0.09])
    assert adjust(p, "holm") == pytest.approx([0.03, 0.06, 0.06])  # 3 x 0.01, max(2 x 0.03, 1 x 0.04)
    assert adjust(p, "none") == p
    assert adjust([0.6, 0.7], "bonferroni") == [1.0, 1.0]


def test_compare_all_marks_only_real_differences() -> None:
    rng = np.random.default_rng(7)
    base = rng.uniform(0.2, 0.8, size=60)
    systems = {"strong": {f"q{i}": v + 0.15 for i, v in enumerate(base)},
               "weak": {f"q{i}": v for i, v in enumerate(base)},
               "weak-twin": {f"q{i}": v + rng.normal(0, 0.01) for i, v in enumerate(base)}}
    systems["weak"]["extra-query"] = 0.0  # only shared queries are paired
    tests = {(t.a, t.b): t for t in compare_all(systems, n_resamples=5000)}
    assert tests[("strong", "weak")].winner == "strong" and tests[("strong", "weak")].n == 60
    assert tests[("strong", "weak-twin")].winner == "strong"
    assert tests[("weak", "weak-twin")].winner is None
    assert tests[("strong", "weak")].p_adjusted == pytest.approx(min(1.0, 3 * tests[("strong", "weak")].p_value))


def test_letters() -> None:
    assert letters(3) == ["a", "b", "c"]
    assert letters(28)[25:] == ["z", "aa", "ab"]

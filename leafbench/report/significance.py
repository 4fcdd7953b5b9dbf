"""Paired significance tests over per-query scores, the way ranx marks its comparison tables.

Two configs evaluated on the same queries give paired samples; the question is whether the mean of the per-query
differences is distinguishable from zero. The default is a two-sided paired randomisation (sign-flip) test: it
assumes nothing about the distribution, which matters for nDCG@10 on title->article tasks where most queries score
exactly 0 or 1. A paired t-test (scipy) is the alternative. Every family of comparisons (all pairs of configs on one
task and one cell) is corrected for multiple testing (Bonferroni by default, Holm optional).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from functools import lru_cache
from dataclasses import dataclass
from typing import Literal

import numpy as np

Method = Literal["randomization", "t-test"]
Correction = Literal["bonferroni", "holm", "none"]
METHODS: tuple[str, ...] = ("randomization", "t-test")
CORRECTIONS: tuple[str, ...] = ("bonferroni", "holm", "none")


@dataclass(frozen=True)
class PairedTest:
    """One comparison of configs `a` and `b` over the `n` queries both were evaluated on."""

    a: str
    b: str
    n: int
    mean_a: float
    mean_b: float
    p_value: float
    p_adjusted: float
    significant: bool

    @property
    def diff(self) -> float:
        return self.mean_a - self.mean_b

    @property
    def winner(self) -> str | None:
        """The significantly better config, or None."""
        if not self.significant or self.diff == 0:
            return None
        return self.a if self.diff > 0 else self.b


_CACHED_SIGNS = 4_000_000  # sign matrices up to this many entries (32 MB) are drawn once and reused


@lru_cache(maxsize=4)
def _signs(rows: int, n: int, seed: int) -> np.ndarray:
    """A fixed +/-1 matrix: every test on n queries with the same seed flips the same signs (each test stays exact
    in distribution; a report with hundreds of tests on one task draws its random numbers once)."""
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 2, size=(rows, n), dtype=np.int8) * 2 - 1).astype(np.float64)


def randomization_pvalues(diffs: np.ndarray, n_resamples: int = 10_000, seed: int = 0) -> np.ndarray:
    """Two-sided sign-flip tests of mean == 0 for each column of `diffs` (queries x comparisons), in one matrix
    product; p = (hits + 1) / (R + 1), so it is never exactly 0. A column of zeros (identical systems) gets 1."""
    diffs = np.asarray(diffs, dtype=np.float64).reshape(len(diffs), -1)
    n = diffs.shape[0]
    if n == 0:
        return np.ones(diffs.shape[1])
    observed = np.abs(diffs.mean(axis=0))
    threshold = observed - 1e-12 * np.maximum(1.0, observed)  # exact ties (e.g. one non-zero difference) count
    if n_resamples * n <= _CACHED_SIGNS:
        hits = np.count_nonzero(np.abs(_signs(n_resamples, n, seed) @ diffs) / n >= threshold, axis=0)
    else:
        rng = np.random.default_rng(seed)
        hits, done, chunk = np.zeros(diffs.shape[1], dtype=np.int64), 0, max(1, 2_000_000 // n)
        while done < n_resamples:  # bounded memory on large query sets
            m = min(chunk, n_resamples - done)
            signs = rng.integers(0, 2, size=(m, n), dtype=np.int8) * 2 - 1
            hits += np.count_nonzero(np.abs(signs @ diffs) / n >= threshold, axis=0)
            done += m
    return np.where(np.any(diffs, axis=0), (hits + 1) / (n_resamples + 1), 1.0)


def randomization_pvalue(diffs: np.ndarray, n_resamples: int = 10_000, seed: int = 0) -> float:
    """The sign-flip test for one vector of per-query differences."""
    return float(randomization_pvalues(np.asarray(diffs, dtype=np.float64)[:, None], n_resamples, seed)[0])


def ttest_pvalue(diffs: np.ndarray) -> float:
    """Two-sided paired t-test (scipy); identical differences (zero variance) give 1.0 or 0.0, not NaN."""
    from scipy import stats

    diffs = np.asarray(diffs, dtype=np.float64)
    if diffs.size < 2 or not np.any(diffs):
        return 1.0
    if np.allclose(diffs, diffs[0]):  # a constant non-zero difference: t is infinite
        return 0.0
    return float(stats.ttest_1samp(diffs, 0.0).pvalue)


def paired_pvalue(a: np.ndarray, b: np.ndarray, method: Method = "randomization",
                  n_resamples: int = 10_000, seed: int = 0) -> float:
    diffs = np.asarray(a, dtype=np.float64) - np.asarray(b, dtype=np.float64)
    if method == "randomization":
        return randomization_pvalue(diffs, n_resamples, seed)
    if method == "t-test":
        return ttest_pvalue(diffs)
    raise ValueError(f"unknown test {method!r} (expected one of {', '.join(METHODS)})")


def adjust(pvalues: list[float], correction: Correction = "bonferroni") -> list[float]:
    """Family-wise error correction: Bonferroni (p * m) or Holm's step-down, capped at 1."""
    m = len(pvalues)
    if correction == "none" or m == 0:
        return list(pvalues)
    if correction == "bonferroni":
        return [min(1.0, p * m) for p in pvalues]
    if correction == "holm":
        order = sorted(range(m), key=lambda i: pvalues[i])
        out, running = [0.0] * m, 0.0
        for rank, i in enumerate(order):
            running = max(running, min(1.0, (m - rank) * pvalues[i]))
            out[i] = running
        return out
    raise ValueError(f"unknown correction {correction!r} (expected one of {', '.join(CORRECTIONS)})")


def compare_all(per_query: Mapping[str, Mapping[str, float]], method: Method = "randomization",
                alpha: float = 0.05, correction: Correction = "bonferroni", n_resamples: int = 10_000,
                seed: int = 0) -> list[PairedTest]:
    """Every pair of systems (config -> {query id: score}) on their shared queries, as one corrected family."""
    pairs = []
    for a, b in itertools.combinations(per_query, 2):
        shared = tuple(sorted(set(per_query[a]) & set(per_query[b])))
        if shared:
            va = np.array([per_query[a][q] for q in shared], dtype=np.float64)
            vb = np.array([per_query[b][q] for q in shared], dtype=np.float64)
            pairs.append((a, b, shared, va, vb))
    pvalues: list[float] = [1.0] * len(pairs)
    if method == "randomization":  # pairs over the same queries share one matrix product
        groups: dict[tuple[str, ...], list[int]] = {}
        for i, pair in enumerate(pairs):
            groups.setdefault(pair[2], []).append(i)
        for idx in groups.values():
            diffs = np.stack([pairs[i][3] - pairs[i][4] for i in idx], axis=1)
            for i, p in zip(idx, randomization_pvalues(diffs, n_resamples, seed)):
                pvalues[i] = float(p)
    else:
        pvalues = [paired_pvalue(va, vb, method) for _, _, _, va, vb in pairs]
    adjusted = adjust(pvalues, correction)
    return [PairedTest(a, b, len(va), float(va.mean()), float(vb.mean()), p, padj, padj < alpha)
            for (a, b, _, va, vb), p, padj in zip(pairs, pvalues, adjusted)]


def letters(n: int) -> list[str]:
    """ranx-style system letters: a, b, ..., z, aa, ab, ..."""
    out = []
    for i in range(n):
        s, i = "", i + 1
        while i:
            i, r = divmod(i - 1, 26)
            s = chr(97 + r) + s
        out.append(s)
    return out

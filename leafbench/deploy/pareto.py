"""The Pareto frontier of quality against one cost: the points no other point beats on both.

A point is dominated when another has cost <= and quality >= with at least one strictly better; the frontier is
every point that is not dominated (two identical points are both on it). Sorted by cost, the frontier's quality
rises strictly with cost except between identical points.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TypeVar

T = TypeVar("T")


def dominates(a: tuple[float, float], b: tuple[float, float]) -> bool:
    """(cost, quality) a dominates b: no worse on both, better on one."""
    return a[0] <= b[0] and a[1] >= b[1] and (a[0] < b[0] or a[1] > b[1])


def frontier(points: Sequence[T], cost: Callable[[T], float | None], quality: Callable[[T], float | None]) -> list[T]:
    """The non-dominated points among those with both a cost and a quality, cheapest first.

    One pass over the points sorted by (cost asc, quality desc): a point is on the frontier when its quality beats
    every cheaper point's, or equals the best so far at the same cost and quality (a duplicate).
    """
    scored = [(c, q, p) for p in points if (c := cost(p)) is not None and (q := quality(p)) is not None]
    scored.sort(key=lambda t: (t[0], -t[1]))
    out: list[T] = []
    best: tuple[float, float] | None = None
    for c, q, p in scored:
        if best is None or q > best[1] or (c, q) == best:
            out.append(p)
            best = (c, q)
    return out

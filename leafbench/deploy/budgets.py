"""The best configuration under a budget: the highest quality among points whose costs fit, ties to the cheaper."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class Budget:
    """Upper limits; None means no limit on that cost."""

    max_bytes_per_doc: float | None = None
    max_latency_ms: float | None = None

    @property
    def label(self) -> str:
        parts = []
        if self.max_bytes_per_doc is not None:
            parts.append(f"<= {self.max_bytes_per_doc:g} B/doc")
        if self.max_latency_ms is not None:
            parts.append(f"<= {self.max_latency_ms:g} ms/query")
        return " and ".join(parts) or "no budget"


@dataclass(frozen=True)
class Answer(Generic[T]):
    budget: Budget
    best: T | None  # None: nothing fits
    fitting: int  # how many points fit the budget


def best_under(points: Sequence[T], budget: Budget, quality: Callable[[T], float | None],
               bytes_per_doc: Callable[[T], float | None], latency_ms: Callable[[T], float | None]) -> Answer[T]:
    """Highest quality within the budget; ties go to fewer bytes, then lower latency. A point lacking a cost the
    budget limits does not fit (an unknown latency is not under any latency budget)."""

    def fits(p: T) -> bool:
        if quality(p) is None:
            return False
        for limit, cost in ((budget.max_bytes_per_doc, bytes_per_doc), (budget.max_latency_ms, latency_ms)):
            value = cost(p)
            if limit is not None and (value is None or value > limit):
                return False
        return True

    fitting = [p for p in points if fits(p)]
    inf = float("inf")
    best = max(fitting, key=lambda p: (quality(p), -(bytes_per_doc(p) or inf), -(latency_ms(p) or inf)),
               default=None)
    return Answer(budget, best, len(fitting))

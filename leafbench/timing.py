"""Stage timings: one helper, `timed(name)`, used by every stage and sub-stage, nesting by where it is called.

A command opens a `StageTimer` (`with timer.active():`); inside it every `with timed("grid"):` adds its seconds to
a node under the one it runs in, so `timed("search")` inside `timed("grid")` is `grid/search`, summed over calls.
Outside an active timer `timed` still measures (its `Lap.seconds`, which cell records keep) and records nothing, so
library code times itself the same way whether a run, a test or a benchmark calls it. Encoding passes are counted
per (stage, model, role) with their texts and seconds (`count_encoded`), for texts/s per model and role.
The tree goes into the run manifest (`run.json`) and the one-screen summary a run ends with (leafbench.summary).
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any


@dataclass
class Lap:
    """The seconds one `timed` block took (set when the block ends)."""

    seconds: float = 0.0


@dataclass
class _Node:
    seconds: float = 0.0
    calls: int = 0
    children: dict[str, _Node] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {"seconds": round(self.seconds, 3), "calls": self.calls}
        if self.children:
            out["stages"] = {name: child.as_dict() for name, child in self.children.items()}
        return out


@dataclass
class _Encoded:
    texts: int = 0
    seconds: float = 0.0


class StageTimer:
    """The timings of one command: a tree of named stages and the encoding passes made under them."""

    def __init__(self) -> None:
        self.root = _Node()
        self.encoded: dict[tuple[str, str, str], _Encoded] = {}
        self._start = time.perf_counter()

    @contextlib.contextmanager
    def active(self) -> Iterator[StageTimer]:
        """Make this the timer `timed` and `count_encoded` record into (in this thread/context)."""
        token = _current.set((self, self.root, ""))
        try:
            yield self
        finally:
            _current.reset(token)

    @property
    def total_seconds(self) -> float:
        return time.perf_counter() - self._start

    def as_dict(self) -> dict[str, Any]:
        """What `run.json` keeps: wall time so far, the stage tree, and each encoding pass with its rate."""
        return {"total_s": round(self.total_seconds, 3),
                "stages": {name: node.as_dict() for name, node in self.root.children.items()},
                "encoded": [{"stage": stage, "model": model, "role": role, "texts": e.texts,
                             "seconds": round(e.seconds, 3),
                             "texts_per_s": round(e.texts / e.seconds, 2) if e.seconds > 0 else None}
                            for (stage, model, role), e in self.encoded.items()]}


_current: ContextVar[tuple[StageTimer, _Node, str] | None] = ContextVar("leafbench_stage", default=None)


@contextlib.contextmanager
def timed(name: str) -> Iterator[Lap]:
    """Time a block as stage `name` under the enclosing one (see the module doc); yields its `Lap`."""
    lap = Lap()
    here = _current.get()
    token = None
    if here is not None:
        timer, parent, path = here
        node = parent.children.setdefault(name, _Node())
        token = _current.set((timer, node, f"{path}/{name}" if path else name))
    start = time.perf_counter()
    try:
        yield lap
    finally:
        lap.seconds = time.perf_counter() - start
        if token is not None:
            node.seconds += lap.seconds
            node.calls += 1
            _current.reset(token)


def count_encoded(model: str, role: str, texts: int, seconds: float) -> None:
    """Record an encoding pass of `texts` texts by `model` in `role` under the current stage (if a timer is on)."""
    here = _current.get()
    if here is not None:
        timer, _, path = here
        entry = timer.encoded.setdefault((path or "-", model, role), _Encoded())
        entry.texts += texts
        entry.seconds += seconds

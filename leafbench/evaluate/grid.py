"""The resumable grid core shared by the retrieval grid and the MTEB stage: a plan of cells, reuse-or-compute, counts.

A grid evaluator plans a task's cells (config x dim x precision, each with its identity and path) without loading
data or models: identities come from cached fingerprints and data stamps (leafbench.identity). A cell whose record
on disk carries the same `cell_hash` is reused; only when some cell of the task is missing is the task opened
(data loaded, mteb's discovery run) and each config with a missing cell prepared (embeddings read or encoded), then
the missing cells are computed and written atomically one by one, so a crash loses at most the cell in progress.
Every cell, reused or computed, goes into the run manifest.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ContextManager, Generic, TypeVar

from leafbench.identity import cell_hash
from leafbench.progress import progress_bar
from leafbench.records import MtebCell, RetrievalCell, read_record
from leafbench.results import RunLog, write_json_atomic

Rec = TypeVar("Rec", RetrievalCell, MtebCell)
T = TypeVar("T")


@dataclass(frozen=True)
class PlannedCell:
    """One cell of the plan: its place in the grid, its record's path, and what determines its numbers."""

    config: str
    dim: int
    precision: str
    path: Path
    identity: dict[str, Any]
    embeddings: dict[str, str] = field(default_factory=dict)

    @property
    def cell_hash(self) -> str:
        return cell_hash(self.identity)


@dataclass(frozen=True)
class Group:
    """The cells of one config on one task: prepared (embeddings loaded) together when any of them is missing."""

    config: str
    cells: list[PlannedCell]
    label: str | None = None  # a progress bar over the group's cells while computing, when set


CellFn = Callable[[PlannedCell], dict[str, Any]]  # a cell's record fields, identity/hash/embeddings excepted


class GridCore(Generic[Rec]):
    """Reuse-or-compute over planned cells; `computed`/`reused` count cells across every task run through it."""

    def __init__(self, kind: str, model: type[Rec], log: RunLog | None = None, force: bool = False,
                 valid: Callable[[Rec], bool] = lambda rec: True):
        self.kind, self.model, self.log, self.force, self.valid = kind, model, log, force, valid
        self.computed = 0
        self.reused = 0

    def finished(self, cell: PlannedCell) -> Rec | None:
        """The cell's record when it is readable, of the current schema, of the same identity and still valid."""
        if self.force:
            return None
        rec = read_record(cell.path, self.model)
        return rec if rec is not None and rec.cell_hash == cell.cell_hash and self.valid(rec) else None

    def run(self, groups: list[Group], open_task: Callable[[], ContextManager[T]],
            prepare: Callable[[T, Group], CellFn]) -> Iterator[Rec]:
        """Yield every planned cell's record in plan order; open the task only if some cell is missing."""
        found = [[self.finished(c) for c in g.cells] for g in groups]
        if all(r is not None for recs in found for r in recs):
            for group, recs in zip(groups, found):
                for cell, rec in zip(group.cells, recs):
                    yield self._reuse(cell, rec)  # type: ignore[arg-type]
            return
        with open_task() as task:
            for group, recs in zip(groups, found):
                if all(r is not None for r in recs):
                    for cell, rec in zip(group.cells, recs):
                        yield self._reuse(cell, rec)  # type: ignore[arg-type]
                    continue
                evaluate = prepare(task, group)
                bar = progress_bar(group.label, len(group.cells), unit="cells") if group.label else \
                    contextlib.nullcontext(lambda n: None)
                with bar as advance:
                    for cell, rec in zip(group.cells, recs):
                        yield self._reuse(cell, rec) if rec is not None else self._compute(cell, evaluate)
                        advance(1)

    def _reuse(self, cell: PlannedCell, rec: Rec) -> Rec:
        self.reused += 1
        if self.log is not None:
            self.log.add(self.kind, rec, cell.path)
        return rec

    def _compute(self, cell: PlannedCell, evaluate: CellFn) -> Rec:
        fields = evaluate(cell)
        rec = self.model.model_validate({**fields, "identity": cell.identity, "cell_hash": cell.cell_hash,
                                         "embeddings": cell.embeddings})
        write_json_atomic(cell.path, rec.to_json())
        self.computed += 1
        if self.log is not None:
            self.log.add(self.kind, rec, cell.path)
        return rec


class CountedGrid:
    """What a grid evaluator reports to the runner: how many cells its core computed and reused."""

    core: GridCore[Any]

    @property
    def computed(self) -> int:
        return self.core.computed

    @property
    def reused(self) -> int:
        return self.core.reused


class SuiteModels:
    """The suite's models as identities see them: facts from the fingerprint cache, a model loaded only on a miss
    (first run, or its files changed), `auto` dtype resolved for the service's device. Memoised per grid."""

    def __init__(self, service: Any):
        self.service = service
        self._resolved: dict[str, Any] = {}

    def __call__(self, name: str) -> Any:
        from leafbench.identity import ResolvedModel, model_facts, resolved_dtype

        if name not in self._resolved:
            spec = self.service.models[name]
            facts = model_facts(spec, lambda: self.service.encoder(name).facts)
            self._resolved[name] = ResolvedModel(name, spec, facts, resolved_dtype(spec.dtype, self.service.device))
        return self._resolved[name]

    def record(self, name: str) -> dict[str, Any]:
        """A model as cell records store it: the suite's settings, resolved dtype and prompts, weights fingerprint."""
        m = self(name)
        return {"name": name, **m.spec.model_dump(), "dtype": m.dtype, "fingerprint": m.facts.fingerprint,
                "prompts": {"query": m.prompt("query"), "document": m.prompt("document")}}

"""`leafbench run`: every stage of a suite, in order, into its results folder."""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from leafbench.config import Suite
from leafbench.embed import EmbeddingService
from leafbench.errors import UserError
from leafbench.evaluate.retrieval import RetrievalGrid, check_config_dims
from leafbench.progress import stderr


@dataclass
class RunOutcome:
    results_dir: Path
    records: list[dict[str, Any]] = field(default_factory=list)
    computed: int = 0
    reused: int = 0
    encoded_texts: int = 0
    seconds: float = 0.0
    distill: dict[str, Any] | None = None  # the distill stage's record (leafbench.distill.stage)
    throughput: Any = None  # leafbench.throughput.ThroughputOutcome when the suite has a throughput section
    mteb_records: list[dict[str, Any]] = field(default_factory=list)  # leafbench.mteb/1 cell records
    mteb_leaderboard: Path | None = None


def run_suite(suite: Suite, force: bool = False, only: list[str] | None = None) -> RunOutcome:
    """Run the suite's retrieval grid; `only` restricts it to the named tasks."""
    start = time.perf_counter()
    service = EmbeddingService(suite.models, device=suite.device, executor=suite.executor)
    mteb_grid = None
    if suite.mteb is not None:  # resolved up front: a misspelt MTEB task fails before any encoding
        from leafbench.evaluate.mteb import MtebGrid

        mteb_grid = MtebGrid(suite, service, suite.results_dir, force=force)
    tasks = suite.tasks
    if only:
        known = {t.task_name for t in tasks} | {t.metadata.name for t in (mteb_grid.tasks if mteb_grid else [])}
        unknown = [o for o in only if o not in known]
        if unknown:
            raise UserError(f"--only {', '.join(unknown)}: no such task in suite '{suite.name}' "
                            f"(tasks: {', '.join(sorted(known)) or 'none'})")
        tasks = [t for t in tasks if t.task_name in only]
    outcome = RunOutcome(results_dir=suite.results_dir)
    if tasks:
        check_config_dims(suite, service)
    if suite.distill is not None:  # first stage: the grid then evaluates the students it exports
        from leafbench.distill.stage import run_distill

        stderr.log("distill")
        outcome.distill = run_distill(suite, service)
    grid = RetrievalGrid(suite, service, suite.results_dir, force=force)
    for task in tasks:
        stderr.log(f"task {task.task_name}")
        outcome.records.extend(grid.run(task))
    outcome.computed, outcome.reused = grid.computed, grid.reused
    if mteb_grid is not None:  # after the retrieval grid, on the same service: shared texts are not re-encoded
        for mtask in mteb_grid.tasks:
            if not only or mtask.metadata.name in only:
                stderr.log(f"mteb task {mtask.metadata.name}")
                outcome.mteb_records.extend(mteb_grid.run(mtask))
        outcome.mteb_leaderboard = mteb_grid.write_leaderboard(outcome.mteb_records)
        outcome.computed += mteb_grid.computed
        outcome.reused += mteb_grid.reused
    if outcome.distill is not None:  # the evaluation table goes into the distilled models' cards
        from leafbench.distill.stage import finalize_distill

        finalize_distill(suite, outcome.records)
    outcome.encoded_texts = service.store.encoded_texts
    if suite.throughput is not None:  # last stage, after every evaluation stage: speed of the loaded models
        from leafbench.throughput import run_throughput

        stderr.log("throughput")
        outcome.throughput = run_throughput(suite, force=force, service=service)
    outcome.seconds = time.perf_counter() - start
    return outcome

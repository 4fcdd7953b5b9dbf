"""`leafbench run`: every stage of a suite, in order, into its results folder (held under a lock), recording the
run's cells in the folder's manifest (`run.json`) as they finish, with each stage's time (leafbench.timing)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from leafbench.config import Suite
from leafbench.distill.record import DistillRecord
from leafbench.embed import EmbeddingService
from leafbench.errors import UserError
from leafbench.evaluate.retrieval import RetrievalGrid, check_config_dims
from leafbench.hardware import run_machine
from leafbench.progress import stderr
from leafbench.records import ManifestCell, MtebCell, RetrievalCell
from leafbench.results import RunLog, recorded_run
from leafbench.timing import timed


@dataclass
class RunOutcome:
    results_dir: Path
    records: list[RetrievalCell] = field(default_factory=list)
    computed: int = 0
    reused: int = 0
    encoded_texts: int = 0
    seconds: float = 0.0
    distills: list[DistillRecord] = field(default_factory=list)  # each distill stage's record, in run order
    throughput: Any = None  # leafbench.throughput.ThroughputOutcome when the suite has a throughput section
    mteb_records: list[MtebCell] = field(default_factory=list)
    mteb_leaderboard: Path | None = None
    timings: dict[str, Any] = field(default_factory=dict)  # leafbench.timing.StageTimer.as_dict(), as in run.json
    machine: dict[str, Any] = field(default_factory=dict)  # leafbench.hardware.run_machine(), as in run.json


def run_suite(suite: Suite, force: bool = False, only: list[str] | None = None,
              report: Callable[[RunOutcome], None] | None = None) -> RunOutcome:
    """Run the suite's stages, then `report` (timed as the last stage); `only` restricts them to the named tasks.
    A second writing command on the same results folder stops at once with a UserError naming the lock file."""

    def carried(cell: ManifestCell) -> bool:  # --only: the suite's other tasks stay in the latest run
        return bool(only) and cell.task not in only

    with recorded_run(suite.results_dir, suite.name, "run", carried, machine=run_machine(suite.device)) as log:
        outcome = _run(suite, force, only, log)
        log.flush()  # the report selects the latest run's cells by run.json
        if report is not None:
            with timed("report"):
                report(outcome)
    assert log.timer is not None
    outcome.timings, outcome.machine = log.timer.as_dict(), log.manifest.machine
    outcome.seconds = log.timer.total_seconds
    return outcome


def _run(suite: Suite, force: bool, only: list[str] | None, log: RunLog) -> RunOutcome:
    service = EmbeddingService(suite.models, device=suite.device, executor=suite.executor)
    mteb_tasks: list[Any] = []
    if suite.mteb is not None:  # resolved up front: a misspelt MTEB task fails before any encoding
        from leafbench.evaluate.mteb.tasks import resolve_tasks

        mteb_tasks = resolve_tasks(suite.mteb.tasks, suite.mteb.benchmarks)
    tasks = suite.tasks
    if only:
        known = {t.task_name for t in tasks} | {t.metadata.name for t in mteb_tasks}
        unknown = [o for o in only if o not in known]
        if unknown:
            raise UserError(f"--only {', '.join(unknown)}: no such task in suite '{suite.name}' "
                            f"(tasks: {', '.join(sorted(known)) or 'none'})")
        tasks = [t for t in tasks if t.task_name in only]
        mteb_tasks = [t for t in mteb_tasks if t.metadata.name in only]
    outcome = RunOutcome(results_dir=suite.results_dir)
    if tasks:
        check_config_dims(suite, service)
    for stage in suite.distill_stages():  # first stage: the grid then evaluates the students they export
        stderr.log(f"distill {', '.join(stage.distill_spec.output_names())}")
        outcome.distills.append(distill_stage(stage, service, log))
    grid = RetrievalGrid(suite, service, suite.results_dir, force=force, log=log)
    with timed("grid"):
        for task in tasks:
            stderr.log(f"task {task.task_name}")
            outcome.records.extend(grid.run(task))
    outcome.computed, outcome.reused = grid.computed, grid.reused
    if suite.mteb is not None:  # after the retrieval grid, on the same service: shared texts are not re-encoded
        from leafbench.evaluate.mteb.grid import MtebGrid

        with timed("mteb"):
            mteb_grid = MtebGrid(suite, service, suite.results_dir, force=force, log=log)
            for mtask in mteb_tasks:
                stderr.log(f"mteb task {mtask.metadata.name}")
                outcome.mteb_records.extend(mteb_grid.run(mtask))
            outcome.mteb_leaderboard = mteb_grid.write_leaderboard(outcome.mteb_records)
        outcome.computed += mteb_grid.computed
        outcome.reused += mteb_grid.reused
    if outcome.distills:  # the evaluation table goes into the distilled models' cards
        from leafbench.distill.stage import finalize_distill

        with timed("distill cards"):
            for stage in suite.distill_stages():
                finalize_distill(stage, outcome.records)
    if suite.throughput is not None:  # last stage, after every evaluation stage: speed of the loaded models
        stderr.log("throughput")
        outcome.throughput = throughput_stage(suite, force, service, log)
    outcome.encoded_texts = service.store.encoded_texts
    return outcome


def distill_stage(suite: Suite, service: EmbeddingService, log: RunLog, restart: bool = False,
                  force: bool = False) -> DistillRecord:
    """One distill stage (`suite` is its view: Suite.distill_stages), timed, with its record listed in the run
    manifest (`leafbench run` and `distill`)."""
    from leafbench.distill.stage import RECORD, run_distill

    with timed("distill"):
        rec = run_distill(suite, service, restart=restart, force=force)
    if (suite.distill_run_dir / RECORD).is_file():
        log.add_file(suite.distill_run_dir / RECORD)
    return rec


def throughput_stage(suite: Suite, force: bool, service: EmbeddingService | None, log: RunLog) -> Any:
    """The throughput stage, timed, with its records listed in the run manifest (`leafbench run` and
    `throughput`); returns its ThroughputOutcome."""
    from leafbench.throughput import run_throughput

    with timed("throughput"):
        outcome = run_throughput(suite, force=force, service=service)
    for path in outcome.paths:
        log.add_file(path)
    return outcome


def carry_all(cell: ManifestCell) -> bool:
    """A command that revisits no grid cell (`distill`, `throughput` alone) keeps the latest run's cells listed."""
    return True

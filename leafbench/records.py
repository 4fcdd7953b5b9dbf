"""Typed records: what `leafbench run` writes for each grid cell and for each run, validated on write and on read.

Every record has a `schema` (name/version): a reader accepts the version it knows and skips the rest, so a results
folder from another leafbench version never feeds a table half-understood fields. Nested provenance (model
settings, environment, the resolved suite) stays free-form: it is shown and compared, never computed with.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Literal, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

RETRIEVAL_SCHEMA = "leafbench.retrieval/2"
MTEB_SCHEMA = "leafbench.mteb/2"
RUN_SCHEMA = "leafbench.run/1"
RUN_MANIFEST = "run.json"


class _Record(BaseModel):
    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    def to_json(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)


class _Cell(_Record):
    """Fields every grid cell has: where it sits in the grid, what made it (identity), which embeddings it read."""

    suite: str
    task: str
    config: str
    mode: Literal["standard", "asymmetric"]
    dim: int
    full_dim: int
    precision: str
    variant: str
    identity: dict[str, Any]  # everything that determines the numbers (leafbench.identity)
    cell_hash: str  # hash of `identity`: a re-run reuses the cell only while it is unchanged
    embeddings: dict[str, str]  # side -> embedding store namespace id (what `cache gc` must keep)
    query_model: dict[str, Any]
    document_model: dict[str, Any]
    timings: dict[str, float]
    environment: dict[str, Any]
    created: str


class RetrievalCell(_Cell):
    """One task x config x dim x precision of the retrieval grid: pytrec_eval scores, per-query scores kept for
    significance tests, and alignment to the teacher for asymmetric configs."""

    record_schema: Literal["leafbench.retrieval/2"] = Field(RETRIEVAL_SCHEMA, alias="schema")
    scores: dict[str, float]
    per_query: dict[str, dict[str, float]]
    alignment: dict[str, float] | None = None
    search: dict[str, Any] | None = None  # backend identity + its stats (build/search time, index bytes, recall)
    task_spec: dict[str, Any]
    task_size: dict[str, int]
    similarity: str
    k_values: list[int]
    ignore_identical_ids: bool
    rescore: int
    suite_resolved: dict[str, Any]


class MtebCell(_Cell):
    """One task x config x dim x precision of the MTEB stage; mteb's own result file sits at `mteb_file`."""

    record_schema: Literal["leafbench.mteb/2"] = Field(MTEB_SCHEMA, alias="schema")
    task_type: str
    main_score_name: str
    main_score: float
    mteb_file: str  # relative to <results>/<suite>/mteb/
    calibration: str | None = None
    symmetric_side: str
    symmetric_model: dict[str, Any]
    model_name: str
    revision: str
    experiment: str | None = None
    experiment_kwargs: dict[str, Any] | None = None
    dataset_revision: str | None = None
    eval_splits: list[str]
    subtasks: list[str] | None = None  # an aggregate task: the sub-tasks it combines


class ManifestCell(_Record):
    kind: Literal["retrieval", "mteb"]
    task: str
    config: str
    dim: int
    precision: str
    path: str  # relative to the suite's results folder
    cell_hash: str


class RunManifest(_Record):
    """`<results>/<suite>/run.json`: the cells of the latest run, so a report shows one run, not every file ever
    written. Rewritten as cells finish: after a crash it lists what that run had finished."""

    record_schema: Literal["leafbench.run/1"] = Field(RUN_SCHEMA, alias="schema")
    suite: str
    command: Literal["run", "distill", "throughput"] = "run"  # the command that wrote it
    status: Literal["running", "complete"]
    started: str
    updated: str
    cells: list[ManifestCell] = Field(default_factory=list)
    files: list[str] = Field(default_factory=list)  # other records of the run (the distill record), relative
    timings: dict[str, Any] = Field(default_factory=dict)  # leafbench.timing.StageTimer.as_dict(): stages, encodes
    machine: dict[str, Any] = Field(default_factory=dict)  # leafbench.hardware.run_machine(): where they were timed


def read_json(path: Path) -> dict[str, Any] | None:
    """A record, or None when missing or unreadable (an unreadable cell is simply recomputed)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


R = TypeVar("R", bound=_Record)


def parse_record(obj: Any, model: type[R]) -> R | None:
    """`obj` as a `model` record, or None when it is another schema, another version or malformed."""
    try:
        return model.model_validate(obj)
    except ValidationError:
        return None


def read_record(path: Path, model: type[R]) -> R | None:
    return parse_record(read_json(path), model)

"""The distill record (`distill.json` of a run folder): a typed, versioned schema shared by the writer (the distill
stage), the model cards and the report, so a field renamed on one side fails loudly instead of reading as missing.

Torch-free: the report imports it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

SCHEMA = "leafbench.distill/2"


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CurvePoint(_Model):
    """One task at one validation: student queries against the teacher's documents (float32, full dim)."""

    ndcg10: float
    teacher_ndcg10: float  # teacher queries against the same documents
    query_cosine: float  # mean cosine between the student's and the teacher's embedding of each query
    top10_overlap: float  # share of the teacher's top-10 documents in the student's top-10
    off_domain: bool  # a task kept out of every training mix

    @property
    def share(self) -> float | None:
        """nDCG@10 as a share of the teacher's."""
        return self.ndcg10 / self.teacher_ndcg10 if self.teacher_ndcg10 else None


class Validation(_Model):
    """Held-out alignment at one step (step 0: the ridge-projected init, before any training step)."""

    step: int
    samples_seen: int
    epoch: float
    val_mse: float
    val_cosine: float
    val_cosine_queries: float | None = None
    val_cosine_documents: float | None = None
    train_loss: float | None = None
    lr: float
    curve: dict[str, CurvePoint] = Field(default_factory=dict)

    def mean(self, key: str, off_domain: bool) -> float | None:
        """Mean of a curve figure (`ndcg10`, `query_cosine`, `top10_overlap`, `share`) over in- or off-domain tasks."""
        values = [getattr(p, key) for p in self.curve.values() if p.off_domain == off_domain]
        values = [v for v in values if v is not None]
        return sum(values) / len(values) if values else None

    def worst_share(self, off_domain: bool) -> float | None:
        """The lowest share of the teacher's nDCG@10 over in- or off-domain tasks: alignment differs by query shape,
        and a mean over yardsticks hides the shape it fails on."""
        shares = [p.share for p in self.curve.values() if p.off_domain == off_domain and p.share is not None]
        return min(shares) if shares else None


class Teacher(_Model):
    name: str | None
    id: str
    dim: int
    prompts: dict[str, str]
    black_box: bool
    normalized: bool


class StaticFacts(_Model):
    """How the static student's token vectors were made, and what that cost."""

    vocabulary: int  # rows of the token table
    pca_dims: int | None
    sif_coefficient: float | None
    computed_tokens: int  # run through the model in this run (the rest came from the embedding store)
    seconds: float


class StudentInit(_Model):
    name: str
    id: str
    dim: int
    native_max_seq_length: int | None  # None: a static student (no token cap)
    architecture: str  # leaf: pooling -> linear -> normalise; init-normalize: the init's Normalize kept; static
    layers: list[int] | None = None  # the init's transformer layers kept (distill.student_layers), None: all
    family: str = "transformer"  # distill.student_family
    static: StaticFacts | None = None  # the static family's token vectors


class Training(_Model):
    steps: int
    epochs: int
    batch_size: int
    grad_accum: int
    lr: float
    bf16: bool
    max_seq_length: int | None  # None: a static student reads every token
    query_max_seq_length: int | None
    loss: str
    rank_weight: float
    rank_mined: int = 0  # mined neighbours per text in the ranking term's bank
    matryoshka_dims: list[int] = []  # prefixes the loss also covered (none before distill/2's option)
    frozen_embedding_weights: int
    samples: int
    train_seconds: float
    samples_per_second: float
    final_train_loss: float | None
    device: str
    resumed_from: str | None


class EvaluationRow(_Model):
    """A grid cell of a distilled student (full dim, float32), copied into the record after the grid ran."""

    task: str
    config: str
    mode: str
    query_model: str
    document_model: str
    ndcg10: float


class DistillRecord(_Model):
    schema_: Literal["leafbench.distill/2"] = Field(default=SCHEMA, alias="schema")
    suite: str
    run_dir: str
    created: str
    teacher: Teacher
    student_init: StudentInit
    data: dict[str, Any]  # the text set's statistics (sources, counts, exclusions, digest)
    training: Training
    projection_only: Validation
    final: Validation
    history: list[Validation]
    outputs: dict[str, str | None]  # projection / finetuned / asymmetric -> exported folder
    timings: dict[str, float]
    spec: dict[str, Any]
    environment: dict[str, Any]
    evaluation: list[EvaluationRow] = Field(default_factory=list)
    # what the weights were trained from, by content (leafbench.distill.inputs.run_inputs); {} in older records
    inputs: dict[str, Any] = Field(default_factory=dict)

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    def dump(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)

    def curve_tasks(self, off_domain: bool | None = None) -> list[str]:
        """Tasks of the learning curve (in-domain first), or only the in- or off-domain ones."""
        found = {name: p.off_domain for ev in self.history for name, p in ev.curve.items()}
        return sorted((n for n, off in found.items() if off_domain is None or off == off_domain),
                      key=lambda n: (found[n], n))


def parse_record(raw: Any) -> DistillRecord | None:
    """A record of this schema version, or None (another version, a foreign or damaged file). Keys starting with
    '_' are the reader's annotations (e.g. `_path`), not part of the record."""
    if not isinstance(raw, dict) or raw.get("schema") != SCHEMA:
        return None
    try:
        return DistillRecord.model_validate({k: v for k, v in raw.items() if not k.startswith("_")})
    except ValidationError:
        return None


def read_record(path: Path) -> DistillRecord | None:
    from leafbench.results import read_json

    return parse_record(read_json(path))

"""The distill record (`distill.json` of a run folder): a typed, versioned schema shared by the writer (the distill
stage), the model cards and the report, so a field renamed on one side fails loudly instead of reading as missing.

Torch-free: the report imports it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

if TYPE_CHECKING:
    from leafbench.config import Suite
    from leafbench.distill.data import TextSet
    from leafbench.distill.static import StaticVectorsResult
    from leafbench.distill.trainer import LeafTrainer, TrainState
    from leafbench.distill_spec import DistillSpec
    from leafbench.embed import EmbeddingService

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


def build_record(suite: Suite, spec: DistillSpec, texts: TextSet, teacher_dim: int, teacher_normalized: bool,
                 state: TrainState, outputs: dict[str, Any], prompts: dict[str, str], service: EmbeddingService,
                 native_cap: int | None, trainer: LeafTrainer, layers: list[int] | None, inputs: dict[str, Any],
                 static: StaticVectorsResult | None, resumed: str | None, timings: dict[str, float]) -> DistillRecord:
    """The record of a finished training run, from the stage's pieces (its texts, training state, exports)."""
    from leafbench.results import environment, now

    cfg = spec.training
    teacher_id = suite.models[spec.teacher].id if spec.teacher else "black box (precomputed embeddings)"
    return DistillRecord.model_validate({
        "schema": SCHEMA, "suite": suite.name, "run_dir": str(suite.distill_run_dir), "created": now(),
        "teacher": {"name": spec.teacher, "id": teacher_id, "dim": teacher_dim,
                    "prompts": {k: v for k, v in prompts.items() if v}, "black_box": spec.teacher is None,
                    "normalized": teacher_normalized},
        "student_init": {"name": spec.student, "id": suite.models[spec.student].id,
                         "dim": static.dim if static else int(service.encoder(spec.student).dim),
                         "native_max_seq_length": native_cap,
                         "architecture": "static" if static else cfg.architecture, "layers": layers,
                         "family": spec.student_family,
                         "static": {"vocabulary": static.vocabulary, "pca_dims": spec.static.pca_dims,
                                    "sif_coefficient": spec.static.sif_coefficient,
                                    "computed_tokens": static.computed_tokens,
                                    "seconds": round(static.seconds, 2)} if static else None},
        "data": texts.stats,
        "training": {"steps": state.step, "epochs": cfg.epochs, "batch_size": cfg.batch_size,
                     "grad_accum": cfg.grad_accum, "lr": cfg.lr, "bf16": trainer.bf16,
                     "max_seq_length": trainer.caps["document"], "query_max_seq_length": trainer.caps["query"],
                     "loss": cfg.loss, "rank_weight": cfg.rank_weight, "rank_mined": cfg.rank_mined,
                     "matryoshka_dims": cfg.matryoshka_dims, "frozen_embedding_weights": trainer.frozen,
                     "samples": state.samples, "train_seconds": round(state.train_seconds, 2),
                     "samples_per_second": round(state.samples / max(state.train_seconds, 1e-9), 2),
                     "final_train_loss": state.last_loss, "device": trainer.device, "resumed_from": resumed},
        "projection_only": state.history[0], "final": state.history[-1], "history": state.history,
        "outputs": outputs, "timings": {k: round(v, 2) for k, v in timings.items()},
        "spec": spec.model_dump(mode="json"), "environment": environment(), "inputs": inputs,
    })


def _field(record: Any, key: str) -> Any:
    """A grid record's field, whether the grid hands back dicts or typed records."""
    return record.get(key) if isinstance(record, dict) else getattr(record, key, None)


def evaluation_rows(records: list[Any]) -> list[EvaluationRow]:
    """The full-dim float32 cells of a grid run (dicts or typed records), as the record's evaluation table."""
    rows = []
    for r in records:
        if _field(r, "precision") != "float32" or _field(r, "dim") != _field(r, "full_dim"):
            continue
        side = {k: _field(r, k) for k in ("query_model", "document_model")}
        name = {k: v.get("name") if isinstance(v, dict) else getattr(v, "name", None) for k, v in side.items()}
        rows.append(EvaluationRow(task=_field(r, "task"), config=_field(r, "config"), mode=_field(r, "mode"),
                                  query_model=name["query_model"], document_model=name["document_model"],
                                  ndcg10=float(_field(r, "scores")["NDCG@10"])))
    return rows

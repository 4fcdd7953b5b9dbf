"""The throughput record as a typed model: what the stage writes, and what the report and `leafbench deploy` read.

One record per model and setup, at `<results_dir>/throughput/<model>-<backend>-<dtype>-<device>.json`, schema
`leafbench.throughput/1` (the version is the `schema` string; a reader rejects a record of another version rather
than guessing at its fields). Figures (docs/s ...) are `Spread`s over trials; latencies are percentiles of batch-1
query encodings. Fields a reader does not know are ignored, so a newer writer's extras never break an older report.

Ratios (`ratios.json`, schema `leafbench.throughput-ratios/1`) read "times better than the teacher": params is
teacher/model, rates model/teacher, latencies teacher/model; a rate ratio is {median, low, high, paired} (see
`leafbench.throughput.compare`).
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

SCHEMA = "leafbench.throughput/1"
RATIOS_SCHEMA = "leafbench.throughput-ratios/1"


class _Record(BaseModel):
    model_config = ConfigDict(extra="ignore", protected_namespaces=())


class Spread(_Record):
    """Median and spread of a per-trial figure, with the trials themselves (each a full pass over the texts)."""

    median: float
    min: float
    max: float
    q1: float
    q3: float
    iqr: float
    trials: list[float]


class Latency(_Record):
    """Milliseconds per batch-1 query encoding (one query per `Encoder.encode` call)."""

    p50: float
    p95: float
    p99: float
    mean: float | None = None
    min: float | None = None
    max: float | None = None
    n: int
    batch_size: Literal[1] = 1
    calls_per_trial: int = 1  # consecutive calls averaged per trial (fast models: see measure.LATENCY_TRIAL_S)


class RateFigures(_Record):
    texts_per_s: Spread
    tokens_per_s: Spread
    peak_fraction: Spread | None = None


class RoleFigures(_Record):
    """The real texts of one role (documents or queries) and their rates at every measured batch size."""

    texts: int
    sources: list[str]
    tokens_mean: float
    tokens_max: int
    padding_ratio: float
    flops_per_text: int | None = None
    by_batch_size: dict[str, RateFigures]


class ModelInfo(_Record):
    name: str
    id: str
    fingerprint: str | None = None
    max_seq_length: int | None = None
    query_prompt: str | None = None
    document_prompt: str | None = None


class ThroughputRecord(_Record):
    """One model on one (backend, dtype, device): the stage's output, read back by the report and deploy."""

    schema_: Literal["leafbench.throughput/1"] = Field(SCHEMA, alias="schema")
    suite: str | None = None
    created: str | None = None
    measure_hash: str | None = None  # a re-run reuses a record whose hash is unchanged
    environment: dict[str, Any] | None = None
    settings: dict[str, Any] | None = None  # the suite's throughput section as measured
    model: ModelInfo
    n_parameters: int | None = None
    n_embedding_parameters: int | None = None  # token tables (mteb's ModelMeta field)
    n_active_parameters: int | None = None  # n_parameters - n_embedding_parameters (mteb's n_active_parameters)
    embedding_dim: int | None = None
    backend: str = "torch"  # "torch" | "onnx"
    dtype: str | None = None  # "fp32" | "bf16"
    device: str = "cpu"
    device_name: str | None = None
    device_info: dict[str, Any] | None = None
    load_average: dict[str, list[float] | None] | None = None  # {before, after}: 1/5/15-minute load
    batch_size: int
    batch_sizes: list[int] | None = None
    docs_per_s: Spread | None = None  # at batch_size
    queries_per_s: Spread | None = None
    doc_tokens_per_s: Spread | None = None
    query_tokens_per_s: Spread | None = None
    latency_ms: Latency | None = None
    documents: RoleFigures | None = None
    queries: RoleFigures | None = None
    run_id: str | None = None  # records of one interleaved measurement share it (paired ratios)
    interleaved_with: list[str] = Field(default_factory=list)
    synthetic: list[dict[str, Any]] = Field(default_factory=list)  # {tokens, ...rates} or {tokens, skipped}
    flops: dict[str, Any] | None = None  # the FLOP model, or None for an architecture it cannot estimate
    matmul_peak: dict[str, Any] | None = None

    def dump(self) -> dict[str, Any]:
        """The JSON form written to disk (field `schema` under its own name)."""
        return self.model_dump(mode="json", by_alias=True)

    @property
    def setup(self) -> tuple[str, str, str]:
        return (self.device, self.backend, self.dtype or "")


class RateRatio(_Record):
    median: float
    low: float
    high: float
    paired: bool


class Comparison(_Record):
    model: str
    teacher: str
    device: str
    device_name: str | None = None
    backend: str
    dtype: str | None = None
    teacher_dtype: str | None = None  # differs from dtype when the suite runs the model in its own dtype
    batch_size: int
    teacher_batch_size: int
    params: float | None = None
    docs_per_s: RateRatio | None = None
    queries_per_s: RateRatio | None = None
    doc_tokens_per_s: RateRatio | None = None
    latency_p50: float | None = None
    latency_p95: float | None = None


class RatiosRecord(_Record):
    schema_: Literal["leafbench.throughput-ratios/1"] = Field(RATIOS_SCHEMA, alias="schema")
    teacher: str | None
    created: str | None = None
    comparisons: list[Comparison]

    def dump(self) -> dict[str, Any]:
        return self.model_dump(mode="json", by_alias=True)

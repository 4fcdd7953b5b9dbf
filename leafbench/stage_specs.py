"""The suite's sections for the stages after the retrieval grid (`mteb:`, `throughput:`) and the grid's axis
types they share with it, apart from config.py so that the suite model stays one screenful of its own checks."""

from __future__ import annotations

from typing import Annotated, Any, Literal, Union

from pydantic import Field, field_validator, model_validator

from leafbench.strict import Strict

Precision = Literal["float32", "int8", "int8-affine", "binary"]
Dim = Union[int, Literal["full"]]


class MtebTaskSpec(Strict):
    """An MTEB task by name; the size fields apply to leafbench's offline MTEB tasks (`leafbench mteb-tasks`)."""

    name: str
    max_docs: int | None = Field(default=None, gt=0)  # offline tasks: deterministic subset of the documents
    max_queries: int | None = Field(default=None, gt=0)  # offline retrieval tasks: subset of the queries
    seed: int = 0


class MtebSpec(Strict):
    """The MTEB stage, run after the retrieval grid: mteb tasks and benchmarks for every config.

    `dims`/`precisions` default to the suite's. Tasks without query/document roles (STS, classification,
    clustering, ...) are embedded by one side of each config: `symmetric_side` (recorded in every result).
    """

    tasks: list[MtebTaskSpec] = Field(default_factory=list)  # each a name, or {name: ..., max_docs: ...}
    benchmarks: list[str] = Field(default_factory=list)
    symmetric_side: Literal["query", "document"] = "query"
    configs: list[str] | None = None  # the suite's configs to run (default: all)
    dims: list[Dim] | None = None
    precisions: list[Precision] | None = None

    @field_validator("tasks", mode="before")
    @classmethod
    def _names_to_specs(cls, v: Any) -> Any:
        return [{"name": t} if isinstance(t, str) else t for t in v] if isinstance(v, list) else v

    @model_validator(mode="after")
    def _something_to_run(self) -> "MtebSpec":
        if not self.tasks and not self.benchmarks:
            raise ValueError("give at least one of 'tasks: [TASK, ...]' or 'benchmarks: [\"MTEB(eng, v2)\", ...]'")
        names = [t.name for t in self.tasks]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"tasks: duplicate task name(s) {', '.join(dupes)}")
        if self.dims is not None and (not self.dims or any(isinstance(d, int) and d < 1 for d in self.dims)):
            raise ValueError("dims: a non-empty list of positive integers or 'full'")
        return self


class ThroughputSpec(Strict):
    """The throughput stage (after evaluation) and `leafbench throughput`: docs/s, queries/s and latency per model.

    Real texts are sampled (seeded) from the suite's tasks; synthetic inputs are exactly `synthetic_lengths` tokens.
    Unset lists mean: every suite model, each model's own batch_size and dtype, the suite's device.
    """

    models: list[str] | None = None  # suite model keys to measure (default: all)
    teacher: str | None = None  # ratios are against this model (default: 'teacher' if measured, else the largest)
    batch_sizes: list[Annotated[int, Field(gt=0)]] | None = None
    docs: int = Field(default=128, gt=0)  # real document texts encoded per trial
    queries: int = Field(default=256, gt=0)  # real query texts encoded per trial
    synthetic_lengths: list[Annotated[int, Field(gt=2)]] = Field(default_factory=lambda: [32, 128, 256, 512])
    synthetic_texts: int = Field(default=32, gt=0)  # texts per synthetic length per trial
    trials: int = Field(default=5, gt=0)
    warmup: int = Field(default=1, ge=0)  # untimed batches before each timed measurement
    latency_queries: int = Field(default=100, ge=0)  # batch-1 query encodings timed one by one (0: no latency)
    backends: list[Literal["torch", "onnx"]] = Field(default_factory=lambda: ["torch"])
    dtypes: list[Literal["fp32", "bf16", "auto"]] | None = None
    devices: list[str] | None = None  # e.g. [cpu, cuda]; an unavailable device is skipped with one line
    threads: int | None = Field(default=None, gt=0)  # torch intra-op threads while measuring (default: torch's)
    seed: int = 0

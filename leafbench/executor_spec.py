"""The suite's `executor:` section, apart from the executors (which import the encoder, and so torch) so that
config.py can import it."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from leafbench.strict import Strict


class ExecutorSpec(Strict):
    """`kind: local` encodes in this process; `kind: ray` fans the store's missing rows out over Ray Data actors.

    `address` is what `ray.init` takes: `auto` (a cluster already running on this node), `ray://host:10001`, or
    `local` (start a private one-node cluster, as the tests do). Every worker needs the models and the embedding
    store at the same paths (a shared filesystem), since actors load the model and write shards themselves.
    """

    kind: Literal["local", "ray"] = "local"
    address: str = "auto"
    workers: int = Field(default=1, gt=0)  # actors, each holding one copy of the model
    num_gpus: float = Field(default=0, ge=0)  # per worker; > 0 puts the model on the GPU Ray assigns
    num_cpus: float = Field(default=1, gt=0)  # per worker
    batch_size: int = Field(default=1024, gt=0)  # texts per Ray batch = per shard an actor commits

    @model_validator(mode="after")
    def _ray_only_fields(self) -> "ExecutorSpec":
        if self.kind == "local":  # a non-default Ray setting under `local` is a mistake (defaults round-trip)
            extra = [k for k, f in type(self).model_fields.items()
                     if k != "kind" and getattr(self, k) != f.get_default(call_default_factory=True)]
            if extra:
                raise ValueError(f"{', '.join(extra)}: only used with 'kind: ray'")
        return self

    def on_ray(self, address: str) -> "ExecutorSpec":
        """This section with `kind: ray` at `address` (the `--ray ADDRESS` flag); other fields kept."""
        return ExecutorSpec(**{**self.model_dump(), "kind": "ray", "address": address})

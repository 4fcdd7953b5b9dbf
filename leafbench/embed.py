"""Embeddings on demand: the suite's models, loaded lazily once each, behind the content-addressed store.

Every consumer (retrieval grid, MTEB bridge, distillation, throughput) asks here, so a text embedded once by a
model in one role is never embedded again by any of them. Missing texts are encoded in-process (one progress bar
across the store's shard-sized pieces) or, with `executor: ray`, fanned out over a Ray cluster that writes into
the same store.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from leafbench.assets import cache_dir
from leafbench.config import ModelSpec
from leafbench.encoders import Encoder
from leafbench.roles import Role
from leafbench.errors import UserError
from leafbench.executor_spec import ExecutorSpec
from leafbench.progress import progress_bar
from leafbench.results import note_namespace
from leafbench.store import EmbeddingStore, RowView, text_keys
from leafbench.store.core import namespace_id
from leafbench.timing import count_encoded, timed

_PLURAL = {"query": "queries", "document": "documents"}


class EmbeddingService:
    """Lazy encoders by suite model name plus one store; records seconds spent actually encoding."""

    def __init__(self, models: dict[str, ModelSpec], device: str = "auto", store_root: Path | None = None,
                 executor: ExecutorSpec | None = None):
        self.models = models
        self.device = device
        self.executor = executor or ExecutorSpec()
        self.store = EmbeddingStore(store_root or cache_dir() / "embeddings")
        self._encoders: dict[str, Encoder] = {}
        self.encode_seconds = 0.0

    def encoder(self, name: str) -> Encoder:
        if name not in self._encoders:
            with timed("load model"):
                self._encoders[name] = Encoder(name, self.models[name], self.device)
        return self._encoders[name]

    def view(self, name: str, role: Role, texts: list[str]) -> RowView:
        """Lazy rows for the texts (memory-mapped); encodes first whatever the store has not seen."""
        enc = self.encoder(name)
        namespace = enc.cache_namespace(role)
        note_namespace(namespace_id(namespace))  # a `cache gc` during this command keeps it
        keys = text_keys(texts)  # hashed once for both lookups (~1 s per million texts)
        todo = self.store.missing(namespace, texts, keys)
        if todo:
            with timed("encode") as lap:
                if self.executor.kind == "ray":
                    self._encode_on_ray(name, role, namespace, todo)
                else:
                    with progress_bar(f"encode {name} {_PLURAL[role]}", len(todo)) as advance:
                        self.store.fill(namespace, todo, lambda piece: enc.encode(piece, role, progress=advance))
            self.encode_seconds += lap.seconds
            count_encoded(name, role, len(todo), lap.seconds)
        return self.store.view(namespace, keys)

    def embed(self, name: str, role: Role, texts: list[str]) -> np.ndarray:
        """float32 [n, dim] for the texts; encodes (with a progress bar) only what the store has not seen."""
        if not texts:
            return np.zeros((0, self.encoder(name).dim), dtype=np.float32)
        return self.view(name, role, texts)[:]

    def _encode_on_ray(self, name: str, role: Role, namespace: dict[str, object], todo: list[str]) -> None:
        from leafbench.executors.ray_data import encode_on_ray

        encode_on_ray(self.executor, name, self.models[name], role, namespace, todo, self.store.root)
        self.store.encoded_texts += self.store.refresh(namespace)
        left = self.store.missing(namespace, todo)
        if left:
            raise UserError(f"executor: the Ray job for models.{name} ended with {len(left)} of {len(todo)} "
                            f"{_PLURAL[role]} not in the store {self.store.root} (is it on a filesystem every "
                            f"worker shares?); re-run to encode the rest")

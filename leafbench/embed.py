"""Embeddings on demand: the suite's models, loaded lazily once each, behind the content-addressed store.

Every consumer (retrieval grid, MTEB bridge, distillation, throughput) asks here, so a text embedded once by a
model in one role is never embedded again by any of them.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from leafbench.assets import cache_dir
from leafbench.config import ModelSpec
from leafbench.encoders import Encoder, Role
from leafbench.progress import progress_bar
from leafbench.store import EmbeddingStore

_PLURAL = {"query": "queries", "document": "documents"}


class EmbeddingService:
    """Lazy encoders by suite model name plus one store; records seconds spent actually encoding."""

    def __init__(self, models: dict[str, ModelSpec], device: str = "auto", store_root: Path | None = None):
        self.models = models
        self.device = device
        self.store = EmbeddingStore(store_root or cache_dir() / "embeddings")
        self._encoders: dict[str, Encoder] = {}
        self.encode_seconds = 0.0

    def encoder(self, name: str) -> Encoder:
        if name not in self._encoders:
            self._encoders[name] = Encoder(name, self.models[name], self.device)
        return self._encoders[name]

    def embed(self, name: str, role: Role, texts: list[str]) -> np.ndarray:
        """float32 [n, dim] for the texts; encodes (with a progress bar) only what the store has not seen."""
        enc = self.encoder(name)

        def encode(todo: list[str]) -> np.ndarray:
            start = time.perf_counter()
            with progress_bar(f"encode {name} {_PLURAL[role]}", len(todo)) as advance:
                out = enc.encode(todo, role, progress=advance)
            self.encode_seconds += time.perf_counter() - start
            return out

        return self.store.get(enc.cache_namespace(role), texts, encode)

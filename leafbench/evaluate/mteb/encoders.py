"""The encoders mteb calls: `DiscoveryEncoder` (records what a task encodes) and `LeafbenchEncoder` (answers from
the embedding store, transformed for a cell's dim and precision), and the routing of mteb's prompt types to a
config's (model, role)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from leafbench.embed import EmbeddingService
from leafbench.errors import UserError
from leafbench.roles import Role
from leafbench.precisions import get as get_precision
from leafbench.transforms import truncate

DISCOVERY_DIM = 8


def texts_of(inputs: Any) -> list[str]:
    """The texts behind an mteb DataLoader (its dataset's `text` column; batches only if there is no dataset)."""
    dataset = getattr(inputs, "dataset", None)
    if dataset is not None and "text" in getattr(dataset, "column_names", ()):
        return list(dataset["text"][:])  # a slice reads the column at once; iterating a Column reads row by row
    texts: list[str] = []
    for batch in inputs:
        if "text" not in batch:
            raise UserError(f"mteb gave leafbench a non-text input ({', '.join(batch)}); only text tasks are supported")
        texts.extend(batch["text"])
    return texts


def _prompt_type(prompt_type: Any) -> str | None:
    return None if prompt_type is None else str(getattr(prompt_type, "value", prompt_type))


@dataclass(frozen=True)
class TextCall:
    """One encode call mteb made: which texts, for which split/subset, in which role (prompt type)."""

    hf_split: str
    hf_subset: str
    prompt_type: str | None  # "query", "document" or None (symmetric tasks)
    texts: tuple[str, ...]


class _Similarity:
    """mteb's similarity functions for a precision (mteb.similarity_functions, so scores match mteb's own)."""

    def __init__(self, precision: str):
        from mteb import similarity_functions as sf

        self._matrix, self._pairwise = {
            "cosine": (sf.cos_sim, sf.pairwise_cos_sim), "dot": (sf.dot_score, sf.pairwise_dot_score),
            "euclidean": (sf.euclidean_sim, sf.pairwise_euclidean_sim)}[get_precision(precision).mteb_similarity]

    def similarity(self, embeddings1: Any, embeddings2: Any) -> Any:
        return self._matrix(embeddings1, embeddings2)

    def similarity_pairwise(self, embeddings1: Any, embeddings2: Any) -> Any:
        return self._pairwise(embeddings1, embeddings2)


class DiscoveryEncoder(_Similarity):
    """Records what a task encodes, answering with seeded random placeholder vectors (never scored)."""

    def __init__(self) -> None:
        from mteb.models import ModelMeta

        super().__init__("float32")
        self.calls: list[TextCall] = []
        self._rng = np.random.default_rng(0)
        self.mteb_model_meta = ModelMeta.create_empty({"name": "leafbench/discovery", "revision": "0"})

    def encode(self, inputs: Any, *, task_metadata: Any, hf_split: str, hf_subset: str, prompt_type: Any = None,
               **kwargs: Any) -> np.ndarray:
        texts = texts_of(inputs)
        self.calls.append(TextCall(hf_split, hf_subset, _prompt_type(prompt_type), tuple(texts)))
        return self._rng.standard_normal((len(texts), DISCOVERY_DIM)).astype(np.float32)


@dataclass(frozen=True)
class Route:
    model: str  # suite model name
    role: Role


@dataclass(frozen=True)
class Routing:
    """Which (model, role) embeds each prompt type; `symmetric` serves tasks that pass none (see symmetric_role)."""

    query: Route
    document: Route
    symmetric: Route

    def route(self, prompt_type: str | None) -> Route:
        if prompt_type == "query":
            return self.query
        if prompt_type == "document":
            return self.document
        return self.symmetric


CalibrationFn = Callable[[str, int, str], Any]  # (hf_subset, dim, precision) -> the precision's calibrated params


class LeafbenchEncoder(_Similarity):
    """mteb's EncoderProtocol over leafbench's EmbeddingService, for one config at one dim and precision.

    `encode` routes mteb's prompt type to a (model, role), reads the embeddings from the content-addressed store
    (encoding only texts it has never seen) and hands mteb the precision's vectors (leafbench.precisions). float32
    at full dim is the model's output untouched, so it equals a plain `mteb.evaluate(SentenceTransformer)`; smaller
    dims are renormalised prefixes; int8 takes its parameters from `calibration` (fitted once per task subset by
    MtebGrid, never per encode call).
    """

    def __init__(self, service: EmbeddingService, routing: Routing, meta: Any, full_dim: int, dim: int,
                 precision: str, calibration: CalibrationFn):
        super().__init__(precision)
        self.service, self.routing, self.mteb_model_meta = service, routing, meta
        self.full_dim, self.dim, self.precision = full_dim, dim, precision
        self.calibration = calibration

    def encode(self, inputs: Any, *, task_metadata: Any, hf_split: str, hf_subset: str, prompt_type: Any = None,
               **kwargs: Any) -> np.ndarray:
        route = self.routing.route(_prompt_type(prompt_type))
        emb = self.service.embed(route.model, route.role, texts_of(inputs))
        return self.transform(emb, hf_subset)

    def transform(self, emb: np.ndarray, hf_subset: str) -> np.ndarray:
        if self.precision == "float32" and self.dim == self.full_dim:
            return emb
        params = self.calibration(hf_subset, self.dim, self.precision)
        return get_precision(self.precision).mteb_vectors(truncate(emb, self.dim), params)

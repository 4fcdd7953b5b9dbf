"""Encoder: one sentence-transformers model, role-aware (query vs document), producing float32 arrays.

Encoding is where all the time goes, so this module does nothing clever beyond what sentence-transformers does
(it already sorts each call by length); it adds role prompts, bf16 autocast, progress over large inputs, a NaN
check, and a content fingerprint (leafbench.fingerprint) so the embedding store can key results by the weights and
settings rather than a path. Each role goes through sentence-transformers' own role entry point (`encode_query` /
`encode_document`), so a Router model sends queries and documents down their own routes, and the prompt is always
passed as a string: "" is no prompt, never the model's `default_prompt_name`. A static model skips `encode`'s
per-call bookkeeping for its own preprocess + forward (leafbench.static_forward): the same embeddings, without the
overhead that would otherwise be most of its batch-1 latency.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator

import numpy as np
import torch

from leafbench.assets import resolve_model
from leafbench.config import ModelSpec
from leafbench.errors import UserError
from leafbench.fingerprint import model_fingerprint, router_routes
from leafbench.hardware import native_bf16, resolve_device, resolve_dtype
from leafbench.identity import ModelFacts, ResolvedModel, cached_facts, folder_signature, model_folder, remember_facts
from leafbench.progress import stderr
from leafbench.roles import Role
from leafbench.static_forward import StaticForward

ProgressFn = Callable[[int], None]


def load_sentence_transformer(model_id: str, device: str, field: str = "model"):
    """Load a SentenceTransformer, mapping every load failure to one line naming the suite field."""
    from sentence_transformers import SentenceTransformer
    from transformers.utils import logging as hf_logging

    hf_logging.disable_progress_bar()  # per-tensor "Loading weights" bars drown the encoding progress
    path = resolve_model(model_id)
    try:
        return SentenceTransformer(path, device=device)
    except Exception as e:  # noqa: BLE001 - any load failure is the user's model id/path
        reason = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        raise UserError(f"{field}: cannot load model '{model_id}': not a local sentence-transformers folder, "
                        f"not a packaged model, and not loadable from the hub ({reason})") from None


class Encoder:
    """A loaded model plus the suite's settings for it; `encode(texts, role)` is the only thing callers need."""

    def __init__(self, name: str, spec: ModelSpec, device: str = "auto"):
        self.name = name
        self.spec = spec
        self.device = resolve_device(device)
        folder = model_folder(spec.id)
        signature = folder_signature(folder) if folder is not None else None  # taken before the files are read
        self.model = load_sentence_transformer(spec.id, self.device, field=f"models.{name}.id")
        cached = cached_facts(folder, signature) if folder is not None and signature is not None else None
        own_max_seq_length = self.model.max_seq_length
        if spec.max_seq_length is not None:
            self.model.max_seq_length = spec.max_seq_length
        if spec.dtype == "bf16" and not native_bf16(self.device):
            stderr.log(f"models.{name}.dtype: bf16 on a {self.device} without native bf16 kernels runs several times "
                       f"slower than fp32 here; 'dtype: auto' picks the fast one")
        dim = int(self.model.get_embedding_dimension() or 0)
        if dim <= 0:
            raise UserError(f"models.{name}.id: '{spec.id}' does not report a fixed embedding dimension")
        self.facts = cached or ModelFacts(model_fingerprint(self.model), dim,
                                          dict(getattr(self.model, "prompts", None) or {}), own_max_seq_length,
                                          self._routes())
        if folder is not None and signature is not None and cached is None:
            remember_facts(folder, signature, self.facts)  # the next run's identity checks need not load it
        self.fingerprint, self.dim = self.facts.fingerprint, self.facts.dim
        self._static = StaticForward.of(self.model)

    def _routes(self) -> dict[str, str]:
        try:
            return router_routes(self.model)
        except ValueError as e:
            raise UserError(f"models.{self.name}.id: '{self.spec.id}' is a Router model without a route for every "
                            f"role ({str(e).splitlines()[0][:160]}); expected routes for 'query' and 'document' or "
                            f"a default route") from None

    @property
    def resolved(self) -> ResolvedModel:
        return ResolvedModel(self.name, self.spec, self.facts, self.dtype)

    def prompt(self, role: Role) -> str:
        """The suite's prompt for the role, else the model's own prompt of that name, else none."""
        return self.resolved.prompt(role)

    def cache_namespace(self, role: Role) -> dict[str, object]:
        """Everything besides the text that determines an embedding: the embedding store's key."""
        return self.resolved.namespace(role)

    @property
    def dtype(self) -> str:
        """The dtype encoding runs in: the spec's, with `auto` resolved for this device."""
        return resolve_dtype(self.spec.dtype, self.device)

    @contextlib.contextmanager
    def _autocast(self) -> Iterator[None]:
        if self.dtype == "bf16":
            with torch.autocast(device_type=self.device.split(":")[0], dtype=torch.bfloat16):
                yield
        else:
            yield

    def _batch(self, texts: list[str], role: Role, prompt: str) -> torch.Tensor:
        """One chunk's embeddings: the static lean path, else the role's sentence-transformers entry point."""
        if self._static is not None:
            return self._static(texts, prompt)
        encode = self.model.encode_query if role == "query" else self.model.encode_document
        return encode(texts, prompt=prompt, batch_size=self.spec.batch_size, convert_to_numpy=False,
                      convert_to_tensor=True, show_progress_bar=False)

    def encode(self, texts: list[str], role: Role, progress: ProgressFn | None = None) -> np.ndarray:
        """Raw model outputs as float32 [n, dim]; normalisation is left to the transforms (truncate renormalises)."""
        if not texts:
            return np.zeros((0, self.dim), dtype=np.float32)
        order = np.argsort([-len(t) for t in texts], kind="stable")  # long first: OOM shows up at once
        chunk = self.spec.batch_size * 8
        out = np.empty((len(texts), self.dim), dtype=np.float32)
        prompt = self.prompt(role)  # "" stays "": None would let sentence-transformers apply default_prompt_name
        with torch.inference_mode(), self._autocast():
            for start in range(0, len(texts), chunk):
                idx = order[start:start + chunk]
                out[idx] = self._batch([texts[i] for i in idx], role, prompt).float().cpu().numpy()
                if progress is not None:
                    progress(len(idx))
        bad = ~np.isfinite(out).all(axis=1)
        if bad.any():
            first = int(np.flatnonzero(bad)[0])
            raise UserError(f"models.{self.name}: non-finite (NaN/inf) embedding for {int(bad.sum())} {role} text(s), "
                            f"first at index {first}: {texts[first][:60]!r} (try dtype: fp32)")
        return out

"""A static model's forward pass without sentence-transformers' per-call bookkeeping.

A static leaf (StaticEmbedding -> Dense -> Normalize) embeds a query in a few microseconds of lookups, while
`SentenceTransformer.encode` spends ~0.2-0.3 ms per call around them (argument checks, prompt resolution, length
sorting, a batch loop, per-row unbinding and re-stacking, a walk over every submodule per forward): at batch 1
that bookkeeping is most of the latency the throughput stage reports, so the static family's speed would be
sentence-transformers' overhead, not the model's. This path runs the same modules on the same features: the
StaticEmbedding's own `preprocess` (its tokenizer, the prompt prepended as `encode` does), then each module in
order, so the embeddings are the ones `encode` gives (a test holds it) and the tokenizer stays inside every timed
call.
"""

from __future__ import annotations

import torch

from leafbench.st_compat import is_static


class StaticForward:
    """`(texts, prompt) -> [n, dim]` tensor for a model whose first module is a StaticEmbedding."""

    def __init__(self, model):
        self.modules = list(model.children())  # StaticEmbedding, then Dense / Normalize: the model's own chain
        self.device = model.device

    @classmethod
    def of(cls, model) -> "StaticForward | None":
        """The lean path for a static model; None for any other (a transformer's batches need encode's padding)."""
        return cls(model) if is_static(model) else None

    def __call__(self, texts: list[str], prompt: str) -> torch.Tensor:
        from sentence_transformers.util import batch_to_device

        # the input module's own preprocess (the model-level one adds only modality checks for other inputs)
        features = batch_to_device(self.modules[0].preprocess(texts, prompt=prompt or None), self.device)
        for module in self.modules:
            features = module(features)
        return features["sentence_embedding"]

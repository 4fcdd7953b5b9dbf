"""Forward FLOPs of a BERT-style encoder per text, and how long an input its position embeddings allow.

The FLOP count is the numerator of a record's `peak_fraction` (estimated FLOPs per second over the measured matmul
peak), which says how much of the machine an encoding pass uses; it is an estimate from the model's config, checked
against torch's own FLOP counter in the tests.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

FLOPS_FORMULA = ("layers * (2*n*(4*h^2 + 2*h*i) + 4*n^2*h) for n tokens: Q/K/V/output projections and the two "
                 "feed-forward matmuls, plus attention scores and the weighted sum; embeddings, norms, softmax and "
                 "pooling are left out (under 1% at these sizes)")
_POSITION_OFFSET_MODELS = {"roberta", "xlm-roberta", "camembert", "mpnet", "longformer"}  # positions start past pad


@dataclass(frozen=True)
class FlopModel:
    """Forward FLOPs of a BERT-style encoder as a function of tokens (see FLOPS_FORMULA)."""

    layers: int
    hidden: int
    intermediate: int

    @classmethod
    def from_config(cls, config: Any) -> "FlopModel | None":
        try:
            return cls(int(config.num_hidden_layers), int(config.hidden_size), int(config.intermediate_size))
        except (AttributeError, TypeError, ValueError):
            return None

    def per_text(self, tokens: int | np.ndarray) -> np.ndarray:
        n = np.asarray(tokens, dtype=np.float64)
        h, i = self.hidden, self.intermediate
        return self.layers * (2 * n * (4 * h * h + 2 * h * i) + 4 * n * n * h)

    def describe(self) -> dict[str, Any]:
        return {"formula": FLOPS_FORMULA, "layers": self.layers, "hidden": self.hidden,
                "intermediate": self.intermediate}


def hf_config(model: Any) -> Any:
    """The transformers config behind a SentenceTransformer's first module, or None."""
    auto_model = getattr(model[0], "auto_model", None)
    return getattr(auto_model, "config", None)


def max_positions(config: Any) -> int | None:
    """Longest input the position embeddings allow (RoBERTa-style models spend pad_token_id + 1 slots)."""
    positions = getattr(config, "max_position_embeddings", None)
    if positions is None:
        return None
    if getattr(config, "model_type", "") in _POSITION_OFFSET_MODELS:
        positions -= int(getattr(config, "pad_token_id", 1) or 0) + 1
    return int(positions)

"""Quantizer calibration for the MTEB grid: which texts calibrate a task subset (its document side where it has one,
else all its texts), and a precision's parameters per subset and dim, fitted on those texts read back from the
store, never on one encode call (a query batch calibrated on itself collapses).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from leafbench.embed import EmbeddingService
from leafbench.errors import UserError
from leafbench.evaluate.mteb.encoders import Route, Routing, TextCall
from leafbench.precisions import get as get_precision
from leafbench.transforms import Rows, TruncatedRows


class Calibrations:
    """A precision's parameters per (task subset, dim), fitted on first use from the subset's calibration texts
    (memory-mapped and truncated chunk by chunk: a precision without parameters never reads them)."""

    def __init__(self, service: EmbeddingService, texts: dict[str, dict[Route, dict[str, None]]],
                 sources: dict[str, str]):
        self.service, self.texts, self.sources = service, texts, sources
        self._params: dict[tuple[str, int, str], Any] = {}

    def __call__(self, subset: str, dim: int, precision: str) -> Any:
        key = (subset, dim, precision)
        if key not in self._params:
            if subset not in self.texts:
                raise UserError(f"mteb asked for subset '{subset}' that the discovery pass did not see")
            parts = [TruncatedRows(self.service.view(r.model, r.role, list(t)), dim)
                     for r, t in self.texts[subset].items()]
            rows: Rows = parts[0] if len(parts) == 1 else _Stacked(parts)
            self._params[key] = get_precision(precision).calibrate(rows, name=f"{subset} calibration texts")
        return self._params[key]

    def fitted(self, precision: str) -> bool:
        """Whether the precision was calibrated on the task (int8: yes; float32, binary: nothing to fit)."""
        return any(p is not None for (_, _, name), p in self._params.items() if name == precision)


def calibrations_for(service: EmbeddingService, calls: list[TextCall], routing: Routing) -> Calibrations:
    """Calibration per task subset: on its document-side texts if it has any, else on all its texts.

    Splits are pooled (classification encodes its train split under the name 'train': features of train and
    test must share one quantizer).
    """
    texts: dict[str, dict[Route, dict[str, None]]] = {}
    sources: dict[str, str] = {}
    for subset in dict.fromkeys(c.hf_subset for c in calls):
        doc_calls = [c for c in calls if c.hf_subset == subset and c.prompt_type == "document"]
        sources[subset] = "document side" if doc_calls else "all task texts"
        for call in doc_calls or [c for c in calls if c.hf_subset == subset]:
            texts.setdefault(subset, {}).setdefault(routing.route(call.prompt_type), {}).update(
                dict.fromkeys(call.texts))
    return Calibrations(service, texts, sources)


class _Stacked:
    """Row sources one after another, as one lazy row source (a subset's calibration texts may span routes)."""

    def __init__(self, parts: list[Rows]):
        self.parts = parts
        self.dtype = np.dtype(np.float32)

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self), int(self.parts[0].shape[1]))

    def __len__(self) -> int:
        return sum(len(p) for p in self.parts)

    def __getitem__(self, key: slice | np.ndarray) -> np.ndarray:
        index = np.arange(len(self))[key]
        out, offset = [], 0
        for part in self.parts:
            mine = index[(index >= offset) & (index < offset + len(part))] - offset
            if len(mine):
                out.append(part[mine])
            offset += len(part)
        return np.vstack(out) if out else np.zeros((0, self.shape[1]), np.float32)

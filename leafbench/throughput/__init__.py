"""Throughput: documents/s, queries/s, tokens/s and batch-1 query latency per model, and student/teacher ratios.

One job per module: `sampling` (the texts), `flops` (the FLOP model behind peak fractions), `measure` (timing and
ABBA interleaving), `onnx` (the ONNX Runtime backend), `stage` (setups, reuse, writing records), `compare` (ratios), and
`record` (the typed record every reader uses). Console tables and the `leafbench throughput` command live in
`leafbench.report.throughput_cli`; nothing here prints a table.

The names below load on first use: readers of `leafbench.throughput.record` (the report, `leafbench deploy`) must
not pay for importing torch.
"""

from __future__ import annotations

import importlib
from typing import Any

_EXPORTS = {"FlopModel": "flops", "spread": "measure", "ratios": "compare", "RATIOS_SCHEMA": "record",
            "SCHEMA": "record", "RatiosRecord": "record", "ThroughputRecord": "record", "padded_tokens": "sampling",
            "synthetic_texts": "sampling", "token_counts": "sampling", "ThroughputOutcome": "stage",
            "run_throughput": "stage"}
__all__ = sorted(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module 'leafbench.throughput' has no attribute {name!r}")
    return getattr(importlib.import_module(f"leafbench.throughput.{_EXPORTS[name]}"), name)

"""`CodeStore`: the codes an exact scan searches, built from the rows once, when the index is built.

A quantized index is its codes: a deployment quantizes the corpus once and every query scans the int8 codes or
the packed bits, never the float32 rows. So the exact scan packs the rows chunk by chunk (`Precision.pack`) into
one array in the precision's layout (`Precision.layout`) and hands kernels blocks of it. A
store larger than `SPILL_BYTES` lives in an unlinked temporary file in leafbench's cache, memory-mapped: the pages
are the kernel's file cache, not the process's anonymous memory, so a scan over millions of rows stays bounded.
"""

from __future__ import annotations

import tempfile
from typing import Any

import numpy as np

from leafbench.precisions import CodeLayout, Precision
from leafbench.transforms import Rows, iter_chunks

SPILL_BYTES = 256 << 20


def _allocate(shape: tuple[int, int], dtype: type[np.generic], spill: bool) -> np.ndarray:
    if not spill:
        return np.empty(shape, dtype)
    from leafbench.assets import cache_dir

    folder = cache_dir() / "tmp"
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile(dir=folder) as f:  # unlinked at once; the mapping keeps the pages alive
        return np.memmap(f, dtype=dtype, mode="w+", shape=shape)


class CodeStore:
    """A precision's stored codes of every row, and blocks of them in the precision's layout."""

    def __init__(self, rows: Rows, precision: Precision, params: Any, layout: CodeLayout, chunk: int,
                 spill_bytes: int = SPILL_BYTES):
        n = len(rows)
        self.layout = layout
        shape = (n, layout.width)
        self.nbytes = int(np.dtype(layout.dtype).itemsize) * layout.width * n
        self.spilled = self.nbytes > spill_bytes
        self.codes = _allocate(shape, layout.dtype, self.spilled)
        for start, arr in iter_chunks(rows, chunk, "docs"):
            packed = precision.pack(arr, params)
            if layout.last_first:
                self.codes[n - start - len(arr):n - start] = packed[::-1]
            else:
                self.codes[start:start + len(arr)] = packed

    def block(self, start: int, stop: int) -> np.ndarray:
        """Codes of rows [start, stop), in the layout the precision's kernels take (last row first if the layout
        stores them so: a view either way)."""
        n = len(self.codes)
        return self.codes[n - stop:n - start] if self.layout.last_first else self.codes[start:stop]

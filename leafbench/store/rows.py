"""RowView: rows of a namespace in the order asked for, read from memory-mapped shards only when indexed.

Search and transforms walk it chunk by chunk (`view[i:i + chunk]`), so a 5M-document corpus is never one matrix in
the process's own memory; the page cache holds the shards and the kernel evicts them as needed.
"""

from __future__ import annotations

import numpy as np


class RowView:
    """Lazy, read-only [n, dim] float32 row source: `.shape`, `.dtype`, `len()`, `view[slice | int array | int]`."""

    dtype = np.dtype(np.float32)

    def __init__(self, shards: list[np.ndarray], shard: np.ndarray, row: np.ndarray, dim: int):
        self._shards = shards  # memmaps, by shard number
        self._shard = shard
        self._row = row
        self._dim = dim

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self._row), self._dim)

    def __len__(self) -> int:
        return len(self._row)

    def __getitem__(self, sel: slice | np.ndarray | list[int] | int) -> np.ndarray:
        if isinstance(sel, (int, np.integer)):
            return np.array(self._shards[int(self._shard[sel])][int(self._row[sel])], dtype=np.float32)
        shard, row = self._shard[sel], self._row[sel]
        out = np.empty((len(row), self._dim), dtype=np.float32)
        if len(row) == 0:
            return out
        order = np.lexsort((row, shard))  # grouped by shard, rows ascending: sequential reads of each memmap
        bounds = np.flatnonzero(np.diff(shard[order])) + 1
        for group in np.split(order, bounds):
            out[group] = self._shards[int(shard[group[0]])][row[group]]
        return out

    def __repr__(self) -> str:
        return f"RowView(shape={self.shape}, shards={len(np.unique(self._shard))})"

"""Where each stored text lives: a sorted array index over a namespace's 16-byte keys.

At BEIR scale a namespace holds millions of rows; a Python dict of them costs ~1 GB and seconds to build, so the
index is numpy: keys sorted by their first 8 bytes (a uint64) with the shard number and row beside them, looked up
with `searchsorted` and confirmed on the full 16 bytes. New shards are appended as segments and merged lazily on the
next lookup, so committing a shard costs nothing until someone asks.
"""

from __future__ import annotations

import numpy as np

from leafbench.store.shards import KEY_DTYPE


def _prefix(keys: np.ndarray) -> np.ndarray:
    return np.ascontiguousarray(keys, dtype=KEY_DTYPE).view(np.uint64).reshape(-1, 2)[:, 0]


class KeyIndex:
    def __init__(self) -> None:
        self._keys = np.zeros(0, dtype=KEY_DTYPE)
        self._prefix = np.zeros(0, dtype=np.uint64)
        self._shard = np.zeros(0, dtype=np.int32)
        self._row = np.zeros(0, dtype=np.int64)
        self._pending: list[tuple[np.ndarray, int]] = []

    def add(self, keys: np.ndarray, shard: int) -> None:
        self._pending.append((np.asarray(keys, dtype=KEY_DTYPE), shard))

    def __len__(self) -> int:
        self._merge()
        return len(self._keys)

    def _merge(self) -> None:
        if not self._pending:
            return
        keys = np.concatenate([self._keys, *(k for k, _ in self._pending)])
        shard = np.concatenate([self._shard, *(np.full(len(k), s, dtype=np.int32) for k, s in self._pending)])
        row = np.concatenate([self._row, *(np.arange(len(k), dtype=np.int64) for k, _ in self._pending)])
        self._pending = []
        prefix = _prefix(keys)
        order = np.argsort(prefix, kind="stable")  # stable: the first shard holding a key wins, as before
        self._keys, self._prefix, self._shard, self._row = keys[order], prefix[order], shard[order], row[order]

    def lookup(self, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(found, shard, row) for each key; shard/row are meaningless where not found."""
        self._merge()
        keys = np.asarray(keys, dtype=KEY_DTYPE)
        n = len(self._keys)
        if n == 0 or len(keys) == 0:
            return np.zeros(len(keys), bool), np.zeros(len(keys), np.int32), np.zeros(len(keys), np.int64)
        prefix = _prefix(keys)
        pos = np.minimum(np.searchsorted(self._prefix, prefix, side="left"), n - 1)
        found = self._keys[pos] == keys
        clash = ~found & (self._prefix[pos] == prefix)  # same first 8 bytes, other key: walk the run (~never)
        for i in np.flatnonzero(clash):
            p = int(pos[i])
            while p < n and self._prefix[p] == prefix[i]:
                if self._keys[p] == keys[i]:
                    pos[i], found[i] = p, True
                    break
                p += 1
        return found, self._shard[pos], self._row[pos]

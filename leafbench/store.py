"""EmbeddingStore: every (model fingerprint, role, prompt, max_seq_length, dtype, text) is encoded once, ever.

Layout: `<root>/<namespace>/<shard>.npy` (float32 rows), `<shard>.keys.npy` (16-byte text digests, same order)
and `<shard>.manifest.json` (row count, dim, sha256 of both files). A shard becomes visible only when its manifest is
renamed into place, so a crash never leaves a half-written shard that later reads as valid. Shards are
append-only and named uniquely, so several workers may add shards to one namespace at once; readers take the
union. Arrays are memory-mapped, so a reader never needs the whole namespace in memory.
"""

from __future__ import annotations

import hashlib
import json
import os
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from leafbench.errors import UserError

KEY_DTYPE = np.dtype("S16")
MANIFEST = ".manifest.json"


def text_key(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def namespace_id(namespace: dict[str, object]) -> str:
    blob = json.dumps(namespace, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:24]


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def _atomic_save(path: Path, array: np.ndarray) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    with open(tmp, "wb") as f:
        np.save(f, array)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


@dataclass
class _Shard:
    embeddings: np.ndarray  # memmap
    keys: np.ndarray


class EmbeddingStore:
    """Content-addressed embedding cache; `get` returns embeddings for texts, encoding only unseen ones."""

    def __init__(self, root: Path):
        self.root = Path(root)
        self._index: dict[str, dict[bytes, tuple[str, int]]] = {}
        self._shards: dict[str, dict[str, _Shard]] = {}
        self.encoded_texts = 0  # texts actually sent to a model by this store (tests and the CLI report it)

    def _dir(self, ns: str) -> Path:
        return self.root / ns

    def _load_shard(self, ns: str, manifest_path: Path) -> _Shard:
        shard = manifest_path.name.removesuffix(MANIFEST)
        base = manifest_path.parent
        emb_path, key_path = base / f"{shard}.npy", base / f"{shard}.keys.npy"
        try:
            manifest = json.loads(manifest_path.read_text())
            if _sha256(emb_path) != manifest["sha256"] or _sha256(key_path) != manifest["keys_sha256"]:
                raise ValueError("checksum mismatch")
            emb = np.load(emb_path, mmap_mode="r")
            keys = np.load(key_path)
            if emb.shape != (manifest["rows"], manifest["dim"]) or keys.shape != (manifest["rows"],):
                raise ValueError("shape differs from its manifest")
        except (OSError, ValueError, KeyError, json.JSONDecodeError) as e:
            raise UserError(f"{manifest_path}: corrupt embedding cache shard ({e}); delete {base} "
                            f"and re-run to re-encode") from None
        return _Shard(emb, keys)

    def _ensure_index(self, ns: str) -> dict[bytes, tuple[str, int]]:
        if ns in self._index:
            return self._index[ns]
        index: dict[bytes, tuple[str, int]] = {}
        shards: dict[str, _Shard] = {}
        base = self._dir(ns)
        for manifest in sorted(base.glob(f"*{MANIFEST}")) if base.is_dir() else []:
            shard = self._load_shard(ns, manifest)
            name = manifest.name.removesuffix(MANIFEST)
            shards[name] = shard
            for row, key in enumerate(shard.keys.tolist()):
                index.setdefault(key, (name, row))
        self._index[ns], self._shards[ns] = index, shards
        return index

    def _write_shard(self, ns: str, keys: list[bytes], embeddings: np.ndarray) -> None:
        base = self._dir(ns)
        base.mkdir(parents=True, exist_ok=True)
        name = uuid.uuid4().hex
        emb_path, key_path = base / f"{name}.npy", base / f"{name}.keys.npy"
        _atomic_save(emb_path, np.ascontiguousarray(embeddings, dtype=np.float32))
        _atomic_save(key_path, np.array(keys, dtype=KEY_DTYPE))
        manifest = {"rows": len(keys), "dim": int(embeddings.shape[1]),
                    "sha256": _sha256(emb_path), "keys_sha256": _sha256(key_path)}
        tmp = base / f".{name}{MANIFEST}.tmp"
        tmp.write_text(json.dumps(manifest))
        os.replace(tmp, base / f"{name}{MANIFEST}")
        self._shards[ns][name] = _Shard(np.load(emb_path, mmap_mode="r"), np.array(keys, dtype=KEY_DTYPE))
        for row, key in enumerate(keys):
            self._index[ns].setdefault(key, (name, row))

    def missing(self, namespace: dict[str, object], texts: list[str]) -> list[str]:
        """Distinct texts not yet stored in this namespace, in first-seen order."""
        index = self._ensure_index(namespace_id(namespace))
        seen: set[bytes] = set()
        out = []
        for t in texts:
            k = text_key(t)
            if k not in index and k not in seen:
                seen.add(k)
                out.append(t)
        return out

    def get(self, namespace: dict[str, object], texts: list[str],
            encode: Callable[[list[str]], np.ndarray]) -> np.ndarray:
        """Embeddings for `texts` (float32 [n, dim], in order); `encode` is called once, on the unseen texts only."""
        ns = namespace_id(namespace)
        todo = self.missing(namespace, texts)
        if todo:
            emb = encode(todo)
            if emb.shape[0] != len(todo) or not np.isfinite(emb).all():
                raise UserError(f"encoder returned {emb.shape[0]} rows for {len(todo)} texts or non-finite values")
            self._write_shard(ns, [text_key(t) for t in todo], emb)
            self.encoded_texts += len(todo)
            readme = self._dir(ns) / "namespace.json"  # for humans browsing the cache; never read back
            if not readme.exists():
                readme.write_text(json.dumps(namespace, sort_keys=True, indent=1))
        index = self._index[ns]
        shards = self._shards[ns]
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        locs = [index[text_key(t)] for t in texts]
        dim = next(iter(shards.values())).embeddings.shape[1]
        out = np.empty((len(texts), dim), dtype=np.float32)
        by_shard: dict[str, list[tuple[int, int]]] = {}
        for i, (name, row) in enumerate(locs):
            by_shard.setdefault(name, []).append((i, row))
        for name, pairs in by_shard.items():
            dst, src = np.array(pairs, dtype=np.int64).T
            out[dst] = shards[name].embeddings[src]
        return out

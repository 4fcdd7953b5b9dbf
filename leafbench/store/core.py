"""EmbeddingStore: every (model fingerprint, role, prompt, max_seq_length, dtype, text) is encoded once, ever.

Layout: `<root>/<namespace id>/<shard>.{npy,keys.npy,manifest.json}` (see `shards`). Writers only ever add
uniquely named shards and rename the manifest last, so any number of processes (Ray actors on a shared filesystem
included) may `put` into one namespace at once and readers `refresh` to see what the others committed. Encoding
goes through `fill`, which commits a shard every `shard_rows` texts or `shard_seconds` of work: a crash loses at
most one shard. Opening a namespace reads its keys only (16 B/row) and checks each shard cheaply; a bad shard is
moved to `quarantine/` with one warning line and its rows simply count as missing, to be encoded again.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from leafbench.errors import UserError
from leafbench.store.keyindex import KeyIndex
from leafbench.store.rows import RowView
from leafbench.store.shards import KEY_DTYPE, MANIFEST, BadShard, ShardFiles, check_cheap, open_embeddings, \
    orphans, quarantine, write_bytes_synced, write_shard

ORPHAN_AGE_S = 15 * 60  # a writer renames its manifest seconds after its arrays; older leftovers are a crash's
DEFAULT_SHARD_ROWS = 8192
Encode = Callable[[list[str]], np.ndarray]


def text_key(text: str) -> bytes:
    return hashlib.blake2b(text.encode("utf-8", "surrogatepass"), digest_size=16).digest()


def text_keys(texts: Sequence[str] | Sequence[bytes] | np.ndarray) -> np.ndarray:
    """16-byte keys for texts; items that already are 16-byte keys (or a key array) are kept as they are."""
    if isinstance(texts, np.ndarray) and texts.dtype == KEY_DTYPE:
        return texts
    return np.array([t if isinstance(t, bytes) else text_key(t) for t in texts], dtype=KEY_DTYPE)


def namespace_id(namespace: dict[str, object]) -> str:
    blob = json.dumps(namespace, sort_keys=True).encode()
    return hashlib.sha256(blob).hexdigest()[:24]


@functools.cache
def _allow_many_open_shards() -> None:
    """Each memory-mapped shard holds a file descriptor; a BEIR corpus is hundreds of shards per namespace, past
    the common soft limit of 1024. Raise the soft limit to the hard one (as Ray and most servers do)."""
    try:
        import resource

        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        want = hard if hard != resource.RLIM_INFINITY else 1 << 20
        if soft != resource.RLIM_INFINITY and soft < want:
            resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    except (ImportError, ValueError, OSError):  # not POSIX, or not allowed: the default limit stays
        pass


def _warn(message: str) -> None:
    print(f"warning: {message}", file=sys.stderr, flush=True)


@dataclass
class _Namespace:
    dir: Path
    dim: int = 0
    shards: list[np.ndarray] = field(default_factory=list)  # memmaps by shard number
    numbers: dict[str, int] = field(default_factory=dict)  # shard name -> number
    index: KeyIndex = field(default_factory=KeyIndex)

    def add(self, name: str, keys: np.ndarray, embeddings: np.ndarray) -> None:
        self.numbers[name] = len(self.shards)
        self.index.add(keys, len(self.shards))
        self.shards.append(embeddings)
        self.dim = int(embeddings.shape[1])


class EmbeddingStore:
    """Content-addressed embedding cache: `get`/`view` rows for texts, `fill`/`put` to add, `refresh` to see others'."""

    def __init__(self, root: Path, shard_rows: int | None = None, shard_seconds: float = 60.0,
                 warn: Callable[[str], None] = _warn):
        self.root = Path(root)
        # LEAFBENCH_SHARD_ROWS: small shards make crash tests on tiny inputs span several commits
        self.shard_rows = shard_rows or int(os.environ.get("LEAFBENCH_SHARD_ROWS", DEFAULT_SHARD_ROWS))
        self.shard_seconds = shard_seconds
        self.warn = warn
        self._spaces: dict[str, _Namespace] = {}
        _allow_many_open_shards()
        self.encoded_texts = 0  # texts actually encoded for this store (tests and the CLI report it)

    # ------------------------------------------------------------------------------------------------ reading
    def _space(self, ns: str) -> _Namespace:
        if ns not in self._spaces:
            self._spaces[ns] = _Namespace(self.root / ns)
            self._scan(ns, collect=True)
        return self._spaces[ns]

    def _scan(self, ns: str, collect: bool = False) -> int:
        """Load shards committed since the last scan; returns how many rows they add."""
        space = self._spaces[ns]
        if not space.dir.is_dir():
            return 0
        if collect:
            for path in orphans(space.dir, ORPHAN_AGE_S):
                path.unlink(missing_ok=True)
        added = 0
        for manifest in sorted(space.dir.glob(f"*{MANIFEST}")):
            files = ShardFiles.of_manifest(manifest)
            if files.name in space.numbers:
                continue
            try:
                meta, keys = check_cheap(files)
                if space.dim and meta["dim"] != space.dim:
                    raise BadShard(f"dim {meta['dim']} where the namespace has {space.dim}")
                emb = open_embeddings(files)
            except BadShard as e:
                self._quarantine(files, str(e))
                continue
            except FileNotFoundError:  # quarantined by another process between the listing and now
                continue
            space.add(files.name, keys, emb)
            added += len(keys)
        return added

    def _quarantine(self, files: ShardFiles, reason: str) -> None:
        try:
            where = quarantine(files)
        except FileNotFoundError:
            return  # another process moved it first (and warned)
        self.warn(f"embedding store: shard {files.base.name}/{files.name} is unreadable ({reason}); moved to "
                  f"{where}, its rows will be encoded again")

    def refresh(self, namespace: dict[str, object]) -> int:
        """Pick up shards other processes committed; returns the number of rows gained."""
        ns = namespace_id(namespace)
        if ns not in self._spaces:
            return len(self._space(ns).index)
        return self._scan(ns)

    def missing(self, namespace: dict[str, object], texts: Sequence[str], keys: np.ndarray | None = None) -> list[str]:
        """Distinct texts not yet stored in this namespace, in first-seen order (`keys`: their `text_keys`)."""
        keys = text_keys(texts) if keys is None else keys
        found, _, _ = self._space(namespace_id(namespace)).index.lookup(keys)
        seen: set[str] = set()
        out = []
        for i in np.flatnonzero(~found):
            t = texts[i]
            if t not in seen:
                seen.add(t)
                out.append(t)
        return out

    def view(self, namespace: dict[str, object], texts: Sequence[str] | np.ndarray) -> RowView:
        """Rows for `texts` (or their keys) in order, lazily; every one must be stored already (`fill`, `get`)."""
        space = self._space(namespace_id(namespace))
        found, shard, row = space.index.lookup(text_keys(texts))
        if not found.all():
            raise LookupError(f"{int((~found).sum())} of {len(texts)} texts are not in embedding namespace "
                              f"{space.dir.name}; encode them first")
        return RowView(space.shards, shard, row, space.dim)

    def get(self, namespace: dict[str, object], texts: Sequence[str], encode: Encode) -> np.ndarray:
        """Embeddings for `texts` (float32 [n, dim], in order); `encode` is called on unseen texts only."""
        self.fill(namespace, self.missing(namespace, texts), encode)
        if not texts:
            return np.zeros((0, 0), dtype=np.float32)
        return self.view(namespace, texts)[:]

    # ------------------------------------------------------------------------------------------------ writing
    def put(self, namespace: dict[str, object], texts_or_keys: Sequence[str] | Sequence[bytes],
            embeddings: np.ndarray) -> None:
        """Commit rows as one new shard (safe alongside other writers); texts may be given as 16-byte keys."""
        keys = text_keys(texts_or_keys)
        emb = np.asarray(embeddings, dtype=np.float32)
        if emb.ndim != 2 or emb.shape[0] != len(keys) or not np.isfinite(emb).all():
            raise ValueError(f"embeddings {emb.shape} for {len(keys)} texts, or non-finite values")
        if len(keys) == 0:
            return
        ns = namespace_id(namespace)
        space = self._space(ns)
        if space.dim and emb.shape[1] != space.dim:
            raise ValueError(f"dim {emb.shape[1]} where namespace {ns} has {space.dim}")
        space.dir.mkdir(parents=True, exist_ok=True)
        files = write_shard(space.dir, keys, emb)
        space.add(files.name, keys, open_embeddings(files))
        readme = space.dir / "namespace.json"  # for humans and `cache gc --dry-run`; never needed to read rows
        if not readme.exists():
            write_bytes_synced(readme, json.dumps(namespace, sort_keys=True, indent=1).encode())

    def fill(self, namespace: dict[str, object], texts: list[str], encode: Encode) -> None:
        """Encode `texts` (distinct, not stored) in pieces, committing each as a shard before the next starts.

        Pieces are `shard_rows` texts at most and about `shard_seconds` of work, sized from the rate so far, so a
        slow teacher commits every minute and a fast model every few thousand texts.
        """
        todo = texts
        piece = min(self.shard_rows, 256)
        start = 0
        while start < len(todo):
            chunk = todo[start:start + piece]
            began = time.perf_counter()
            emb = encode(chunk)
            if emb.shape[0] != len(chunk) or not np.isfinite(emb).all():
                raise UserError(f"encoder returned {emb.shape[0]} rows for {len(chunk)} texts or non-finite values")
            self.put(namespace, chunk, emb)
            self.encoded_texts += len(chunk)
            start += len(chunk)
            rate = len(chunk) / max(time.perf_counter() - began, 1e-6)
            piece = max(min(32, self.shard_rows), min(self.shard_rows, int(rate * self.shard_seconds)))

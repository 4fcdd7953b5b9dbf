"""One shard on disk: `<name>.npy` (float32 rows), `<name>.keys.npy` (16-byte text digests) and
`<name>.manifest.json`, renamed into place last (after both arrays and the directory are fsynced), so a manifest that
exists describes complete files.

Checks come in two strengths. `check_cheap` runs whenever a namespace is opened: file sizes, the .npy header, a
hash of the first and last block of the embeddings and a full hash of the keys (16 B/row, read anyway to build the
index). It never reads a shard's embeddings in full, so opening a BEIR-scale store costs what its keys cost.
`check_full` hashes everything (`leafbench cache verify`). Manifests written before format 2 (no sizes, no block
hash) still read: their cheap check is the header and size.
"""

from __future__ import annotations

import hashlib
import io
import json
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import numpy as np

KEY_DTYPE = np.dtype("S16")
MANIFEST = ".manifest.json"
FORMAT = 2
BLOCK = 1 << 16  # bytes hashed at each end of the embeddings file by the cheap check
QUARANTINE = "quarantine"


class BadShard(Exception):
    """A shard that must not be read: the message says why (one line)."""


@dataclass(frozen=True)
class ShardFiles:
    base: Path
    name: str

    @property
    def manifest(self) -> Path:
        return self.base / f"{self.name}{MANIFEST}"

    @property
    def embeddings(self) -> Path:
        return self.base / f"{self.name}.npy"

    @property
    def keys(self) -> Path:
        return self.base / f"{self.name}.keys.npy"

    @classmethod
    def of_manifest(cls, path: Path) -> "ShardFiles":
        return cls(path.parent, path.name.removesuffix(MANIFEST))


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 22), b""):
            h.update(block)
    return h.hexdigest()


def _ends_hash(path: Path) -> str:
    """sha256 of the first and last BLOCK bytes (the .npy header lives in the first)."""
    h = hashlib.sha256()
    size = path.stat().st_size
    with open(path, "rb") as f:
        h.update(f.read(BLOCK))
        if size > BLOCK:
            f.seek(max(BLOCK, size - BLOCK))
            h.update(f.read(BLOCK))
    return h.hexdigest()


def fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _save_synced(path: Path, array: np.ndarray) -> None:
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    with open(tmp, "wb") as f:
        np.save(f, array)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def write_bytes_synced(path: Path, data: bytes) -> None:
    """Temp file, fsync, rename, fsync the directory: after a crash the file is absent or complete."""
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def write_shard(base: Path, keys: np.ndarray, embeddings: np.ndarray) -> ShardFiles:
    """A new uniquely named shard; visible to readers only once its manifest is renamed into place."""
    files = ShardFiles(base, uuid.uuid4().hex)
    _save_synced(files.embeddings, np.ascontiguousarray(embeddings, dtype=np.float32))
    _save_synced(files.keys, np.ascontiguousarray(keys, dtype=KEY_DTYPE))
    fsync_dir(base)  # the two renames are durable before the manifest that points at them
    manifest = {"format": FORMAT, "rows": int(len(keys)), "dim": int(embeddings.shape[1]),
                "bytes": files.embeddings.stat().st_size, "keys_bytes": files.keys.stat().st_size,
                "ends_sha256": _ends_hash(files.embeddings),
                "sha256": _sha256(files.embeddings), "keys_sha256": _sha256(files.keys)}
    write_bytes_synced(files.manifest, json.dumps(manifest).encode())
    return files


def read_manifest(files: ShardFiles) -> dict:
    try:
        manifest = json.loads(files.manifest.read_bytes())
    except (OSError, ValueError) as e:
        raise BadShard(f"unreadable manifest ({type(e).__name__})") from None
    if not isinstance(manifest, dict) or not all(isinstance(manifest.get(k), int) for k in ("rows", "dim")):
        raise BadShard("manifest lacks rows/dim")
    return manifest


def _header(path: Path) -> tuple[tuple[int, ...], np.dtype, int]:
    """(shape, dtype, data offset) from a .npy header, without reading the data."""
    try:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
            shape, fortran, dtype = read(f)
            if fortran:
                raise BadShard(f"{path.name}: Fortran-ordered array")
            return shape, dtype, f.tell()
    except (OSError, ValueError) as e:
        raise BadShard(f"{path.name}: bad .npy header ({e})") from None


def check_cheap(files: ShardFiles) -> tuple[dict, np.ndarray]:
    """Validate a shard without reading its embeddings in full; returns (manifest, keys)."""
    manifest = read_manifest(files)
    rows, dim = manifest["rows"], manifest["dim"]
    for path, want_shape, want_dtype in ((files.embeddings, (rows, dim), np.dtype(np.float32)),
                                         (files.keys, (rows,), KEY_DTYPE)):
        if not path.is_file():
            raise BadShard(f"{path.name} is missing")
        shape, dtype, offset = _header(path)
        if tuple(shape) != want_shape or dtype != want_dtype:
            raise BadShard(f"{path.name}: {dtype}{list(shape)} where the manifest says {want_dtype}{list(want_shape)}")
        size = path.stat().st_size
        if size != offset + int(np.prod(want_shape)) * want_dtype.itemsize:
            raise BadShard(f"{path.name}: {size} bytes, truncated or padded")
    if manifest.get("format", 1) >= FORMAT:
        if files.embeddings.stat().st_size != manifest.get("bytes"):
            raise BadShard(f"{files.embeddings.name}: size differs from its manifest")
        if _ends_hash(files.embeddings) != manifest.get("ends_sha256"):
            raise BadShard(f"{files.embeddings.name}: first/last block checksum mismatch")
    keys_blob = files.keys.read_bytes()
    if hashlib.sha256(keys_blob).hexdigest() != manifest.get("keys_sha256"):
        raise BadShard(f"{files.keys.name}: checksum mismatch")
    return manifest, np.load(io.BytesIO(keys_blob))


def check_full(files: ShardFiles) -> dict:
    """The cheap check plus a sha256 of the whole embeddings file."""
    manifest, _ = check_cheap(files)
    if _sha256(files.embeddings) != manifest.get("sha256"):
        raise BadShard(f"{files.embeddings.name}: checksum mismatch")
    return manifest


def open_embeddings(files: ShardFiles) -> np.ndarray:
    return np.load(files.embeddings, mmap_mode="r")


def quarantine(files: ShardFiles) -> Path:
    """Move a bad shard's files into `<namespace>/quarantine/` (kept for inspection, never read again)."""
    target = files.base / QUARANTINE
    target.mkdir(exist_ok=True)
    stamp = int(time.time())
    # manifest first, so the shard stops being visible; FileNotFoundError: another process moved it already
    shutil.move(str(files.manifest), target / f"{files.manifest.name}.{stamp}")
    for path in (files.embeddings, files.keys):
        if path.exists():
            shutil.move(str(path), target / f"{path.name}.{stamp}")
    fsync_dir(files.base)
    return target


def orphans(base: Path, min_age_s: float) -> list[Path]:
    """Temp files and arrays without a manifest, older than `min_age_s` (younger ones may be another writer's)."""
    names = {p.name for p in base.iterdir()}
    cutoff = time.time() - min_age_s
    out = []
    for path in base.iterdir():
        n = path.name
        if n.endswith(".tmp"):
            pass
        elif n.endswith(".keys.npy"):
            if f"{n.removesuffix('.keys.npy')}{MANIFEST}" in names:
                continue
        elif n.endswith(".npy"):
            if f"{n.removesuffix('.npy')}{MANIFEST}" in names:
                continue
        else:
            continue
        try:
            if path.stat().st_mtime < cutoff:
                out.append(path)
        except FileNotFoundError:  # renamed or removed by another writer meanwhile
            pass
    return out

"""FAISS backends (flat, HNSW, IVF) for every precision family, built chunk by chunk and kept in the index cache.

What each family stores, and why:
- float32: the embeddings, inner product (`IndexFlatIP`, `IndexHNSWFlat`, `IndexIVFFlat`).
- int8 (both schemes): leafbench's own int8 codes, one byte per dim, in a FAISS 8-bit scalar quantizer
  (`IndexScalarQuantizer`, `IndexHNSWSQ`, `IndexIVFScalarQuantizer` without residuals, type `QT_8bit`) whose
  per-dim range is *set* from leafbench's calibration instead of trained: vmin = -128.5 u, vdiff = 255 u, so
  byte c + 128 decodes to c u, the value the code stands for in leafbench's score (u = the symmetric scale, or 1
  for the affine scheme's raw codes). Queries are the quantized queries' values too, so FAISS computes the exact
  scan's inner product (to float rounding), and the calibration stays the one the grid fits and records.
  (`QT_8bit_direct_signed` would store the codes as they are, but FAISS 1.15's SIMD path for it also rounds the
  *query* to integers once dim >= 32, which breaks the symmetric scheme's float query vectors.)
- binary: the packed sign bits in FAISS binary indexes (`IndexBinaryFlat`, `IndexBinaryHNSW`, `IndexBinaryIVF`);
  score = -Hamming, as in the exact scan.

Results follow leafbench's tie rule: each search asks FAISS for some extra candidates and asks again, deeper, for
the queries whose tie at the k-th score may run past what came back; then the candidates are sorted by the rule.
A query that an approximate index cannot fill to k (IVF cells holding fewer documents than k) is searched again
with twice the probes / beam until it is full.

Determinism: IVF training is seeded (`IVF_SEED`, evenly spaced training rows), so a rebuild gives the same index.
HNSW draws its levels from FAISS's own fixed seed, but inserts in parallel (OpenMP), so a rebuild with more than one
thread may link the graph differently; the build records its thread count, and tests/test_faiss.py bounds the
effect (same results single-threaded, recall within 0.02 across multi-threaded rebuilds).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from leafbench.assets import cache_dir
from leafbench.precisions import Precision
from leafbench.search.spec import SearchSpec
from leafbench.search.topk import sorted_topk
from leafbench.transforms import Int8Calibration, Rows, iter_chunks

CACHE_VERSION = 2  # bump when what a cached index holds changes
TRAIN_PER_CELL = 64  # IVF training rows per cell (FAISS wants >= 39)
IVF_SEED = 1234  # k-means seed of the IVF coarse quantizer (FAISS's default, set so it is stated, not assumed)


def _faiss() -> Any:
    import faiss

    return faiss


def ivf_cells(spec: SearchSpec, n: int) -> int:
    """IVF cell count: the spec's, else ~4 sqrt(n), and never more than n / 39 (too few points to train on)."""
    return max(1, min(spec.nlist or int(4 * np.sqrt(n)), n // 39 or 1))


class FaissIndex:
    """A built FAISS index over a precision's codes, searched with the precision's query vectors."""

    def __init__(self, index: Any, precision: Precision, spec: SearchSpec, params: Any, dim: int,
                 stats: dict[str, Any]):
        self.index, self.precision, self.spec, self.params, self.dim = index, precision, spec, params, dim
        self.stats = stats
        self.approximate = spec.approximate

    @property
    def n_docs(self) -> int:
        return int(self.index.ntotal)

    @property
    def variant(self) -> str:
        params = ", ".join(f"{k}={v}" for k, v in self.spec.identity().items() if k != "backend")
        return f"{self.precision.variant}; faiss {self.spec.backend}" + (f" ({params})" if params else "")

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Top-min(k, n_docs) per query under the tie rule (see the module docstring)."""
        k = min(k, self.n_docs)
        qv = query_vectors(self.precision, queries, self.params)
        scores = np.empty((len(qv), k), np.float32)
        indices = np.empty((len(qv), k), np.int64)
        todo, depth, effort = np.arange(len(qv)), min(self.n_docs, k + max(16, k // 4)), 1
        while len(todo):
            self._set_effort(k, effort)
            dist, idx = self.index.search(qv[todo], depth)
            sc = -dist.astype(np.float32) if self.precision.family == "binary" else dist.astype(np.float32)
            found = (idx >= 0).sum(axis=1)
            short = found < k  # an approximate index that could not fill k
            # a tie at the k-th score that reaches the last returned candidate may continue past it
            open_tie = (found == depth) & (sc[:, k - 1] == sc[:, depth - 1]) & (depth < self.n_docs)
            done = ~short & ~open_tie
            sc = np.where(idx >= 0, sc, -np.inf)
            top_s, top_i = sorted_topk(sc[done], idx[done], k)
            scores[todo[done]], indices[todo[done]] = top_s, top_i
            todo = todo[~done]
            if short[~done].any() and not self.approximate:
                raise RuntimeError("a FAISS flat index returned fewer results than it holds")
            if short[~done].any():
                effort *= 2
            if open_tie[~done].any():
                depth = min(self.n_docs, depth * 2)
            if effort > 2 * self.n_docs:  # every cell probed / the whole graph visited: cannot fill more
                raise RuntimeError(f"FAISS {self.spec.backend} cannot return {k} results for some queries")
        return scores, indices

    def _set_effort(self, k: int, effort: int) -> None:
        """Search parameters, multiplied by `effort` for queries that came back short."""
        faiss = _faiss()
        if self.spec.backend == "hnsw":
            self.index.hnsw.efSearch = max(self.spec.efs, k) * effort
        elif self.spec.backend == "ivf":
            ivf = faiss.extract_index_ivf(self.index) if self.precision.family != "binary" else self.index
            ivf.nprobe = min(ivf.nlist, self.spec.probes * effort)


def query_vectors(precision: Precision, queries: np.ndarray, params: Any) -> np.ndarray:
    """What the FAISS index of a precision is searched with: packed bits (binary), the values of the query's int8
    codes (int8, see the module docstring), the float32 queries (float32)."""
    if precision.family == "float":
        return np.ascontiguousarray(queries, dtype=np.float32)
    return _doc_vectors(precision, queries, params)


def _doc_vectors(precision: Precision, chunk: np.ndarray, params: Any) -> np.ndarray:
    codes = precision.encode_documents(chunk, params)
    if precision.family == "int8":
        codes = precision.code_values(codes, params)  # type: ignore[attr-defined]
    return np.ascontiguousarray(codes)


def _set_int8_ranges(index: Any, precision: Precision, params: Any, dim: int) -> None:
    """Give the index's 8-bit scalar quantizer leafbench's calibration (byte c + 128 decodes to c's value)."""
    faiss = _faiss()
    unit = precision.code_values(np.ones((1, dim), np.int8), params)[0].astype(np.float32)  # type: ignore[attr-defined]
    sq_index = faiss.downcast_index(index.storage) if hasattr(index, "storage") else index
    faiss.copy_array_to_vector(np.concatenate((-128.5 * unit, 255 * unit)).astype(np.float32), sq_index.sq.trained)
    sq_index.is_trained = True
    index.is_trained = True


def _empty_index(precision: Precision, spec: SearchSpec, dim: int, n: int) -> Any:
    faiss = _faiss()
    ip = faiss.METRIC_INNER_PRODUCT
    if precision.family == "binary":
        bits = 8 * ((dim + 7) // 8)  # packbits pads to whole bytes with zeros on both sides: Hamming unchanged
        if spec.backend == "flat":
            return faiss.IndexBinaryFlat(bits)
        if spec.backend == "hnsw":
            index = faiss.IndexBinaryHNSW(bits, spec.m)
            index.hnsw.efConstruction = spec.efc
            return index
        return faiss.IndexBinaryIVF(faiss.IndexBinaryFlat(bits), bits, ivf_cells(spec, n))
    if precision.family == "int8":
        qt = faiss.ScalarQuantizer.QT_8bit
        if spec.backend == "flat":
            return faiss.IndexScalarQuantizer(dim, qt, ip)
        if spec.backend == "hnsw":
            index = faiss.IndexHNSWSQ(dim, qt, spec.m, ip)
            index.hnsw.efConstruction = spec.efc
            return index
        return faiss.IndexIVFScalarQuantizer(faiss.IndexFlatIP(dim), dim, ivf_cells(spec, n), qt, ip, False)
    if spec.backend == "flat":
        return faiss.IndexFlatIP(dim)
    if spec.backend == "hnsw":
        index = faiss.IndexHNSWFlat(dim, spec.m, ip)
        index.hnsw.efConstruction = spec.efc
        return index
    return faiss.IndexIVFFlat(faiss.IndexFlatIP(dim), dim, ivf_cells(spec, n), ip)


def build_faiss_index(rows: Rows, precision: Precision, spec: SearchSpec, chunk: int = 32768) -> FaissIndex:
    """Calibrate (int8), train (IVF, on evenly spaced rows) and add the rows chunk by chunk."""
    t0 = time.perf_counter()
    n, dim = int(rows.shape[0]), int(rows.shape[1])
    params = precision.calibrate(rows, chunk, "docs")
    index = _empty_index(precision, spec, dim, n)
    if spec.backend == "ivf":  # the coarse cells are trained (for int8 the ranges are then overwritten below)
        index.cp.seed = IVF_SEED
        sample = np.unique(np.linspace(0, n - 1, min(n, TRAIN_PER_CELL * ivf_cells(spec, n))).astype(np.int64))
        index.train(_doc_vectors(precision, np.asarray(rows[sample], np.float32), params))
    if precision.family == "int8":
        _set_int8_ranges(index, precision, params, dim)
    for _, arr in iter_chunks(rows, chunk, "docs"):
        index.add(_doc_vectors(precision, arr, params))
    stats: dict[str, Any] = {"index_build_s": round(time.perf_counter() - t0, 3), "index_loaded": False}
    if spec.backend == "ivf":
        stats.update(nlist=ivf_cells(spec, n), train_seed=IVF_SEED)
    if spec.backend == "hnsw":  # levels are seeded; parallel insertion may still order links differently
        stats["build_threads"] = int(_faiss().omp_get_max_threads())
    return FaissIndex(index, precision, spec, params, dim, stats)


# ------------------------------------------------------------------------------------------- the index cache


def rows_digest(rows: Rows, chunk: int = 32768) -> str:
    """A content digest of the rows (what names them when the caller gives no key), read chunk by chunk."""
    h = hashlib.blake2b(digest_size=16)
    h.update(repr(tuple(rows.shape)).encode())
    for _, arr in iter_chunks(rows, chunk, "docs"):
        h.update(np.ascontiguousarray(arr, np.float32).tobytes())
    return h.hexdigest()


def index_key(rows_key: str, n: int, dim: int, precision: Precision, spec: SearchSpec) -> str:
    """The cache key: what built the index (rows, their size, precision, backend identity, FAISS version)."""
    blob = json.dumps({"rows": rows_key, "n": n, "dim": dim, "precision": precision.name,
                       "backend": spec.identity(), "faiss": _faiss().__version__, "version": CACHE_VERSION},
                      sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:32]


def cached_faiss_index(rows: Rows, precision: Precision, spec: SearchSpec, chunk: int = 32768,
                       docs_key: str | None = None) -> FaissIndex:
    """The FAISS index for (rows, precision, spec) from `<cache>/indexes/<key>/`, built and saved there if absent."""
    rows_key = docs_key or getattr(rows, "fingerprint", None) or rows_digest(rows, chunk)
    n, dim = int(rows.shape[0]), int(rows.shape[1])
    key = index_key(rows_key, n, dim, precision, spec)
    folder = cache_dir() / "indexes" / key
    loaded = _load(folder, precision, spec, dim)
    if loaded is not None:
        return loaded
    built = build_faiss_index(rows, precision, spec, chunk)
    built.stats["index_bytes"] = _save(folder, built, {"rows": rows_key, "n": n, "dim": dim,
                                                       "precision": precision.name, "backend": spec.identity()})
    built.stats["index_key"] = key
    return built


def _save(folder: Path, built: FaissIndex, meta: dict[str, Any]) -> int:
    """Write index + calibration + meta into a temp folder, then rename it into place (atomic); returns bytes."""
    faiss = _faiss()
    folder.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{folder.name}.", dir=folder.parent))
    try:
        write = faiss.write_index_binary if built.precision.family == "binary" else faiss.write_index
        write(built.index, str(tmp / "index.faiss"))
        cal = built.params
        if isinstance(cal, Int8Calibration):
            np.savez(tmp / "calibration.npz", scheme=cal.scheme,
                     **{f: getattr(cal, f) for f in ("scale", "ranges") if getattr(cal, f) is not None})
        (tmp / "meta.json").write_text(json.dumps(meta, sort_keys=True))
        size = (tmp / "index.faiss").stat().st_size
        try:
            os.replace(tmp, folder)
        except OSError:  # another process saved the same index first: theirs is as good as ours
            shutil.rmtree(tmp, ignore_errors=True)
        return size
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _load(folder: Path, precision: Precision, spec: SearchSpec, dim: int) -> FaissIndex | None:
    """A saved index, or None when there is none (or it is unreadable: then it is rebuilt)."""
    path = folder / "index.faiss"
    if not path.is_file():
        return None
    faiss = _faiss()
    t0 = time.perf_counter()
    try:
        read = faiss.read_index_binary if precision.family == "binary" else faiss.read_index
        index = read(str(path))
        params = None
        if precision.family == "int8":
            with np.load(folder / "calibration.npz") as z:
                params = Int8Calibration(str(z["scheme"]), **{f: z[f] for f in ("scale", "ranges") if f in z})
    except (RuntimeError, OSError, KeyError, ValueError):
        shutil.rmtree(folder, ignore_errors=True)
        return None
    stats = {"index_build_s": 0.0, "index_loaded": True,
             "index_load_s": round(time.perf_counter() - t0, 3), "index_bytes": path.stat().st_size,
             "index_key": folder.name}
    if spec.backend == "ivf":
        stats["nlist"] = int(faiss.extract_index_ivf(index).nlist if precision.family != "binary" else index.nlist)
    return FaissIndex(index, precision, spec, params, dim, stats)

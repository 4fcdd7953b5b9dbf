"""`retrieve`: top-k documents per query under a precision and a search backend, with optional float32 rescoring.

Rescoring (`rescore=R`) is the usual "quantized index + exact rescoring" deployment, taken literally: the top R
quantized candidates are rescored by the float32 query . document dot product and re-sorted, and the candidates
below them keep the quantized order; k results are returned (R may be smaller or larger than k). Only the R
rescored rows are read back from the document rows (gathered by index, so a memory-mapped corpus stays on disk).
"""

from __future__ import annotations

import time
from typing import Any, Protocol

import numpy as np

from leafbench.precisions import Precision, get
from leafbench.search.exact import ExactScan, TorchFloatScan, scan_device
from leafbench.search.spec import SearchSpec
from leafbench.search.topk import TopK, sorted_topk, spans
from leafbench.transforms import Rows, as_float_matrix, as_rows, check_finite, gather

RESCORE_BYTES = 64 << 20  # gathered float32 candidate vectors per rescoring step


class Index(Protocol):
    """What a search backend provides (the exact scan, the torch scan and the FAISS indexes all do)."""

    approximate: bool  # True when results may differ from the exact scan (recall is then measured)
    stats: dict[str, Any]  # what building it cost (time, bytes, whether it came from the index cache)

    @property
    def n_docs(self) -> int: ...

    @property
    def variant(self) -> str: ...

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(float32 scores [nq, k], int64 row indices [nq, k]) under the tie rule (leafbench.search.topk)."""
        ...


def search_identity(backend: SearchSpec, precision: str, device: str = "auto") -> dict[str, Any]:
    """What about a cell's search changes its results: the backend's identity, the FAISS version for a FAISS
    backend (read from the installed distribution, FAISS itself is not imported), and the device for an exact scan
    that runs on CUDA (float32 sums in another order there; CPU scans record nothing, so their cells keep their
    hashes)."""
    out = backend.identity()
    if backend.backend != "exact":
        out["faiss"] = faiss_version()
    elif scan_device(get(precision), device) == "cuda":
        out["device"] = "cuda"
    return out


def faiss_version() -> str:
    """The installed FAISS distribution's version (faiss-cpu, faiss-gpu or faiss), else the module's own."""
    from importlib.metadata import PackageNotFoundError, version

    for dist in ("faiss-cpu", "faiss-gpu", "faiss-gpu-cu12", "faiss"):
        try:
            return version(dist)
        except PackageNotFoundError:
            continue
    import faiss

    return str(faiss.__version__)


def build_index(docs: Rows, precision: str, backend: SearchSpec | None = None, query_chunk: int = 1024,
                doc_chunk: int = 32768, device: str = "auto", docs_key: str | None = None) -> Index:
    """The searchable index of `docs` under `precision` and `backend` (None or `exact`: the exact scan).

    FAISS backends are built once per (rows, dim, precision, backend) and kept in the index cache (`docs_key`
    names the rows, e.g. a store namespace; without it the rows are digested).
    """
    prec = get(precision)
    rows = as_rows(docs, "docs")
    if backend is None or backend.backend == "exact":
        if scan_device(prec, device) == "cuda":
            return TorchFloatScan(rows, prec, query_chunk, doc_chunk, "cuda")
        return ExactScan(rows, prec, query_chunk, doc_chunk)
    from leafbench.search.faiss_index import cached_faiss_index

    return cached_faiss_index(rows, prec, backend, doc_chunk, docs_key)


def retrieve(queries: np.ndarray, docs: Rows, precision: str, k: int, rescore: int = 0,
             backend: SearchSpec | None = None, query_chunk: int = 1024, doc_chunk: int = 32768,
             device: str = "auto", docs_key: str | None = None) -> TopK:
    """Top-k documents per query (see the module docstring for rescoring; float32 ignores `rescore`).

    `docs` is an ndarray or any row source. `TopK.stats` records the backend and, each apart, the time to build the
    index (`index_build_s`: packing codes, or a FAISS build; a cached FAISS index records 0 and its load time), to
    search (`search_s`), to rescore (`rescore_s`, when rescoring) and, for an approximate backend, to measure the
    recall of its candidates against the exact scan (`recall_s`, beside `recall_vs_exact`): what a user's query
    pays is search + rescoring, not the build or the recall measurement.
    """
    queries = as_float_matrix(queries, "queries")
    check_finite(queries, "queries")
    rows = as_rows(docs, "docs")
    if queries.shape[1] != rows.shape[1]:
        raise ValueError(f"queries are {queries.shape[1]}-d but docs are {rows.shape[1]}-d")
    if len(rows) == 0:
        raise ValueError("cannot retrieve from an empty document collection")
    if k < 1 or rescore < 0:
        raise ValueError(f"need k >= 1 and rescore >= 0, got k={k}, rescore={rescore}")
    prec = get(precision)
    k = min(k, len(rows))
    depth = min(rescore, len(rows)) if prec.rescorable else 0
    t0 = time.perf_counter()
    index = build_index(rows, precision, backend, query_chunk, doc_chunk, device, docs_key)
    build_s = time.perf_counter() - t0
    n_candidates = max(k, depth)
    t0 = time.perf_counter()
    scores, indices = index.search(queries, n_candidates)
    stats = {"index_build_s": round(build_s, 4), **index.stats, "search_s": round(time.perf_counter() - t0, 4)}
    if index.approximate:
        t0 = time.perf_counter()
        stats["recall_vs_exact"] = _recall_vs_exact(index, queries, rows, prec, indices, query_chunk, doc_chunk)
        stats["recall_s"] = round(time.perf_counter() - t0, 4)
    if not depth:
        return TopK(scores[:, :k], indices[:, :k], index.variant, 0, stats)
    t0 = time.perf_counter()
    scores, indices = rescore_head(queries, rows, scores, indices, depth, k)
    stats["rescore_s"] = round(time.perf_counter() - t0, 4)
    return TopK(scores, indices, f"{index.variant}; float32 rescoring of top {depth}", min(depth, k), stats)


def rescore_head(queries: np.ndarray, rows: Rows, scores: np.ndarray, candidates: np.ndarray, depth: int,
                 k: int) -> tuple[np.ndarray, np.ndarray]:
    """The first `depth` candidates of each row rescored in float32 and re-sorted (tie rule), then the rest in
    their given order, cut to k columns."""
    head = candidates[:, :depth]
    exact = np.empty(head.shape, np.float32)
    step = max(1, RESCORE_BYTES // (4 * depth * rows.shape[1]))
    for start, stop in spans(len(head), step):
        vectors = gather(rows, head[start:stop])  # [step, depth, dim]
        exact[start:stop] = np.matmul(vectors, queries[start:stop, :, None])[..., 0]
    head_scores, head_idx = sorted_topk(exact, head, min(depth, k))
    if depth >= k:
        return head_scores, head_idx
    return (np.concatenate((head_scores, scores[:, depth:k].astype(np.float32)), axis=1),
            np.concatenate((head_idx, candidates[:, depth:k]), axis=1))


def _recall_vs_exact(index: Index, queries: np.ndarray, rows: Rows, prec: Precision, indices: np.ndarray,
                     query_chunk: int, doc_chunk: int) -> dict[str, float]:
    """Fraction of the exact scan's top-c the approximate index also returned, at c = 10 and the full depth."""
    depth = indices.shape[1]
    _, exact = ExactScan(rows, prec, query_chunk, doc_chunk, params=getattr(index, "params", None)).search(
        queries, depth)
    out = {}
    for c in sorted({min(10, depth), depth}):
        hits = [len(np.intersect1d(a[:c], b[:c], assume_unique=True)) for a, b in zip(indices, exact)]
        out[str(c)] = round(float(np.mean(hits)) / c, 6) if hits else 1.0
    return out

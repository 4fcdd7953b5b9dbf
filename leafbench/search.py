"""Exact top-k retrieval over float32, int8 and binary embeddings, in bounded memory.

The evaluator only needs `retrieve`; behind it sits a small `Index` protocol (`variant`, `n_docs`, `search`) with
one exact-scan implementation per precision, so a FAISS/usearch index can replace the scan later without touching
the evaluator. The scan never materialises the queries x corpus score matrix: it decodes one document chunk at a
time (a chunk is decoded once and scored against every query chunk) and merges each block's top-k into a running
top-k per query.

Ranking is a total order: score descending, then lower document index first, so results are deterministic even
for the massive ties of Hamming scores. Scores are exact for the quantized variants: the int8 and bit products are
small integers, computed in a float type that holds them exactly.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from leafbench.transforms import as_float_matrix, binarize, calibrate_int8, quantize_int8

PRECISIONS = ("float32", "int8", "int8-affine", "binary")
RESCORABLE = ("int8", "int8-affine", "binary")  # float32 is already exact; rescoring it would be a no-op

VARIANTS = {
    "float32": "float32: exact dot product of L2-normalised embeddings (cosine)",
    "int8": "int8: symmetric per-dim scale (max|x| over corpus / 127), calibrated on corpus; "
            "dequantized dot product",
    "int8-affine": "int8-affine: sentence-transformers quantize_embeddings int8 (per-dim corpus min/max -> "
                   "0..255 - 128), calibrated on corpus; raw integer dot product",
    "binary": "binary: hamming on packed sign bits; score = -hamming",
}
_EXACT_FLOAT32_INT = 2 ** 24  # float32 holds every integer up to this, so integer dot products below it are exact


@dataclass
class TopK:
    """Top-k per query: rows sorted by score descending (ties: lower doc index first); `variant` says how."""

    scores: np.ndarray  # float32 [nq, k]
    indices: np.ndarray  # int64 [nq, k], row indices into the document matrix
    variant: str


class Index(Protocol):
    """A searchable document collection: what an approximate index must provide to replace the exact scan."""

    @property
    def variant(self) -> str: ...

    @property
    def n_docs(self) -> int: ...

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """(scores [nq, k], int64 indices [nq, k]) for float queries, sorted by score desc, then index asc."""
        ...


class ExactScan:
    """Brute-force scan; subclasses say how queries and document chunks become float matrices whose product
    is the score (or, for binary, maps to it)."""

    variant = ""
    dot_dtype: type[np.floating] = np.float32

    def __init__(self, n_docs: int, query_chunk: int, doc_chunk: int):
        if query_chunk < 1 or doc_chunk < 1:
            raise ValueError(f"query_chunk and doc_chunk must be >= 1, got {query_chunk} and {doc_chunk}")
        self.n_docs = n_docs
        self.query_chunk = query_chunk
        self.doc_chunk = doc_chunk

    def _query_matrix(self, queries: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def _doc_matrix(self, start: int, stop: int) -> np.ndarray:
        raise NotImplementedError

    def _scores(self, dots: np.ndarray) -> np.ndarray:
        """Map the block product to scores (identity except for binary)."""
        return dots

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact top-min(k, n_docs) per query; memory is one decoded doc chunk plus one score block."""
        k = min(k, self.n_docs)
        qmat = self._query_matrix(queries).astype(self.dot_dtype, copy=False)
        spans = list(_spans(len(qmat), self.query_chunk))
        best = [(np.empty((stop - start, 0), self.dot_dtype), np.empty((stop - start, 0), np.int64))
                for start, stop in spans]
        for dstart, dstop in _spans(self.n_docs, self.doc_chunk):
            dmat = self._doc_matrix(dstart, dstop).astype(self.dot_dtype, copy=False)
            for i, (qstart, qstop) in enumerate(spans):
                block_scores, block_idx = block_topk(self._scores(qmat[qstart:qstop] @ dmat.T), k)
                best[i] = merge_topk(*best[i], block_scores, block_idx + dstart, k)
        scores = np.concatenate([s for s, _ in best]) if best else np.empty((0, k), self.dot_dtype)
        indices = np.concatenate([i for _, i in best]) if best else np.empty((0, k), np.int64)
        return scores.astype(np.float32), indices


class FloatScan(ExactScan):
    """float32 dot product; on L2-normalised inputs it is the cosine."""

    variant = VARIANTS["float32"]

    def __init__(self, docs: np.ndarray, query_chunk: int, doc_chunk: int):
        super().__init__(len(docs), query_chunk, doc_chunk)
        self.docs = docs

    def _query_matrix(self, queries: np.ndarray) -> np.ndarray:
        return queries

    def _doc_matrix(self, start: int, stop: int) -> np.ndarray:
        return self.docs[start:stop]


class Int8Scan(ExactScan):
    """Symmetric int8: sum_d (q_d s_d)(c_d s_d) = (q * s^2) . c, so the doc codes are used as they are stored."""

    variant = VARIANTS["int8"]

    def __init__(self, docs: np.ndarray, query_chunk: int, doc_chunk: int):
        super().__init__(len(docs), query_chunk, doc_chunk)
        self.calibration = calibrate_int8(docs, "int8")
        self.codes = quantize_int8(docs, self.calibration)

    def _query_matrix(self, queries: np.ndarray) -> np.ndarray:
        scale = self.calibration.scale
        assert scale is not None
        return quantize_int8(queries, self.calibration).astype(np.float32) * (scale * scale)

    def _doc_matrix(self, start: int, stop: int) -> np.ndarray:
        return self.codes[start:stop]


class Int8AffineScan(ExactScan):
    """sentence-transformers' int8 codes for docs and queries, raw integer dot product (exact, as floats)."""

    variant = VARIANTS["int8-affine"]

    def __init__(self, docs: np.ndarray, query_chunk: int, doc_chunk: int):
        super().__init__(len(docs), query_chunk, doc_chunk)
        self.calibration = calibrate_int8(docs, "int8-affine")
        self.codes = quantize_int8(docs, self.calibration)
        # |code| <= 128, so |dot| <= 128 * 128 * dim: exact in float32 up to 1024 dims, else ranked in float64
        # (TopK.scores are still float32, so past 1024 dims the reported scores, not the ranking, are rounded)
        if 128 * 128 * docs.shape[1] > _EXACT_FLOAT32_INT:
            self.dot_dtype = np.float64

    def _query_matrix(self, queries: np.ndarray) -> np.ndarray:
        return quantize_int8(queries, self.calibration)

    def _doc_matrix(self, start: int, stop: int) -> np.ndarray:
        return self.codes[start:stop]


class BinaryScan(ExactScan):
    """Hamming distance on packed bits: with bits mapped to +-1, q . d = dim - 2 * hamming, exactly."""

    variant = VARIANTS["binary"]

    def __init__(self, docs: np.ndarray, query_chunk: int, doc_chunk: int):
        super().__init__(len(docs), query_chunk, doc_chunk)
        self.dim = docs.shape[1]
        self.bits = binarize(docs)

    def _signs(self, packed: np.ndarray) -> np.ndarray:
        signs = np.unpackbits(packed, axis=1, count=self.dim).astype(np.float32)
        return signs * 2 - 1

    def _query_matrix(self, queries: np.ndarray) -> np.ndarray:
        return self._signs(binarize(queries))

    def _doc_matrix(self, start: int, stop: int) -> np.ndarray:
        return self._signs(self.bits[start:stop])

    def _scores(self, dots: np.ndarray) -> np.ndarray:
        dots -= self.dim  # dots - dim = -2 * hamming
        dots *= 0.5
        return dots


_SCANS: dict[str, Callable[[np.ndarray, int, int], ExactScan]] = {
    "float32": FloatScan, "int8": Int8Scan, "int8-affine": Int8AffineScan, "binary": BinaryScan,
}


def build_index(docs: np.ndarray, precision: str, query_chunk: int = 1024, doc_chunk: int = 65536) -> Index:
    """The exact-scan index for `precision` over float32 `docs` (int8 variants calibrate on these docs)."""
    if precision not in _SCANS:
        raise ValueError(f"unknown precision {precision!r}; expected one of {', '.join(PRECISIONS)}")
    return _SCANS[precision](docs, query_chunk, doc_chunk)


def retrieve(queries: np.ndarray, docs: np.ndarray, precision: str, k: int, rescore: int = 0,
             query_chunk: int = 1024, doc_chunk: int = 65536) -> TopK:
    """Exact top-k documents per query under `precision`, optionally rescoring quantized candidates in float32.

    With `rescore > 0` and a quantized precision, the top max(k, rescore) candidates of the quantized scan are
    rescored by the float32 query . float32 doc dot product and the top k of those returned (the usual
    "quantized index + exact rescoring" deployment). For float32, rescoring is a no-op and is ignored.
    """
    queries = _validated(queries, "queries")
    docs = _validated(docs, "docs")
    if queries.shape[1] != docs.shape[1]:
        raise ValueError(f"queries are {queries.shape[1]}-d but docs are {docs.shape[1]}-d")
    if len(docs) == 0:
        raise ValueError("cannot retrieve from an empty document collection")
    if k < 1 or rescore < 0:
        raise ValueError(f"need k >= 1 and rescore >= 0, got k={k}, rescore={rescore}")
    index = build_index(docs, precision, query_chunk, doc_chunk)
    k = min(k, len(docs))
    if not rescore or precision not in RESCORABLE:
        scores, indices = index.search(queries, k)
        return TopK(scores, indices, index.variant)
    n_candidates = min(max(k, rescore), len(docs))
    _, candidates = index.search(queries, n_candidates)
    scores, indices = rescore_float(queries, docs, candidates, k, rows=max(1, doc_chunk // n_candidates))
    return TopK(scores, indices, f"{index.variant}; float32 rescoring of top {n_candidates}")


def rescore_float(queries: np.ndarray, docs: np.ndarray, candidates: np.ndarray, k: int,
                  rows: int = 1024) -> tuple[np.ndarray, np.ndarray]:
    """Top k of each query's candidate doc indices by float32 dot product, `rows` queries at a time (the gathered
    candidate vectors, rows x candidates x dim, are the memory that matters)."""
    scores = np.empty(candidates.shape, np.float32)
    for start, stop in _spans(len(candidates), rows):
        gathered = docs[candidates[start:stop]]  # [rows, n_candidates, dim]
        scores[start:stop] = np.matmul(gathered, queries[start:stop, :, None])[..., 0]
    return _sorted_topk(scores, candidates, k)


def block_topk(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The exact top-k (score desc, then lower column first) of each row of a score block, in no particular order.

    argpartition picks an arbitrary subset of the values tied with the k-th largest; rows where ties straddle the
    cut are repaired to keep the lowest tied columns, which is what makes the chunked scan deterministic.
    """
    n = scores.shape[1]
    if k >= n:
        return scores, np.broadcast_to(np.arange(n, dtype=np.int64), scores.shape)
    idx = np.argpartition(scores, n - k, axis=1)[:, n - k:]
    top = np.take_along_axis(scores, idx, axis=1)
    kth = top.min(axis=1, keepdims=True)
    straddling = np.count_nonzero(scores == kth, axis=1) > np.count_nonzero(top == kth, axis=1)
    for row in np.flatnonzero(straddling):
        above = top[row] > kth[row, 0]
        tied = np.flatnonzero(scores[row] == kth[row, 0])[:k - int(above.sum())]
        idx[row] = np.concatenate((idx[row][above], tied))
        top[row] = scores[row, idx[row]]
    return top, idx.astype(np.int64, copy=False)


def merge_topk(scores_a: np.ndarray, idx_a: np.ndarray, scores_b: np.ndarray, idx_b: np.ndarray,
               k: int) -> tuple[np.ndarray, np.ndarray]:
    """Sorted top-k of the union of two candidate sets of the same queries (indices must be global)."""
    return _sorted_topk(np.concatenate((scores_a, scores_b), axis=1), np.concatenate((idx_a, idx_b), axis=1), k)


def _sorted_topk(scores: np.ndarray, indices: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """First k of each row under the total order (score desc, index asc)."""
    order = np.lexsort((indices, -scores), axis=-1)[:, :k]
    return np.take_along_axis(scores, order, axis=1), np.take_along_axis(indices, order, axis=1)


def _spans(n: int, size: int) -> Iterator[tuple[int, int]]:
    """[start, stop) ranges covering 0..n in steps of `size`."""
    for start in range(0, n, size):
        yield start, min(start + size, n)


def _validated(emb: np.ndarray, name: str) -> np.ndarray:
    """2-D finite float32 embeddings; a NaN/inf would otherwise become a silent, meaningless score."""
    arr = as_float_matrix(emb, name)
    for start, stop in _spans(len(arr), 65536):  # in chunks: the check must not cost a corpus-sized temporary
        bad = ~np.isfinite(arr[start:stop]).all(axis=1)
        if bad.any():
            raise ValueError(f"{name} contain non-finite values (NaN/inf embedding), first at row "
                             f"{start + int(np.flatnonzero(bad)[0])}")
    return arr

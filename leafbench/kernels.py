"""Score kernels for the quantized exact scans: Hamming top-k for binary codes, int8 x float products for int8.

A scan of a quantized index is only worth its smaller bytes if it never turns the corpus back into float32 matrices
as large as the float32 index. These kernels work on the stored codes a block at a time:

- `hamming_topk`: a block's top-k by Hamming distance, from FAISS's k-NN over packed bits (`faiss.knn_hamming`:
  popcount over the code bytes with a running heap per query, so no queries x documents matrix is written). FAISS's
  heap keeps the first of equal distances it meets, so the block comes last row first (the binary layout stores the
  codes so: no copy per search): the first met is then the highest row, which is the tie rule
  (`leafbench.search.topk`). Measured on the Zen 4 EPYC at
  1M x 768 bits, one thread: 8 ms for one query and 4.0 s for 1,000 (numpy popcount on uint64 words: 12.6 ms and,
  with a +-1 int8 GEMM for batches, 9.6 s; docs/deploy.md).
- `int8_dot`: int8 codes times query vectors: the block is converted to float in cache-sized pieces (never the
  whole corpus) and multiplied by the query vectors, in float32 when every partial sum of integer codes is exact
  there, else in float64. Not `torch._int_mm`: without AVX512-VNNI (AVX2 CPUs) oneDNN's int8 GEMM multiplies
  u8 x s8 pairs into saturating int16 sums, so codes near +-128 come out wrong (measured: off by up to 1e5 at
  768 dims with ATEN/oneDNN capped at AVX2).

torch and FAISS are imported on first use only (the registry and the float32 scan never need them).
"""

from __future__ import annotations

from typing import Any

import numpy as np

# Bumped when a kernel's cost changes (a search-cost calibration timed with other kernels is timed again)
VERSION = 2
PIECE_ROWS = 1024  # int8 rows converted to float at a time: 1024 x 768 x 4 B = 3 MiB stays in cache while multiplied
# (4096 rows, 12 MiB, made a single query 3-4x slower on the Zen 4 EPYC: docs/deploy.md)
_EXACT_FLOAT32_INT = 2 ** 24  # float32 holds every integer up to this


def _torch() -> Any:
    import torch

    return torch


def hamming_topk(queries: np.ndarray, last_first: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The exact top-min(k, m) of packed query bits [nq, b] against a block of m documents' packed bits given last
    row first ([m, b]: row 0 is the block's last document) under the tie rule (fewer differing bits, then the
    higher document first), as (-Hamming float32, index into the block in document order, int64)."""
    import faiss

    m = len(last_first)
    if m == 0 or len(queries) == 0:
        return np.empty((len(queries), 0), np.float32), np.empty((len(queries), 0), np.int64)
    distances, found = faiss.knn_hamming(np.ascontiguousarray(queries), np.ascontiguousarray(last_first), min(k, m))
    return np.negative(distances, dtype=np.float32), (m - 1 - found).astype(np.int64)


def int8_dot(queries: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """queries [nq, d] . int8 codes [m, d]^T, exactly (integer queries) or as the float product of their values.

    int8 queries: integral float results, exact. Float queries: float32, summed by BLAS in its own order.
    """
    torch = _torch()
    integral = queries.dtype == np.int8
    dtype = torch.float32
    if integral and 128 * 128 * codes.shape[1] > _EXACT_FLOAT32_INT:
        dtype = torch.float64  # the integer sum could exceed float32's exact range
    q = torch.from_numpy(np.ascontiguousarray(queries)).to(dtype)
    out = torch.empty((len(queries), len(codes)), dtype=dtype)
    for start in range(0, len(codes), PIECE_ROWS):
        piece = torch.from_numpy(np.ascontiguousarray(codes[start:start + PIECE_ROWS])).to(dtype)
        out[:, start:start + PIECE_ROWS] = q @ piece.T
    return out.numpy()

"""Score kernels for the quantized exact scans: Hamming distance by popcount, integer and int8 x float products.

A scan of a quantized index is only worth its smaller bytes if it never turns the corpus back into float32 matrices
as large as the float32 index. These kernels work on the stored codes a block at a time:

- `hamming_popcount`: XOR + popcount on 64-bit words (`np.bitwise_count`, numpy >= 2), the documents' words stored
  word-major ([words, n]: every word of every document contiguous), so each step is one long vector loop over the
  block and the block's words stay in cache. Its cost grows with queries x documents x words, which is what a
  query or a handful of queries pay; it is the kernel every search engine uses for binary codes.
- `hamming_gemm`: for a large batch of queries the same distances come out of one integer matrix product of the
  bits as +-1 (`torch._int_mm`, int8 x int8 -> int32, exact): q . d = dim - 2 * hamming. Unpacking a block's bits
  is paid once per block and shared by the whole batch, and an int8 GEMM runs several times faster than float32's.
- `int8_dot`: int8 codes times query vectors: the block is converted to float in cache-sized pieces (never the
  whole corpus) and multiplied by the query vectors, in float32 when every partial sum of integer codes is exact
  there, else in float64. Not `torch._int_mm`: without AVX512-VNNI (AVX2 CPUs) oneDNN's int8 GEMM multiplies
  u8 x s8 pairs into saturating int16 sums, so codes near +-128 come out wrong (measured: off by up to 1e5 at
  768 dims with ATEN/oneDNN capped at AVX2). Binary's +-1 products are far from that limit.

torch is imported on first use only (the registry and the float32 scan never need it).
"""

from __future__ import annotations

from typing import Any

import numpy as np

POPCOUNT_MAX_QUERIES = 32  # up to this many queries per block, popcount beats unpacking bits for a GEMM
PIECE_ROWS = 4096  # int8 rows converted to float at a time (4096 x 768 x 4 B = 12 MiB)
_EXACT_FLOAT32_INT = 2 ** 24  # float32 holds every integer up to this


def _torch() -> Any:
    import torch

    return torch


def _int_mm(a: np.ndarray, b_rows: np.ndarray) -> np.ndarray:
    """a [n, k] . b_rows [m, k]^T as int32, exact (int8 x int8 GEMM)."""
    torch = _torch()
    k = a.shape[1]
    if k % 8:  # torch 2.13's CPU _int_mm returns garbage for k = 1; zero columns add nothing to a dot product
        # (only +-1 operands come here: see the module docstring on saturation)
        pad = ((0, 0), (0, 8 - k % 8))
        a, b_rows = np.pad(a, pad), np.pad(b_rows, pad)
    return torch._int_mm(torch.from_numpy(np.ascontiguousarray(a)),
                         torch.from_numpy(np.ascontiguousarray(b_rows)).T).numpy()


def words(packed: np.ndarray) -> np.ndarray:
    """Packed bytes [n, b] as little-endian uint64 words [n, ceil(b / 8)], zero-padded (XOR of padding is 0)."""
    n, nbytes = packed.shape
    width = -(-nbytes // 8)
    out = np.zeros((n, width * 8), np.uint8)
    out[:, :nbytes] = packed
    return out.view("<u8")


def hamming_popcount(queries: np.ndarray, doc_words: np.ndarray) -> np.ndarray:
    """Hamming distances [nq, m] (uint16) of query words [nq, w] against word-major document words [w, m]."""
    n_words, m = doc_words.shape
    out = np.zeros((len(queries), m), np.uint16)
    xor, count = np.empty(m, np.uint64), np.empty(m, np.uint8)
    for i, query in enumerate(queries):
        row = out[i]
        for j in range(n_words):
            np.bitwise_xor(doc_words[j], query[j], out=xor)
            np.bitwise_count(xor, out=count)
            np.add(row, count, out=row)
    return out


def signs(word_rows: np.ndarray, dim: int) -> np.ndarray:
    """uint64 word rows [n, w] as int8 +-1 bits [n, dim] (the padding bits dropped)."""
    bits = np.unpackbits(np.ascontiguousarray(word_rows).view(np.uint8), axis=1, count=dim)
    return (bits.view(np.int8) << 1) - 1


def hamming_gemm(query_signs: np.ndarray, doc_words: np.ndarray, dim: int) -> np.ndarray:
    """Hamming distances [nq, m] (int32) from one int8 GEMM of +-1 bits: hamming = (dim - q . d) / 2."""
    dots = _int_mm(query_signs, signs(doc_words.T, dim))
    np.subtract(dim, dots, out=dots)
    dots >>= 1
    return dots


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

"""The quantized scans' kernels (Hamming top-k, int8 products) against the float formulas the scan used before them."""

from __future__ import annotations

import numpy as np
import pytest

from leafbench import kernels
from leafbench.precisions import get
from leafbench.search import retrieve
from leafbench.search.codes import CodeStore
from leafbench.search.exact import ExactScan
from leafbench.transforms import binarize, calibrate_int8, dequantize_int8, l2_normalize, quantize_int8


def _emb(n: int, dim: int, seed: int) -> np.ndarray:
    return l2_normalize(np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32))


def _tied(n: int, dim: int, seed: int) -> np.ndarray:
    """Few distinct rows, repeated and shuffled: massive exact ties under every precision. Dyadic values with
    max |x| = 127/128 in every dim, so symmetric int8's scale is 1/128 and its float products are exact: ties stay
    ties whatever order a kernel sums in (with arbitrary floats, float32 summation order decides near-ties)."""
    rng = np.random.default_rng(seed)
    base = rng.integers(-127, 128, (max(2, n // 8), dim)).astype(np.float32)
    base[0] = 127
    return base[rng.integers(0, len(base), n)] / 128


def _previous_scores(queries: np.ndarray, docs: np.ndarray, precision: str) -> np.ndarray:
    """The scan's scores before the kernels: bits unpacked to +-1 floats and multiplied (binary), codes decoded to
    float and multiplied by the query's values (int8), both in float32, as `doc_matrix` / `dot_dtype` did."""
    dim = docs.shape[1]
    if precision == "binary":
        q = np.unpackbits(binarize(queries), axis=1, count=dim).astype(np.float32) * 2 - 1
        d = np.unpackbits(binarize(docs), axis=1, count=dim).astype(np.float32) * 2 - 1
        return (q @ d.T - dim) * 0.5
    cal = calibrate_int8(docs, precision)
    if precision == "int8":
        qv = quantize_int8(queries, cal).astype(np.float32) * (cal.scale * cal.scale)
        return qv @ quantize_int8(docs, cal).astype(np.float32).T
    return (quantize_int8(queries, cal).astype(np.float64) @ quantize_int8(docs, cal).astype(np.float64).T)


def _tie_rule_topk(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    n = scores.shape[1]
    order = n - 1 - np.argsort(-scores[:, ::-1], axis=1, kind="stable")[:, :k]
    return np.take_along_axis(scores, order, axis=1), order


@pytest.mark.parametrize("dim", [1, 7, 37, 64, 65, 130])
@pytest.mark.parametrize("make", [_emb, _tied])
@pytest.mark.parametrize("n_queries", [1, 9])
def test_binary_scan_equals_previous_scores_and_tie_rule(dim, make, n_queries):
    queries, docs = make(n_queries, dim, 1), make(203, dim, 2)  # odd dims: padding bits in the last byte
    ref_scores, ref_idx = _tie_rule_topk(_previous_scores(queries, docs, "binary"), 25)
    for doc_chunk in (7, 64, 1000):  # 7: blocks smaller than k
        scores, idx = ExactScan(docs, get("binary"), query_chunk=4, doc_chunk=doc_chunk).search(queries, 25)
        np.testing.assert_array_equal(idx, ref_idx)
        np.testing.assert_array_equal(scores, ref_scores)  # -Hamming: small integers, exact in both


@pytest.mark.parametrize("threads", [1, 2])
def test_hamming_topk_keeps_the_highest_rows_of_a_tie(threads):
    """8-bit codes over 3,000 rows: a few distinct distances, thousands of rows at each; k = 1,000 cuts through
    them. Whatever FAISS's threading, the rows kept at the cut are the highest ones (the tie rule)."""
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(3)
    codes = rng.integers(0, 256, (3000, 1), dtype=np.uint8)
    queries = rng.integers(0, 256, (3, 1), dtype=np.uint8)
    bits = np.unpackbits(codes, axis=1)
    want = -(np.unpackbits(queries, axis=1)[:, None, :] != bits[None, :, :]).sum(axis=2).astype(np.float32)
    ref_scores, ref_idx = _tie_rule_topk(want, 1000)
    with threadpool_limits(threads):
        for q in (queries, queries[:1]):
            scores, idx = kernels.hamming_topk(q, np.ascontiguousarray(codes[::-1]), 1000)
            order = np.lexsort((-idx, -scores), axis=-1)  # kernel output is a set: put it in the tie rule's order
            np.testing.assert_array_equal(np.take_along_axis(idx, order, 1), ref_idx[:len(q)])
            np.testing.assert_array_equal(np.take_along_axis(scores, order, 1), ref_scores[:len(q)])


@pytest.mark.parametrize("precision", ["int8", "int8-affine"])
@pytest.mark.parametrize("make", [_emb, _tied])
@pytest.mark.parametrize("dim", [3, 48, 129])
def test_int8_scan_equals_previous_scores(precision, make, dim):
    queries, docs = make(20, dim, 4), make(301, dim, 5)
    previous = _previous_scores(queries, docs, precision)
    for doc_chunk in (11, 4096):
        scores, idx = ExactScan(docs, get(precision), query_chunk=8, doc_chunk=doc_chunk).search(queries, 30)
        got = np.take_along_axis(previous, idx, axis=1)
        # symmetric int8: float32 products summed in another order (torch in pieces vs numpy in one product)
        # differ in the last bits; int8-affine scores are integers and exact either way
        np.testing.assert_allclose(scores, got, rtol=0, atol=1e-6 if precision == "int8" else 0)
        ref_scores, ref_idx = _tie_rule_topk(previous, 30)
        np.testing.assert_allclose(scores, ref_scores, rtol=0, atol=1e-6 if precision == "int8" else 0)
        if precision == "int8-affine" or make is _tied:  # integer scores / exact ties: the tie rule decides
            np.testing.assert_array_equal(idx, ref_idx)


def test_int8_affine_above_1024_dims_stays_exact():
    """128 * 128 * 1100 exceeds float32's exact integers: the kernel sums in float64."""
    queries, docs = _emb(3, 1100, 6), _emb(40, 1100, 7)
    want = _previous_scores(queries, docs, "int8-affine")
    scores, idx = ExactScan(docs, get("int8-affine"), doc_chunk=16).search(queries, 40)
    np.testing.assert_array_equal(idx, _tie_rule_topk(want, 40)[1])


class _Counting:
    def __init__(self, data: np.ndarray):
        self.data, self.rows_read = data, 0

    @property
    def shape(self) -> tuple[int, int]:
        return self.data.shape

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, key):
        out = np.array(self.data[key], dtype=np.float32)
        self.rows_read += len(out)
        return out


@pytest.mark.parametrize("precision", ["int8", "int8-affine", "binary"])
def test_quantized_search_reads_codes_not_the_float_rows(precision):
    """Built once, the scan never reads (or re-quantizes) the float32 corpus again, however many searches."""
    rows = _Counting(_emb(500, 24, 8))
    scan = ExactScan(rows, get(precision), doc_chunk=64)
    after_build = rows.rows_read
    for seed in range(3):
        scan.search(_emb(4, 24, 9 + seed), 10)
    assert rows.rows_read == after_build


@pytest.mark.parametrize("precision", ["int8", "binary"])
def test_spilled_code_store_is_memory_mapped_and_searches_the_same(precision):
    docs, queries = _emb(300, 70, 10), _emb(5, 70, 11)
    prec = get(precision)
    params = prec.calibrate(docs)
    spilled = CodeStore(docs, prec, params, prec.layout(70), chunk=64, spill_bytes=0)
    held = CodeStore(docs, prec, params, prec.layout(70), chunk=64)
    assert spilled.spilled and isinstance(spilled.codes, np.memmap) and not held.spilled
    np.testing.assert_array_equal(np.asarray(spilled.codes), held.codes)
    top = retrieve(queries, docs, precision, 10)
    scan = ExactScan(docs, prec, params=params)
    scan.codes = spilled
    np.testing.assert_array_equal(scan.search(queries, 10)[1], top.indices)


@pytest.mark.parametrize("precision", ["float32", "int8", "binary"])
def test_float64_queries_are_searched_as_float32(precision):
    """A float64 query matrix (np.load of a float64 file) is the float32 search, not a float64 GEMM per block."""
    queries, docs = _emb(4, 24, 12), _emb(100, 24, 13)
    scan = ExactScan(docs, get(precision), doc_chunk=32)
    want = scan.search(queries, 10)
    got = scan.search(queries.astype(np.float64), 10)
    np.testing.assert_array_equal(got[1], want[1])
    np.testing.assert_array_equal(got[0], want[0])

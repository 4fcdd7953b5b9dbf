"""The quantized scans' kernels (popcount, int8 products) against the float formulas the scan used before them."""

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


@pytest.fixture(params=["popcount", "gemm"])
def binary_kernel(request, monkeypatch):
    """Either binary kernel, whatever the number of queries."""
    monkeypatch.setattr(kernels, "POPCOUNT_MAX_QUERIES", 10 ** 9 if request.param == "popcount" else -1)
    return request.param


@pytest.mark.parametrize("dim", [1, 7, 37, 64, 65, 130])
@pytest.mark.parametrize("make", [_emb, _tied])
def test_popcount_scan_equals_previous_scores_and_tie_rule(binary_kernel, dim, make):
    queries, docs = make(9, dim, 1), make(203, dim, 2)  # odd dims: padding bits in the last byte and word
    ref_scores, ref_idx = _tie_rule_topk(_previous_scores(queries, docs, "binary"), 25)
    for doc_chunk in (7, 64, 1000):
        scores, idx = ExactScan(docs, get("binary"), query_chunk=4, doc_chunk=doc_chunk).search(queries, 25)
        np.testing.assert_array_equal(idx, ref_idx)
        np.testing.assert_array_equal(scores, ref_scores)  # -Hamming: small integers, exact in both


def test_hamming_kernels_agree_on_random_words():
    rng = np.random.default_rng(3)
    for dim in (5, 64, 100, 768):
        packed = rng.integers(0, 256, (300, -(-dim // 8)), dtype=np.uint8)
        packed[:, -1] &= np.uint8((0xFF << (-dim % 8)) & 0xFF)  # packbits leaves the padding bits zero
        words = kernels.words(packed)
        bits = np.unpackbits(packed, axis=1, count=dim)
        want = (bits[:40, None, :] != bits[None, :, :]).sum(axis=2)
        np.testing.assert_array_equal(kernels.hamming_popcount(words[:40], words.T.copy()), want)
        np.testing.assert_array_equal(kernels.hamming_gemm(kernels.signs(words[:40], dim), words.T.copy(), dim),
                                      want)


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

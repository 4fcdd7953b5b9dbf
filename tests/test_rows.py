"""Row sources: search and transforms read any lazy [n, dim] source chunk by chunk, never the whole matrix."""

from __future__ import annotations

import numpy as np
import pytest

from leafbench.precisions import PRECISIONS, get
from leafbench.search import retrieve
from leafbench.search.exact import ExactScan, TorchFloatScan
from leafbench.transforms import TruncatedRows, calibrate_int8, l2_normalize, truncate


class CountingRows:
    """A RowSource that refuses any read of more than `limit` rows and counts the rows it hands out."""

    def __init__(self, data: np.ndarray, limit: int):
        self.data, self.limit, self.rows_read, self.reads = data, limit, 0, 0
        self.dtype = np.dtype(np.float32)

    @property
    def shape(self) -> tuple[int, int]:
        return self.data.shape

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, key):
        out = np.array(self.data[key], dtype=np.float32)  # a copy, as a memory-mapped gather would be
        if len(out) > self.limit:
            raise AssertionError(f"read {len(out)} rows at once (limit {self.limit})")
        self.rows_read += len(out)
        self.reads += 1
        return out


def _emb(n: int, dim: int, seed: int) -> np.ndarray:
    return l2_normalize(np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32))


@pytest.mark.parametrize("precision", list(PRECISIONS))
@pytest.mark.parametrize("rescore", [0, 7])
def test_search_over_a_row_source_equals_the_array_and_reads_in_chunks(precision, rescore):
    queries, docs = _emb(9, 24, 0), _emb(500, 24, 1)
    rows = CountingRows(docs, limit=64)
    top = retrieve(queries, rows, precision, 12, rescore=rescore, doc_chunk=64)
    ref = retrieve(queries, docs, precision, 12, rescore=rescore)
    np.testing.assert_array_equal(top.indices, ref.indices)
    # float32 dot products summed in another order (a 64-row chunk vs the whole matrix: BLAS blocks them
    # differently, e.g. OpenBLAS's Haswell kernels) differ in the last bits; integer scores stay exact.
    np.testing.assert_allclose(top.scores, ref.scores, rtol=1e-6, atol=1e-6)
    passes = 2 if precision.startswith("int8") else 1  # calibration + scan
    extra = 9 * 7 if rescore and precision != "float32" else 0  # at most the rescored candidates, gathered
    assert rows.rows_read <= passes * 500 + extra


def test_exact_scan_never_holds_more_than_a_chunk():
    """The scan's memory is one chunk + the top-k buffers: a source that refuses bigger reads still works."""
    queries, docs = _emb(5, 16, 2), _emb(1000, 16, 3)
    scan = ExactScan(CountingRows(docs, limit=100), get("binary"), doc_chunk=100)
    _, idx = scan.search(queries, 10)
    np.testing.assert_array_equal(idx, ExactScan(docs, get("binary")).search(queries, 10)[1])
    with pytest.raises(AssertionError, match="limit 100"):
        ExactScan(CountingRows(docs, limit=100), get("binary"), doc_chunk=101).search(queries, 10)


def test_truncated_rows_is_a_lazy_truncate():
    docs = _emb(50, 32, 4)
    view = TruncatedRows(CountingRows(docs, limit=50), 8)
    assert view.shape == (50, 8) and len(view) == 50 and view.rows.rows_read == 0
    np.testing.assert_allclose(view[5:9], truncate(docs, 8)[5:9], rtol=1e-6)
    np.testing.assert_allclose(view[np.array([3, 1, 3])], truncate(docs, 8)[[3, 1, 3]], rtol=1e-6)
    cal, ref = calibrate_int8(view, "int8", chunk=7), calibrate_int8(truncate(docs, 8), "int8")
    np.testing.assert_array_equal(cal.scale, ref.scale)
    with pytest.raises(ValueError, match="truncate 32-d embeddings to 33"):
        TruncatedRows(docs, 33)


def test_non_finite_rows_of_a_row_source_are_refused():
    docs = _emb(40, 8, 5)
    docs[33, 2] = np.nan
    with pytest.raises(ValueError, match="docs contain non-finite.*row 33"):
        retrieve(_emb(2, 8, 6), CountingRows(docs, limit=10), "float32", 3, doc_chunk=10)


def test_torch_scan_equals_numpy_scan_with_ties():
    """The CUDA path's code, run by torch on the CPU: same top-k, ties resolved by the same rule."""
    pytest.importorskip("torch")
    rng = np.random.default_rng(9)
    dyadic = rng.integers(-127, 128, (37, 16)).astype(np.float32) / 128  # exact products: ties are exact ties
    queries, docs = dyadic[:7], np.repeat(dyadic[7:], 5, axis=0)[rng.permutation(150)]
    ref = ExactScan(docs, get("float32"), doc_chunk=40).search(queries, 13)
    got = TorchFloatScan(docs, get("float32"), doc_chunk=40, device="cpu").search(queries, 13)
    np.testing.assert_array_equal(got[1], ref[1])
    np.testing.assert_allclose(got[0], ref[0], rtol=1e-6)

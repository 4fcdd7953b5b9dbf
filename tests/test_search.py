"""Chunked exact search against brute-force references (full score matrix + a sort under the tie rule)."""

from __future__ import annotations

import numpy as np
import pytest

from leafbench.metrics import evaluate_run, run_from_topk
from leafbench.precisions import get
from leafbench.search import block_topk, build_index, retrieve
from leafbench.transforms import binarize, calibrate_int8, dequantize_int8, l2_normalize, quantize_int8

PRECISIONS = ["float32", "int8", "int8-affine", "binary"]
VARIANTS = {name: get(name).variant for name in PRECISIONS}


def _emb(n: int, dim: int, seed: int) -> np.ndarray:
    return l2_normalize(np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32))


def _reference_scores(queries: np.ndarray, docs: np.ndarray, precision: str) -> np.ndarray:
    """The full [nq, nd] score matrix of each precision, computed the obvious way (float64 / int64)."""
    if precision == "float32":
        return queries.astype(np.float64) @ docs.T.astype(np.float64)
    cal = calibrate_int8(docs, precision) if precision.startswith("int8") else None
    if precision == "int8":
        return (dequantize_int8(quantize_int8(queries, cal), cal).astype(np.float64)
                @ dequantize_int8(quantize_int8(docs, cal), cal).T.astype(np.float64))
    if precision == "int8-affine":
        return (quantize_int8(queries, cal).astype(np.int64) @ quantize_int8(docs, cal).T.astype(np.int64)
                ).astype(np.float64)
    qbits = np.unpackbits(binarize(queries), axis=1, count=queries.shape[1])
    dbits = np.unpackbits(binarize(docs), axis=1, count=docs.shape[1])
    return -(qbits[:, None, :] != dbits[None, :, :]).sum(axis=2).astype(np.float64)


def _reference_topk(scores: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The tie rule by hand: score descending, ties by higher doc index (a stable sort of the reversed columns)."""
    n = scores.shape[1]
    order = n - 1 - np.argsort(-scores[:, ::-1], axis=1, kind="stable")[:, :k]
    return np.take_along_axis(scores, order, axis=1), order


@pytest.fixture(scope="module")
def data() -> tuple[np.ndarray, np.ndarray]:
    return _emb(23, 37, 0), _emb(157, 37, 1)  # 37 dims: binary's last byte is padded


@pytest.mark.parametrize("precision", PRECISIONS)
def test_chunked_search_equals_brute_force(data, precision):
    queries, docs = data
    ref_scores, ref_idx = _reference_topk(_reference_scores(queries, docs, precision), 20)
    for query_chunk, doc_chunk in [(1024, 65536), (5, 13), (1, 7), (4, 1)]:  # k=20 > doc_chunk forces merging
        top = retrieve(queries, docs, precision, 20, query_chunk=query_chunk, doc_chunk=doc_chunk)
        assert top.scores.dtype == np.float32 and top.indices.dtype == np.int64
        assert top.scores.shape == top.indices.shape == (23, 20)
        np.testing.assert_array_equal(top.indices, ref_idx)
        np.testing.assert_allclose(top.scores, ref_scores, rtol=1e-5, atol=1e-6)
        assert top.variant == VARIANTS[precision]


@pytest.mark.parametrize("precision", ["int8-affine", "binary"])
def test_integer_scores_are_exact(data, precision):
    """Raw int8 dot products and Hamming distances are integers and must come out exactly."""
    queries, docs = data
    ref_scores, _ = _reference_topk(_reference_scores(queries, docs, precision), 30)
    np.testing.assert_array_equal(retrieve(queries, docs, precision, 30, doc_chunk=11).scores, ref_scores)


def test_binary_score_is_minus_hamming_via_unpackbits(data):
    queries, docs = data
    top = retrieve(queries, docs, "binary", 5)
    q, d = binarize(queries), binarize(docs)
    for row in range(len(queries)):
        for score, doc in zip(top.scores[row], top.indices[row]):
            assert score == -int(np.unpackbits(q[row] ^ d[doc]).sum())


def test_int8_symmetric_preserves_dot_product():
    """The point of the symmetric scheme: int8 scores stay close to the float32 cosine (the affine one does not)."""
    queries, docs = _emb(20, 64, 5), _emb(2000, 64, 6)  # a corpus large enough that queries rarely clip
    top = retrieve(queries, docs, "int8", 10)
    exact = np.take_along_axis(queries @ docs.T, top.indices, axis=1)
    assert np.abs(top.scores - exact).mean() < 0.005


def _dyadic(n: int, dim: int, seed: int) -> np.ndarray:
    """Multiples of 1/128 with every dim reaching 127/128: every precision's products and sums are exact in
    float32 (the int8 scale is exactly 1/128), so equal vectors tie exactly whatever BLAS's summation order."""
    emb = np.random.default_rng(seed).integers(-127, 128, (n, dim)).astype(np.float32)
    emb[0] = 127
    return emb / 128


@pytest.mark.parametrize("precision", PRECISIONS)
def test_ties_prefer_higher_doc_index_in_every_chunking(precision):
    """Duplicated docs tie; the order must not depend on chunk sizes or on argpartition's choice among ties."""
    docs = np.repeat(_dyadic(5, 16, 2), 12, axis=0)[np.random.default_rng(3).permutation(60)]
    queries = _dyadic(9, 16, 4)
    ref_scores = _reference_scores(queries, docs, precision)
    assert (np.sort(ref_scores, axis=1)[:, 1:] == np.sort(ref_scores, axis=1)[:, :-1]).sum() >= 9 * 50  # ties
    _, ref_idx = _reference_topk(ref_scores, 17)
    for query_chunk, doc_chunk in [(1024, 65536), (2, 7), (3, 16), (1, 1)]:
        top = retrieve(queries, docs, precision, 17, query_chunk=query_chunk, doc_chunk=doc_chunk)
        np.testing.assert_array_equal(top.indices, ref_idx)


def test_block_topk_repairs_ties_straddling_the_cut():
    scores = np.array([[0.5, 0.9, 0.5, 0.5, 0.1, 0.5]], np.float32)
    top, idx = block_topk(scores, 3)
    assert sorted(idx[0].tolist()) == [1, 3, 5]  # the tie rule keeps the highest tied columns
    np.testing.assert_array_equal(top[0], scores[0, idx[0]])


@pytest.mark.parametrize("precision", ["int8", "int8-affine", "binary"])
@pytest.mark.parametrize("rescore, k", [(1, 10), (4, 10), (40, 10), (10, 10)])
def test_rescoring_equals_brute_force(data, precision, rescore, k):
    """The top `rescore` quantized candidates re-sorted by float32, the rest in quantized order, k returned."""
    queries, docs = data
    qscores, candidates = _reference_topk(_reference_scores(queries, docs, precision), max(k, rescore))
    exact = np.take_along_axis(queries.astype(np.float64) @ docs.T.astype(np.float64), candidates[:, :rescore],
                               axis=1)
    order = np.lexsort((-candidates[:, :rescore], -exact), axis=-1)[:, :k]
    want_idx = np.concatenate((np.take_along_axis(candidates[:, :rescore], order, axis=1), candidates[:, rescore:k]),
                              axis=1)
    want_scores = np.concatenate((np.take_along_axis(exact, order, axis=1), qscores[:, rescore:k]), axis=1)
    top = retrieve(queries, docs, precision, k, rescore=rescore, query_chunk=4, doc_chunk=9)
    np.testing.assert_array_equal(top.indices, want_idx)
    np.testing.assert_allclose(top.scores, want_scores, rtol=1e-5, atol=1e-6)
    assert top.variant == f"{VARIANTS[precision]}; float32 rescoring of top {rescore}"
    assert top.rescored == min(rescore, k)


def test_rescore_10_rescores_exactly_the_top_10_of_1001():
    """A constructed case: doc 0 is the query with its 24 smallest coordinates' signs flipped: the best float32
    score by far, but near binary rank 500. Rescoring the top 1001 (what `rescore: 10` used to do with the grid's
    k = 1001) lifts it to rank 1; rescoring exactly the top 10 leaves it where binary put it."""
    rng = np.random.default_rng(7)
    query = l2_normalize(rng.standard_normal((1, 64)).astype(np.float32))
    docs = l2_normalize(l2_normalize(rng.standard_normal((1200, 64)).astype(np.float32)) + 0.35 * query)
    docs[0] = query[0]
    docs[0, np.argsort(np.abs(query[0]))[:24]] *= -1
    star = 0
    rank = int(np.flatnonzero(retrieve(query, docs, "binary", 1200).indices[0] == star)[0])
    assert 10 <= rank < 1001 and int(np.argmax(query @ docs.T)) == star
    ten = retrieve(query, docs, "binary", 1001, rescore=10)
    full = retrieve(query, docs, "binary", 1001, rescore=1001)
    assert full.indices[0, 0] == star and ten.indices[0, 0] != star
    assert int(np.flatnonzero(ten.indices[0] == star)[0]) == rank  # below the top 10: quantized order kept
    plain = retrieve(query, docs, "binary", 1001)
    assert set(ten.indices[0, :10].tolist()) == set(plain.indices[0, :10].tolist())
    np.testing.assert_array_equal(ten.indices[0, 10:], plain.indices[0, 10:])
    assert ten.rescored == 10 and ten.variant.endswith("rescoring of top 10")


def test_rescoring_everything_equals_float32(data):
    queries, docs = data
    top = retrieve(queries, docs, "binary", 10, rescore=len(docs))
    np.testing.assert_array_equal(top.indices, retrieve(queries, docs, "float32", 10).indices)


def test_rescore_is_ignored_for_float32(data):
    queries, docs = data
    plain, rescored = retrieve(queries, docs, "float32", 5), retrieve(queries, docs, "float32", 5, rescore=50)
    np.testing.assert_array_equal(plain.indices, rescored.indices)
    assert rescored.variant == VARIANTS["float32"]


def test_k_is_capped_at_corpus_size_and_empty_queries_work(data):
    queries, docs = data
    top = retrieve(queries, docs[:6], "binary", 100, rescore=200)
    assert top.indices.shape == (23, 6) and top.variant.endswith("rescoring of top 6") and top.rescored == 6
    assert sorted(top.indices[0].tolist()) == list(range(6))
    empty = retrieve(queries[:0], docs, "float32", 4)
    assert empty.scores.shape == empty.indices.shape == (0, 4)


def test_index_interface(data):
    queries, docs = data
    index = build_index(docs, "int8", query_chunk=3, doc_chunk=10)
    scores, indices = index.search(queries, 8)
    assert index.n_docs == len(docs) and index.variant == VARIANTS["int8"]
    np.testing.assert_array_equal(indices, retrieve(queries, docs, "int8", 8).indices)


@pytest.mark.parametrize("kwargs, match", [
    ({"precision": "int4"}, "unknown precision"),
    ({"queries": _emb(3, 8, 5)}, "queries are 8-d but docs are 37-d"),
    ({"k": 0}, "k >= 1"),
    ({"rescore": -1}, "rescore >= 0"),
    ({"docs": np.zeros((0, 37), np.float32)}, "empty document collection"),
    ({"queries": np.ones(37, np.float32)}, "2-D"),
    ({"docs": np.ones((4, 37), np.int8)}, "float embeddings"),
    ({"doc_chunk": 0}, "doc_chunk"),
])
def test_bad_arguments_raise(data, kwargs, match):
    queries, docs = data
    args = {"queries": queries, "docs": docs, "precision": "float32", "k": 5, **kwargs}
    with pytest.raises(ValueError, match=match):
        retrieve(**args)


@pytest.mark.parametrize("which", ["queries", "docs"])
@pytest.mark.parametrize("bad", [np.nan, np.inf])
@pytest.mark.parametrize("precision", PRECISIONS)
def test_non_finite_embeddings_never_score(data, which, bad, precision):
    queries, docs = (x.copy() for x in data)
    (queries if which == "queries" else docs)[2, 3] = bad
    with pytest.raises(ValueError, match=f"{which} contain non-finite.*row 2"):
        retrieve(queries, docs, precision, 5)


@pytest.mark.parametrize("precision", PRECISIONS)
def test_tie_at_the_cut_off_gives_the_same_recall_at_any_depth(precision):
    """5 docs clearly first, then 300 exact duplicates tied across the cut-off, the relevant ones spread among them.
    The search's tie rule (higher index first) is trec_eval's (doc id descending) on sorted ids, so Recall@10 at
    candidate depth 11 (the grid's k + 1) equals Recall@10 at depth 1000, and the metrics see one ranking."""
    rng = np.random.default_rng(11)
    query = _dyadic(1, 16, 12)
    close = query.copy()
    close[0, :6] *= -1  # same norm, 6 signs flipped: below the query itself in every precision
    tied = np.repeat(close, 300, axis=0)
    strong = np.repeat(query, 5, axis=0)
    docs = np.concatenate((tied[:150], strong, tied[150:]))
    doc_ids = [f"d{i:04d}" for i in range(len(docs))]
    relevant = sorted(rng.choice(np.r_[0:150, 155:305], 40, replace=False).tolist())
    qrels = {"q": {doc_ids[i]: 1 for i in relevant + [150, 151]}}
    recall = {}
    for depth in (11, 1000):
        top = retrieve(query, docs, precision, depth)
        assert top.indices[0, :5].tolist() == [154, 153, 152, 151, 150]
        scores, _ = evaluate_run(qrels, run_from_topk(top, ["q"], doc_ids), [1, 3, 5, 10])
        recall[depth] = scores["Recall@10"]
    assert recall[11] == recall[1000]
    assert recall[1000] == round(sum(i in relevant + [150, 151] for i in [154, 153, 152, 151, 150, 304, 303, 302,
                                                                           301, 300]) / 42, 5)


def test_sorted_topk_equals_lexsort_of_the_tie_rule():
    """The one-key int64 sort of float32 scores orders exactly as lexsort (score desc, then index desc), with
    ties, -0.0 next to +0.0, infinities and every k; float64 scores take the lexsort path."""
    from leafbench.search.topk import sorted_topk

    rng = np.random.default_rng(0)
    for trial in range(100):
        n = int(rng.integers(1, 300))
        k = int(rng.integers(1, n + 2))
        s = np.round(rng.standard_normal((5, n)), int(rng.integers(0, 3))).astype(np.float32)
        s[rng.random(s.shape) < 0.1] = -0.0
        s[rng.random(s.shape) < 0.05] = np.float32(np.inf) if trial % 2 else 0.0
        idx = np.stack([rng.permutation(n) * 3 for _ in range(5)]).astype(np.int64)
        order = np.lexsort((-idx, -s), axis=-1)[:, :k]
        for scores in (s, s.astype(np.float64)):
            got_s, got_i = sorted_topk(scores, idx, k)
            assert np.array_equal(got_i, np.take_along_axis(idx, order, 1))
            assert np.array_equal(got_s, np.take_along_axis(scores, order, 1)) and got_s.dtype == scores.dtype

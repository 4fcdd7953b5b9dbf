"""Retrieval metrics (pytrec_eval, BEIR-compatible) and student-to-teacher alignment measures.

`evaluate_run` reproduces `beir.retrieval.evaluation.EvaluateRetrieval.evaluate` exactly, so numbers are comparable
with published BEIR tables:
- the same pytrec_eval measures (ndcg_cut, map_cut, recall, P) named NDCG@k, MAP@k, Recall@k, P@k;
- with `ignore_identical_ids`, a document whose id equals the query id is dropped from that query's run (BEIR
  does this by mutating the caller's run; here a copy is filtered);
- the average is over the queries pytrec_eval evaluated (in both qrels and run, including ones whose run is
  empty), not over all qrels queries, summed in pytrec_eval's output order and rounded to 5 decimals like BEIR.
MRR@10 is pytrec_eval's recip_rank on the run cut to its top 10 per query, cut in trec_eval's own ranking order
(score descending, then doc id descending) so the cut keeps exactly what trec_eval would rank first.
Per-query values are returned unrounded for paired significance tests.

`Scorer.topk` scores a TopK without building its full run: every measure here (at any cutoff) reads only the ranks
of the query's *judged* documents (those in its qrels, any grade) within the top max(k), plus the qrels themselves
(num_rel, the ideal DCG; P@k divides by k however few documents were retrieved). So each query's run is handed to
pytrec_eval cut just after its last judged document within that depth: the same numbers as the full run, bit for
bit (tests/test_metrics.py), at a fraction of the conversion and sorting cost (a grid cell at k = 1000 used to
spend most of its time building and handing over 1000 docs per query).
"""

from __future__ import annotations

import bisect
import heapq

import numpy as np
import pytrec_eval

from leafbench.search import TopK

MRR_CUTOFF = 10
BEIR_DECIMALS = 5
_MEASURES = (("NDCG", "ndcg_cut"), ("MAP", "map_cut"), ("Recall", "recall"), ("P", "P"))

Qrels = dict[str, dict[str, int]]
Run = dict[str, dict[str, float]]


def evaluate_run(qrels: Qrels, run: Run, k_values: list[int],
                 ignore_identical_ids: bool = True) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """(aggregate scores, per-query scores) for NDCG/MAP/Recall/P at each k, plus MRR@10; `run` is not modified."""
    return Scorer(qrels, k_values, ignore_identical_ids).run(run)


def evaluate_topk(qrels: Qrels, topk: TopK, query_ids: list[str], doc_ids: list[str], k_values: list[int],
                  ignore_identical_ids: bool = True) -> tuple[dict[str, float], dict[str, dict[str, float]]]:
    """`evaluate_run` of the TopK's run (`run_from_topk`), computed from its judged prefix (see the module doc)."""
    return Scorer(qrels, k_values, ignore_identical_ids).topk(topk, query_ids, doc_ids)


Scores = tuple[dict[str, float], dict[str, dict[str, float]]]


class Scorer:
    """The pytrec_eval evaluators of one qrels and k list, built once: converting the qrels is paid per evaluator,
    so a grid scores all of a task's cells with one Scorer."""

    def __init__(self, qrels: Qrels, k_values: list[int], ignore_identical_ids: bool = True):
        ks = list(dict.fromkeys(k_values))
        if not ks or any(not isinstance(k, (int, np.integer)) or k < 1 for k in ks):
            raise ValueError(f"k_values must be a non-empty list of positive integers, got {k_values!r}")
        self.qrels, self.ks, self.ignore_identical_ids = qrels, ks, ignore_identical_ids
        self._main = pytrec_eval.RelevanceEvaluator(qrels, {f"{trec}.{','.join(map(str, ks))}"
                                                            for _, trec in _MEASURES})
        self._mrr = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"})

    def run(self, run: Run) -> Scores:
        """Scores of a {qid: {doc_id: score}} run (self-hits dropped first when ignoring identical ids)."""
        run = _clean_run(run, self.ignore_identical_ids)
        return self._score(run, _cut_run(run, MRR_CUTOFF))

    def topk(self, topk: TopK, query_ids: list[str], doc_ids: list[str]) -> Scores:
        """Scores of a TopK whose rows follow `query_ids` over the sorted `doc_ids`: equal to `run` of its full
        run, from each query's judged prefix (in rank order, so its first 10 entries are the MRR@10 run)."""
        run = self._judged_prefix(topk, query_ids, doc_ids)
        return self._score(run, {qid: dict(list(docs.items())[:MRR_CUTOFF]) for qid, docs in run.items()})

    def _score(self, run: Run, mrr_run: Run) -> Scores:
        raw = self._main.evaluate(run)
        if not raw:
            raise ValueError("no query of the run has qrels: nothing to evaluate (are query ids the qrels' ids?)")
        mrr = self._mrr.evaluate(mrr_run)
        per_query = {qid: {**{f"{name}@{k}": values[f"{trec}_{k}"] for name, trec in _MEASURES for k in self.ks},
                           f"MRR@{MRR_CUTOFF}": mrr[qid]["recip_rank"]}
                     for qid, values in raw.items()}
        names = next(iter(per_query.values())).keys()
        return {name: _beir_mean(per_query, name) for name in names}, per_query

    def _judged_prefix(self, topk: TopK, query_ids: list[str], doc_ids: list[str]) -> Run:
        """Each query's run in rank order, self-hit dropped if asked, cut to max(k) and then after its last judged
        document. Needs `doc_ids` sorted: then the TopK's order is trec_eval's, so a prefix of it is trec_eval's."""
        scores = _rank_scores(topk, query_ids, doc_ids)
        if doc_ids != sorted(doc_ids):
            raise ValueError("doc ids must be sorted: only then is the TopK's tie rule trec_eval's order")
        indices, n = topk.indices, len(doc_ids)
        judged = [(row, pos) for row, qid in enumerate(query_ids) for did in self.qrels.get(qid, ())
                  if (pos := _position(doc_ids, did)) is not None]
        keys = np.array([row * n + pos for row, pos in judged], np.int64)
        is_judged = np.isin(indices + np.arange(len(indices), dtype=np.int64)[:, None] * n, keys)
        kept = np.ones(indices.shape, bool)
        if self.ignore_identical_ids:
            own = [-1 if (pos := _position(doc_ids, qid)) is None else pos for qid in query_ids]
            kept = indices != np.array(own, np.int64)[:, None]
        kept &= np.cumsum(kept, axis=1) <= max(self.ks)
        hits = is_judged & kept
        ends = np.where(hits.any(axis=1), indices.shape[1] - np.argmax(hits[:, ::-1], axis=1), 0)
        run: Run = {}
        for row, (qid, end) in enumerate(zip(query_ids, ends.tolist())):
            keep = kept[row, :end]
            run[qid] = dict(zip([doc_ids[i] for i in indices[row, :end][keep].tolist()],
                                scores[row, :end][keep].tolist()))
        return run


def run_from_topk(topk: TopK, query_ids: list[str], doc_ids: list[str]) -> Run:
    """The pytrec_eval/BEIR run {qid: {doc_id: score}} of a TopK whose rows follow `query_ids`.

    pytrec_eval ranks a run by score descending, then doc id descending; a TopK is in that order already when
    `doc_ids` are sorted (leafbench's tie rule, `leafbench.search.topk`). A rescored TopK mixes two scales: its
    first `rescored` columns are float32 scores, the rest quantized scores in the quantized order. The run keeps
    the float scores and shifts each row's quantized tail, by one constant, to just below its lowest rescored
    score, so pytrec_eval sees the TopK's own order, ties included (the shift is exact in Python floats).
    """
    scores = _rank_scores(topk, query_ids, doc_ids)
    return {qid: {doc_ids[i]: s for i, s in zip(row_idx, row_scores)}
            for qid, row_idx, row_scores in zip(query_ids, topk.indices.tolist(), scores.tolist())}


def _rank_scores(topk: TopK, query_ids: list[str], doc_ids: list[str]) -> np.ndarray:
    """float64 scores of a TopK as its run hands them to pytrec_eval: a rescored TopK's quantized tail shifted
    below its rescored head (see `run_from_topk`; float64 arithmetic is Python's float arithmetic)."""
    if len(query_ids) != len(topk.indices):
        raise ValueError(f"{len(query_ids)} query ids for {len(topk.indices)} result rows")
    if topk.indices.size and not 0 <= int(topk.indices.min()) <= int(topk.indices.max()) < len(doc_ids):
        raise ValueError(f"result indices out of range for {len(doc_ids)} doc ids")
    scores = topk.scores.astype(np.float64)
    head = topk.rescored
    if 0 < head < scores.shape[1]:
        shift = scores[:, :head].min(axis=1) - 1.0 - scores[:, head:].max(axis=1)
        scores[:, head:] += shift[:, None]
    return scores


def _position(sorted_ids: list[str], key: str) -> int | None:
    """Index of `key` in a sorted list of ids, or None (bisect: no corpus-sized dict per call)."""
    i = bisect.bisect_left(sorted_ids, key)
    return i if i < len(sorted_ids) and sorted_ids[i] == key else None


def topk_overlap(a: np.ndarray, b: np.ndarray, k: int = 10) -> float:
    """Mean over queries of |top-k(a) & top-k(b)| / k: how much of the teacher's top k a student retrieves."""
    a, b = np.asarray(a), np.asarray(b)
    if a.ndim != 2 or b.ndim != 2 or len(a) != len(b):
        raise ValueError(f"need two index arrays [nq, >=k] for the same queries, got shapes {a.shape}, {b.shape}")
    if k < 1 or a.shape[1] < k or b.shape[1] < k:
        raise ValueError(f"k={k} needs at least k results per query, got shapes {a.shape}, {b.shape}")
    if len(a) == 0:
        raise ValueError("no queries to compare")
    shared = (a[:, :k, None] == b[:, None, :k]).any(axis=2).sum(axis=1)
    return float(np.mean(shared / k))


def mean_cosine(a: np.ndarray, b: np.ndarray) -> float:
    """Mean row-wise cosine of two aligned embedding matrices (a zero row counts as cosine 0, never NaN)."""
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or a.shape != b.shape:
        raise ValueError(f"need two aligned [n, dim] matrices, got shapes {a.shape} and {b.shape}")
    if len(a) == 0:
        raise ValueError("no rows to compare")
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    dots = np.einsum("ij,ij->i", a, b)
    cos = np.divide(dots, norms, out=np.zeros_like(dots), where=norms > 0)
    return float(cos.mean())


def _clean_run(run: Run, ignore_identical_ids: bool) -> Run:
    """A copy with plain float scores (pytrec_eval rejects numpy scalars), minus self-hits if asked, as BEIR."""
    return {qid: {did: float(score) for did, score in docs.items() if not (ignore_identical_ids and did == qid)}
            for qid, docs in run.items()}


def _cut_run(run: Run, depth: int) -> Run:
    """Each query's first `depth` docs in trec_eval's order: score descending, ties by doc id descending."""
    # (score, doc id) tuples compare in C in exactly that order; nlargest == sorted(reverse=True)[:depth]
    return {qid: {did: score for score, did in heapq.nlargest(depth, zip(docs.values(), docs.keys()))}
            for qid, docs in run.items()}


def _beir_mean(per_query: dict[str, dict[str, float]], name: str) -> float:
    """BEIR's average: summed in the evaluator's query order, divided by the evaluated queries, 5 decimals."""
    total = 0.0
    for values in per_query.values():
        total += values[name]
    return round(total / len(per_query), BEIR_DECIMALS)

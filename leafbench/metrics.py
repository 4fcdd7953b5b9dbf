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
"""

from __future__ import annotations

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
    ks = list(dict.fromkeys(k_values))
    if not ks or any(not isinstance(k, (int, np.integer)) or k < 1 for k in ks):
        raise ValueError(f"k_values must be a non-empty list of positive integers, got {k_values!r}")
    run = _clean_run(run, ignore_identical_ids)
    measures = {f"{trec}.{','.join(map(str, ks))}" for _, trec in _MEASURES}
    raw = pytrec_eval.RelevanceEvaluator(qrels, measures).evaluate(run)
    if not raw:
        raise ValueError("no query of the run has qrels: nothing to evaluate (are query ids the qrels' ids?)")
    mrr = pytrec_eval.RelevanceEvaluator(qrels, {"recip_rank"}).evaluate(_cut_run(run, MRR_CUTOFF))
    per_query = {qid: {**{f"{name}@{k}": values[f"{trec}_{k}"] for name, trec in _MEASURES for k in ks},
                       f"MRR@{MRR_CUTOFF}": mrr[qid]["recip_rank"]}
                 for qid, values in raw.items()}
    names = next(iter(per_query.values())).keys()
    return {name: _beir_mean(per_query, name) for name in names}, per_query


def run_from_topk(topk: TopK, query_ids: list[str], doc_ids: list[str]) -> Run:
    """The pytrec_eval/BEIR run {qid: {doc_id: score}} of a TopK whose rows follow `query_ids`.

    pytrec_eval ranks a run by score descending, then doc id descending; a TopK is in that order already when
    `doc_ids` are sorted (leafbench's tie rule, `leafbench.search.topk`). A rescored TopK mixes two scales: its
    first `rescored` columns are float32 scores, the rest quantized scores in the quantized order. The run keeps
    the float scores and shifts each row's quantized tail, by one constant, to just below its lowest rescored
    score, so pytrec_eval sees the TopK's own order, ties included (the shift is exact in Python floats).
    """
    if len(query_ids) != len(topk.indices):
        raise ValueError(f"{len(query_ids)} query ids for {len(topk.indices)} result rows")
    if topk.indices.size and not 0 <= int(topk.indices.min()) <= int(topk.indices.max()) < len(doc_ids):
        raise ValueError(f"result indices out of range for {len(doc_ids)} doc ids")
    run: Run = {}
    for qid, row_idx, row_scores in zip(query_ids, topk.indices.tolist(), topk.scores.tolist()):
        head = topk.rescored
        if 0 < head < len(row_scores):
            shift = min(row_scores[:head]) - 1.0 - max(row_scores[head:])
            row_scores = row_scores[:head] + [s + shift for s in row_scores[head:]]
        run[qid] = {doc_ids[i]: float(s) for i, s in zip(row_idx, row_scores)}
    return run


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

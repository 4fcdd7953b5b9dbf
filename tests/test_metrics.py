"""Metrics against BEIR's EvaluateRetrieval.evaluate and hand-computed examples."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from leafbench.metrics import evaluate_run, mean_cosine, run_from_topk, topk_overlap
from leafbench.search import TopK

K_VALUES = [1, 3, 5, 10, 100]


def _synthetic(seed: int) -> tuple[dict[str, dict[str, int]], dict[str, dict[str, float]]]:
    """qrels/run with the awkward cases: graded and zero relevance, tied scores, self-hits (doc id == query id),
    a query whose run holds only itself, a qrels query with no run, a run query with no qrels."""
    rng = np.random.default_rng(seed)
    doc_ids = [f"d{i}" for i in range(150)] + [f"q{i}" for i in range(40)]
    qrels: dict[str, dict[str, int]] = {}
    run: dict[str, dict[str, float]] = {}
    for q in range(40):
        qid = f"q{q}"
        rel = rng.choice(doc_ids, size=int(rng.integers(1, 6)), replace=False)
        qrels[qid] = {str(d): int(rng.integers(0, 3)) for d in rel}
        retrieved = rng.choice(doc_ids, size=120, replace=False).tolist() + [qid]
        scores = np.round(rng.random(len(retrieved)), 2)  # 2 decimals: plenty of ties
        run[qid] = {str(d): float(s) for d, s in zip(retrieved, scores)}
    qrels["q0"]["q0"] = 2  # a self-hit that is also judged relevant
    run["q1"] = {"q1": 0.9}  # empty once self-hits are ignored
    del run["q2"]  # judged but not retrieved: BEIR does not count it
    run["unjudged"] = {"d1": 1.0}
    return qrels, run


def _beir(qrels, run, k_values, ignore_identical_ids):
    from beir.retrieval import evaluation  # beir is in the test extra: missing means a broken install, not a skip
    results = evaluation.EvaluateRetrieval.evaluate(qrels, copy.deepcopy(run), k_values, ignore_identical_ids)
    return {name: value for metric in results for name, value in metric.items()}


@pytest.mark.parametrize("ignore_identical_ids", [True, False])
@pytest.mark.parametrize("seed", [0, 1])
def test_aggregates_equal_beir_exactly(seed, ignore_identical_ids):
    qrels, run = _synthetic(seed)
    before = copy.deepcopy(run)
    scores, per_query = evaluate_run(qrels, run, K_VALUES, ignore_identical_ids)
    beir = _beir(qrels, run, K_VALUES, ignore_identical_ids)
    assert run == before  # unlike BEIR, the caller's run is left alone
    assert {name: scores[name] for name in beir} == beir
    assert set(scores) == set(beir) | {"MRR@10"}
    assert set(per_query) == set(qrels) - {"q2"}  # evaluated = in qrels and in the run (even if emptied)
    for name, value in scores.items():
        assert abs(np.mean([values[name] for values in per_query.values()]) - value) <= 5e-6


def test_ignore_identical_ids_drops_self_hits():
    qrels = {"q1": {"q1": 1, "d2": 1}}
    run = {"q1": {"q1": 0.9, "d1": 0.5}}
    assert evaluate_run(qrels, run, [1])[0]["P@1"] == 0.0
    assert evaluate_run(qrels, run, [1], ignore_identical_ids=False)[0]["P@1"] == 1.0


def test_mrr_at_10_by_hand():
    qrels = {"a": {"x": 1}, "b": {"y": 1}, "c": {"z": 1}, "d": {"w": 1}}
    filler = {f"n{i:02d}": 1.0 - i / 100 for i in range(20)}
    run = {
        "a": {"n00": 0.9, "n01": 0.8, "x": 0.7, "n02": 0.1},  # rank 3 -> 1/3
        "b": {**filler, "y": 0.5},  # rank 21 -> cut at 10 -> 0
        "c": {"n00": 0.9, "z": 0.9},  # tie: trec_eval ranks by doc id descending, "z" > "n00" -> rank 1
        "d": {"n00": 0.9, "n01": 0.8},  # never retrieved -> 0
    }
    scores, per_query = evaluate_run(qrels, run, [10])
    assert per_query["a"]["MRR@10"] == pytest.approx(1 / 3)
    assert per_query["b"]["MRR@10"] == 0.0
    assert per_query["c"]["MRR@10"] == 1.0
    assert per_query["d"]["MRR@10"] == 0.0
    assert scores["MRR@10"] == round((1 / 3 + 1) / 4, 5)


def test_run_from_topk():
    topk = TopK(np.array([[0.9, 0.5], [0.7, 0.7]], np.float32), np.array([[2, 0], [1, 2]], np.int64), "v")
    run = run_from_topk(topk, ["qa", "qb"], ["d0", "d1", "d2"])
    assert run == {"qa": {"d2": pytest.approx(0.9), "d0": 0.5}, "qb": {"d1": pytest.approx(0.7),
                                                                         "d2": pytest.approx(0.7)}}
    assert all(type(s) is float for docs in run.values() for s in docs.values())
    with pytest.raises(ValueError, match="query ids"):
        run_from_topk(topk, ["qa"], ["d0", "d1", "d2"])
    with pytest.raises(ValueError, match="out of range"):
        run_from_topk(topk, ["qa", "qb"], ["d0", "d1"])


def test_topk_overlap_by_hand():
    a = np.array([[1, 2, 3, 8], [4, 5, 6, 8]])
    b = np.array([[3, 2, 9, 1], [7, 8, 9, 4]])
    assert topk_overlap(a, b, k=3) == pytest.approx((2 / 3 + 0) / 2)
    assert topk_overlap(a, b, k=4) == pytest.approx((3 / 4 + 2 / 4) / 2)
    assert topk_overlap(a, a, k=2) == 1.0
    with pytest.raises(ValueError):
        topk_overlap(a, b, k=5)
    with pytest.raises(ValueError):
        topk_overlap(a, b[:1], k=2)


def test_mean_cosine_by_hand():
    a = np.array([[1.0, 0.0], [0.0, 2.0], [0.0, 0.0]])
    b = np.array([[1.0, 1.0], [0.0, -3.0], [1.0, 0.0]])
    assert mean_cosine(a, b) == pytest.approx((1 / np.sqrt(2) - 1 + 0) / 3)
    with pytest.raises(ValueError):
        mean_cosine(a, b[:, :1])


def test_bad_inputs_raise():
    with pytest.raises(ValueError, match="nothing to evaluate"):
        evaluate_run({"q1": {"d1": 1}}, {"other": {"d1": 1.0}}, [10])
    with pytest.raises(ValueError, match="k_values"):
        evaluate_run({"q1": {"d1": 1}}, {"q1": {"d1": 1.0}}, [0])


def _topk_case(seed: int, precision: str, rescore: int):
    """A real search over random embeddings (binary: massive Hamming ties) with sorted doc ids that include
    query ids (self-hits), graded/zero/negative judgements, judged docs beyond the search depth, a query without
    qrels and a qrels query outside the run."""
    from leafbench.search import retrieve

    rng = np.random.default_rng(seed)
    doc_ids = sorted([f"d{i:03d}" for i in range(300)] + [f"q{i}" for i in range(0, 60, 3)])
    qids = [f"q{i}" for i in range(60)]
    docs = rng.standard_normal((len(doc_ids), 16)).astype(np.float32)
    queries = docs[[doc_ids.index(q) if q in doc_ids else i for i, q in enumerate(qids)]] + \
        0.5 * rng.standard_normal((len(qids), 16)).astype(np.float32)
    top = retrieve(queries, docs, precision, 130, rescore=rescore)
    qrels = {q: {str(d): int(rng.integers(-1, 3)) for d in rng.choice(doc_ids, int(rng.integers(1, 8)), False)}
             for q in qids[:-1]}
    qrels["q0"]["q0"] = 2  # a judged self-hit
    qrels["elsewhere"] = {"d001": 1}
    return qrels, top, qids, doc_ids


@pytest.mark.parametrize("ignore_identical_ids", [True, False])
@pytest.mark.parametrize("precision,rescore", [("float32", 0), ("binary", 0), ("binary", 40), ("int8", 200)])
def test_topk_scores_equal_full_run_exactly(precision, rescore, ignore_identical_ids):
    """The judged-prefix runs give pytrec_eval's numbers on the full run, per query and aggregated, bit for bit."""
    from leafbench.metrics import Scorer, evaluate_topk

    for seed in range(3):
        qrels, top, qids, dids = _topk_case(seed, precision, rescore)
        k_values = [1, 3, 10, 100]  # max 100 < the 130 searched: the cut to max(k) is exercised too
        full = evaluate_run(qrels, run_from_topk(top, qids, dids), k_values, ignore_identical_ids)
        assert evaluate_topk(qrels, top, qids, dids, k_values, ignore_identical_ids) == full
        scorer = Scorer(qrels, k_values, ignore_identical_ids)
        assert scorer.topk(top, qids, dids) == full and scorer.run(run_from_topk(top, qids, dids)) == full
        prefix = scorer._judged_prefix(top, qids, dids)
        assert sum(map(len, prefix.values())) < top.indices.size * 0.8  # shorter even with random judged docs
    with pytest.raises(ValueError, match="sorted"):
        evaluate_topk(qrels, top, qids, dids[::-1], k_values)

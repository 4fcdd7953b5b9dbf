"""The learning curve's alignment figures on suite tasks, in-domain and off-domain, computed during training.

For each curve task (student queries searching the teacher's document embeddings, float32, full dim, exact scan,
scored as the grid scores its cells): asymmetric nDCG@10, the teacher's own nDCG@10 (so a point reads "% of the
teacher"), the mean cosine between the student's and the teacher's embedding of each query, and the overlap of the
student's top-10 with the teacher's top-10. Cheap: only the queries are re-encoded; the teacher's documents and
queries come from the store (the grid reuses them). Logged, never used to pick a checkpoint: the evaluation stays
clean.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from leafbench.config import Suite
from leafbench.datasets import RetrievalData
from leafbench.embed import EmbeddingService
from leafbench.roles import Role

EncodeFn = Callable[[list[str], Role], np.ndarray]
CurveFn = Callable[[EncodeFn], dict[str, dict[str, float | bool]]]
TOP = 10


@dataclass
class _Task:
    name: str
    data: RetrievalData
    qids: list[str]
    dids: list[str]
    docs: np.ndarray
    teacher_queries: np.ndarray
    teacher_top: np.ndarray
    teacher_ndcg: float
    off_domain: bool


def _normalize(x: np.ndarray) -> np.ndarray:
    return x / np.maximum(np.linalg.norm(x, axis=1, keepdims=True), 1e-12)


def _ndcg(suite: Suite, task: _Task, queries: np.ndarray) -> tuple[float, np.ndarray]:
    """nDCG@10 of `queries` against the task's teacher documents, and each query's top-10 document rows."""
    from leafbench.metrics import evaluate_run, run_from_topk
    from leafbench.search import retrieve

    k = min(TOP + (1 if suite.ignore_identical_ids else 0), len(task.dids))
    top = retrieve(queries, task.docs, "float32", k)
    run = run_from_topk(top, task.qids, task.dids)
    score = evaluate_run(task.data.qrels, run, [TOP], suite.ignore_identical_ids)[0]["NDCG@10"]
    return float(score), np.asarray(top.indices)[:, :TOP]


def top_overlap(a: np.ndarray, b: np.ndarray) -> float:
    """Mean share of the rows' top-k index sets in common."""
    return float(np.mean([len(set(x) & set(y)) / max(len(x), 1) for x, y in zip(a, b)]))


def make_curve(suite: Suite, service: EmbeddingService) -> CurveFn | None:
    """The curve function over the distill spec's curve tasks and off-domain tasks, or None when it has none."""
    from leafbench.datasets.tasks import load_task

    spec = suite.distill_spec
    assert (spec.teacher is not None or not (spec.curve_tasks or spec.off_domain_tasks))
    names = [(n, False) for n in spec.curve_tasks] + [(n, True) for n in spec.off_domain_tasks]
    if not names:
        return None
    by_name = {t.task_name: t for t in suite.tasks}
    prepared = []
    for name, off in names:
        data = load_task(by_name[name])
        qids, dids = sorted(data.queries), sorted(data.corpus)
        docs = _normalize(service.embed(spec.teacher, "document", data.doc_texts(dids)))  # type: ignore[arg-type]
        tq = _normalize(service.embed(spec.teacher, "query", [data.queries[q] for q in qids]))  # type: ignore
        task = _Task(name, data, qids, dids, docs, tq, np.zeros(0), 0.0, off)
        task.teacher_ndcg, task.teacher_top = _ndcg(suite, task, tq)
        prepared.append(task)

    def curve(encode: EncodeFn) -> dict[str, dict[str, float | bool]]:
        out: dict[str, dict[str, float | bool]] = {}
        for task in prepared:
            queries = _normalize(encode([task.data.queries[q] for q in task.qids], "query"))
            ndcg, top = _ndcg(suite, task, queries)
            out[task.name] = {"ndcg10": round(ndcg, 6), "teacher_ndcg10": round(task.teacher_ndcg, 6),
                              "query_cosine": round(float(np.mean(np.sum(queries * task.teacher_queries, 1))), 6),
                              "top10_overlap": round(top_overlap(top, task.teacher_top), 6),
                              "off_domain": task.off_domain}
        return out

    return curve

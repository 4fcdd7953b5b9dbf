"""The grid evaluator: task x config x dim x precision, all derived from one encoding pass per (model, role).

For each task and config the query and document embeddings come from the store (encoded at most once);
every MRL dim is a truncate + renormalise of them, every precision a quantization of that, so the grid costs
little more than its encoding. Finished cells are reused through the grid core (leafbench.evaluate.grid) while
their identity is unchanged.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from leafbench.config import Suite, TaskSpec, spec_hash
from leafbench.datasets import RetrievalData
from leafbench.datasets.tasks import load_task
from leafbench.embed import EmbeddingService
from leafbench.evaluate.dims import check_same_size, resolve_dims
from leafbench.evaluate.grid import CellFn, CountedGrid, GridCore, Group, PlannedCell, SuiteModels
from leafbench.identity import namespace_ids, retrieval_identity, task_stamp
from leafbench.metrics import Scorer, mean_cosine, topk_overlap
from leafbench.records import RetrievalCell
from leafbench.results import RunLog, cell_path, environment, now
from leafbench.precisions import get as get_precision
from leafbench.search import retrieve, search_identity
from leafbench.timing import timed
from leafbench.transforms import TruncatedRows, truncate

PER_QUERY_METRICS = ("NDCG@10", "Recall@100", "MRR@10")  # kept per query for paired significance tests
ALIGNMENT_K = 10


def check_config_dims(suite: Suite, service: EmbeddingService) -> None:
    """Every config's dims against its models' embedding size, before any long stage runs: a dims typo must not
    surface after an hour of distillation. Sizes come from the fingerprint cache (no model loaded on a rerun);
    distilled students, not made yet, live in the teacher's space."""
    models = SuiteModels(service)
    teacher_dims = {name: models(spec.teacher).facts.dim if spec.teacher else None
                    for spec in suite.distill_specs() for name in spec.output_names()}

    def dim(model: str) -> int | None:
        return teacher_dims[model] if model in teacher_dims else models(model).facts.dim

    for name, cfg in suite.configs.items():
        q, d = dim(cfg.query_model), dim(cfg.document_model)
        if q is not None and d is not None:
            check_same_size(name, cfg.query_model, q, cfg.document_model, d)
            resolve_dims(suite, name, d)


class RetrievalGrid(CountedGrid):
    """Runs the retrieval part of a suite into `results_dir`, reusing finished cells unless `force`."""

    def __init__(self, suite: Suite, service: EmbeddingService, results_dir: Path, force: bool = False,
                 log: RunLog | None = None):
        self.suite = suite
        self.service = service
        self.results_dir = Path(results_dir)
        self.models = SuiteModels(service)
        self.core: GridCore[RetrievalCell] = GridCore("retrieval", RetrievalCell, log, force)

    def plan(self, task: TaskSpec) -> list[Group]:
        """Every cell of the task, with its identity, computed from fingerprints and the data stamp alone."""
        stamp = {"name": task.task_name, **task_stamp(task)}
        groups = []
        for config, cfg in self.suite.configs.items():
            q, d = self.models(cfg.query_model), self.models(cfg.document_model)
            check_same_size(config, cfg.query_model, q.facts.dim, cfg.document_model, d.facts.dim)
            sides = {"query": q.namespace("query"), "document": d.namespace("document"),
                     "teacher_query": d.namespace("query") if cfg.mode == "asymmetric" else None}
            cells = [PlannedCell(config, dim, precision, cell_path(self.results_dir, task.task_name, config, dim,
                                                                   precision),
                                 retrieval_identity(stamp, cfg.mode, sides["query"], sides["document"],
                                                    sides["teacher_query"], dim, precision,
                                                    get_precision(precision).variant,
                                                    self.suite.rescore if get_precision(precision).rescorable else 0,
                                                    self.suite.k_values, self.suite.ignore_identical_ids,
                                                    search_identity(self.suite.search_for(config, precision),
                                                                    precision, self.service.device)),
                                 namespace_ids(sides))
                     for dim in resolve_dims(self.suite, config, d.facts.dim) for precision in self.suite.precisions]
            groups.append(Group(config, cells))
        return groups

    def run(self, task: TaskSpec) -> Iterator[RetrievalCell]:
        """Yield every cell record of the task (reused or computed), loading data and models only if needed."""
        yield from self.core.run(self.plan(task), lambda: contextlib.nullcontext(load_task(task)),
                                 lambda data, group: self._prepare(task, data, group.config))

    def _prepare(self, task: TaskSpec, data: RetrievalData, config: str) -> CellFn:
        """Embeddings of a config's sides (encoded once, else read from the store); returns the cell evaluator."""
        cfg = self.suite.configs[config]
        qids, dids = sorted(data.queries), sorted(data.corpus)
        qtexts, dtexts = [data.queries[q] for q in qids], data.doc_texts(dids)
        e0 = self.service.encode_seconds
        with timed("embeddings") as lap:  # encoding what the store lacks (grid/embeddings/encode), reading the rest
            q_emb = self.service.embed(cfg.query_model, "query", qtexts)
            d_emb = self.service.view(cfg.document_model, "document", dtexts)  # memory-mapped, read chunk by chunk
            teacher_q = (self.service.embed(cfg.document_model, "query", qtexts)
                         if cfg.mode == "asymmetric" else None)
        check_same_size(config, cfg.query_model, q_emb.shape[1], cfg.document_model, d_emb.shape[1])
        encode_s = self.service.encode_seconds - e0
        shared = {"encode_s_shared": round(encode_s, 3),
                  "load_model_and_cache_s_shared": round(lap.seconds - encode_s, 3)}
        k = min(max(self.suite.k_values) + (1 if self.suite.ignore_identical_ids else 0), len(dids))
        provenance = self._provenance(task, config, int(d_emb.shape[1]), data)
        scorer = Scorer(data.qrels, self.suite.k_values, self.suite.ignore_identical_ids)

        def evaluate(cell: PlannedCell) -> dict[str, Any]:
            qd, dd = truncate(q_emb, cell.dim), TruncatedRows(d_emb, cell.dim)
            td = truncate(teacher_q, cell.dim) if teacher_q is not None else None
            rec = self._evaluate_cell(cell, task.task_name, scorer, qids, dids, qd, dd, td, k)
            rec["timings"].update(shared)
            return {**rec, **provenance, "created": now()}

        return evaluate

    def _evaluate_cell(self, cell: PlannedCell, task: str, scorer: Scorer, qids: list[str], dids: list[str],
                       qd: np.ndarray, dd: TruncatedRows, td: np.ndarray | None, k: int) -> dict[str, Any]:
        backend = self.suite.search_for(cell.config, cell.precision)
        # what an index cache keys the rows by: the task's data, the document embeddings, the dim
        docs_key = spec_hash([cell.identity["task"], cell.identity["embeddings"]["document"], cell.dim])
        with timed("search") as search:
            top = retrieve(qd, dd, cell.precision, k, rescore=self.suite.rescore, backend=backend,
                           device=self.service.device, docs_key=docs_key)
        with timed("metrics") as metrics:
            scores, per_query = scorer.topk(top, qids, dids)
        alignment = None
        with timed("alignment") as aligning:
            if td is not None:
                teacher_top = retrieve(td, dd, cell.precision, min(ALIGNMENT_K, len(dids)),
                                       rescore=self.suite.rescore, backend=backend, device=self.service.device,
                                       docs_key=docs_key)
                alignment = {f"top{ALIGNMENT_K}_overlap_with_teacher": topk_overlap(
                    top.indices, teacher_top.indices, min(ALIGNMENT_K, len(dids))),
                    "query_cosine_to_teacher": mean_cosine(qd, td)}
        return {
            "task": task, "config": cell.config, "dim": cell.dim, "precision": cell.precision, "variant": top.variant,
            "scores": {m: round(float(v), 6) for m, v in scores.items()},
            "per_query": {m: {q: round(float(s[m]), 6) for q, s in per_query.items() if m in s}
                          for m in PER_QUERY_METRICS},
            "alignment": alignment, "search": {**backend.identity(), **top.stats},
            "timings": _search_timings(top.stats, search.seconds, aligning.seconds, metrics.seconds),
        }

    def _provenance(self, task: TaskSpec, config: str, full_dim: int, data: RetrievalData) -> dict[str, Any]:
        cfg = self.suite.configs[config]
        return {
            "suite": self.suite.name, "full_dim": full_dim, "mode": cfg.mode,
            "query_model": self.models.record(cfg.query_model),
            "document_model": self.models.record(cfg.document_model),
            "task_spec": task.model_dump(exclude_none=True),
            "task_size": {"docs": len(data.corpus), "queries": len(data.queries),
                          "qrels": sum(len(v) for v in data.qrels.values())},
            "similarity": "cosine", "k_values": self.suite.k_values,
            "ignore_identical_ids": self.suite.ignore_identical_ids, "rescore": self.suite.rescore,
            "environment": environment(), "suite_resolved": self.suite.model_dump(mode="json"),
        }


def _search_timings(stats: dict[str, Any], retrieve_s: float, alignment_s: float,
                    metrics_s: float) -> dict[str, float]:
    """The cell's timings, each apart: `search_s` is what the user's queries pay (search + rescoring), never the
    index build, the recall measurement of an approximate backend or the teacher-alignment search beside it."""
    user = float(stats.get("search_s", retrieve_s)) + float(stats.get("rescore_s", 0.0))
    return {"search_s": round(user, 4), "index_build_s": round(float(stats.get("index_build_s", 0.0)), 4),
            "recall_s": round(float(stats.get("recall_s", 0.0)), 4),
            "alignment_search_s": round(alignment_s, 4), "metrics_s": round(metrics_s, 4),
            "retrieve_s": round(retrieve_s, 4)}

"""The grid evaluator: task x config x dim x precision, all derived from one encoding pass per (model, role).

For each task and config the query and document embeddings come from the store (encoded at most once);
every MRL dim is a truncate + renormalise of them, every precision a quantization of that, so the grid costs
little more than its encoding. Finished cells are read back instead of recomputed.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from leafbench.config import Suite, TaskSpec, spec_hash
from leafbench.datasets import RetrievalData
from leafbench.datasets.tasks import load_task
from leafbench.embed import EmbeddingService
from leafbench.errors import UserError
from leafbench.metrics import evaluate_run, mean_cosine, run_from_topk, topk_overlap
from leafbench.results import RETRIEVAL_SCHEMA, cell_path, environment, now, read_json, write_json_atomic
from leafbench.search import retrieve
from leafbench.transforms import truncate

PER_QUERY_METRICS = ("NDCG@10", "Recall@100", "MRR@10")  # kept per query for paired significance tests
ALIGNMENT_K = 10


@dataclass(frozen=True)
class Cell:
    task: str
    config: str
    dim: int
    precision: str


def _resolve_dims(suite: Suite, config: str, full_dim: int) -> list[int]:
    dims: list[int] = []
    for d in suite.dims_for(config):
        value = full_dim if d == "full" else int(d)
        if value > full_dim:
            where = f"configs.{config}.dims" if suite.configs[config].dims else "dims"
            raise UserError(f"{where}: {value} is larger than the {full_dim}-d embeddings of config '{config}' "
                            f"(use dims <= {full_dim}, 'full', or a per-config 'dims:' list)")
        if value not in dims:
            dims.append(value)
    return dims


def _check_pair(config: str, query_model: str, query_dim: int, document_model: str, document_dim: int) -> None:
    if query_dim != document_dim:
        raise UserError(f"configs.{config}: query model '{query_model}' gives {query_dim}-d embeddings "
                        f"but document model '{document_model}' gives {document_dim}-d; asymmetric "
                        f"retrieval needs a student aligned to the teacher's space (see `leafbench distill`)")


def check_config_dims(suite: Suite, service: EmbeddingService) -> None:
    """Every config's dims against its models' embedding size, before any long stage runs: a dims typo must not
    surface after an hour of distillation. Distilled students, not made yet, live in the teacher's space."""
    spec = suite.distill
    produced = set(spec.output_names()) if spec else set()
    teacher_dim = service.encoder(spec.teacher).dim if spec and spec.teacher else None

    def dim(model: str) -> int | None:
        return teacher_dim if model in produced else service.encoder(model).dim

    for name, cfg in suite.configs.items():
        q, d = dim(cfg.query_model), dim(cfg.document_model)
        if q is not None and d is not None:
            _check_pair(name, cfg.query_model, q, cfg.document_model, d)
            _resolve_dims(suite, name, d)


def _cell_hash(suite: Suite, task: TaskSpec, config: str) -> str:
    """Everything that determines a config's scores on a task except dim/precision (those are in the path)."""
    cfg = suite.configs[config]
    models = {role: suite.models[name].model_dump() for role, name in
              (("query", cfg.query_model), ("document", cfg.document_model))}
    return spec_hash({"task": task.model_dump(), "models": models, "k_values": suite.k_values,
                      "ignore_identical_ids": suite.ignore_identical_ids, "rescore": suite.rescore,
                      "schema": RETRIEVAL_SCHEMA})


class RetrievalGrid:
    """Runs the retrieval part of a suite into `results_dir`, reusing finished cells unless `force`."""

    def __init__(self, suite: Suite, service: EmbeddingService, results_dir: Path, force: bool = False):
        self.suite = suite
        self.service = service
        self.results_dir = results_dir
        self.force = force
        self.computed = 0
        self.reused = 0

    def _done(self, path: Path, chash: str) -> dict[str, Any] | None:
        if self.force:
            return None
        rec = read_json(path)
        return rec if rec and rec.get("schema") == RETRIEVAL_SCHEMA and rec.get("cell_hash") == chash else None

    def _finished_config(self, task: TaskSpec, config: str) -> list[dict[str, Any]] | None:
        """All records of a config on a task when every cell is done; resolving 'full' needs a dim, so look it up."""
        chash = _cell_hash(self.suite, task, config)
        folder = self.results_dir / "retrieval" / task.task_name / config
        full = next((r.get("full_dim") for r in map(read_json, sorted(folder.glob("*.json"))) if r), None)
        if full is None:
            return None
        dims = _resolve_dims(self.suite, config, int(full))
        recs = [self._done(cell_path(self.results_dir, task.task_name, config, d, p), chash)
                for d in dims for p in self.suite.precisions]
        return recs if all(recs) else None  # type: ignore[return-value]

    def run(self, task: TaskSpec) -> Iterator[dict[str, Any]]:
        """Yield every cell record of the task (reused or computed), loading data and models only if needed."""
        pending = []
        for config in self.suite.configs:
            finished = self._finished_config(task, config)
            if finished is None:
                pending.append(config)
            else:
                self.reused += len(finished)
                yield from finished
        if not pending:
            return
        data = load_task(task)
        for config in pending:
            yield from self._run_config(task, data, config)

    def _run_config(self, task: TaskSpec, data: RetrievalData, config: str) -> Iterator[dict[str, Any]]:
        cfg = self.suite.configs[config]
        chash = _cell_hash(self.suite, task, config)
        qids, dids = sorted(data.queries), sorted(data.corpus)
        qtexts, dtexts = [data.queries[q] for q in qids], data.doc_texts(dids)

        t0, e0 = time.perf_counter(), self.service.encode_seconds
        q_emb = self.service.embed(cfg.query_model, "query", qtexts)
        d_emb = self.service.embed(cfg.document_model, "document", dtexts)
        teacher_q = (self.service.embed(cfg.document_model, "query", qtexts)
                     if cfg.mode == "asymmetric" else None)
        _check_pair(config, cfg.query_model, q_emb.shape[1], cfg.document_model, d_emb.shape[1])
        encode_s = self.service.encode_seconds - e0
        load_s = time.perf_counter() - t0 - encode_s
        full_dim = int(d_emb.shape[1])
        k = min(max(self.suite.k_values) + (1 if self.suite.ignore_identical_ids else 0), len(dids))
        fingerprints = {"query": self.service.encoder(cfg.query_model).fingerprint,
                        "document": self.service.encoder(cfg.document_model).fingerprint}
        for dim in _resolve_dims(self.suite, config, full_dim):
            qd, dd = truncate(q_emb, dim), truncate(d_emb, dim)
            td = truncate(teacher_q, dim) if teacher_q is not None else None
            for precision in self.suite.precisions:
                path = cell_path(self.results_dir, task.task_name, config, dim, precision)
                rec = self._done(path, chash)
                if rec is None:
                    rec = self._evaluate_cell(Cell(task.task_name, config, dim, precision), data, qids, dids,
                                              qd, dd, td, k)
                    rec.update(self._provenance(task, config, chash, full_dim, fingerprints, data))
                    rec["timings"]["encode_s_shared"] = round(encode_s, 3)
                    rec["timings"]["load_model_and_cache_s_shared"] = round(load_s, 3)
                    write_json_atomic(path, rec)
                    self.computed += 1
                else:
                    self.reused += 1
                yield rec

    def _evaluate_cell(self, cell: Cell, data: RetrievalData, qids: list[str], dids: list[str],
                       qd: np.ndarray, dd: np.ndarray, td: np.ndarray | None, k: int) -> dict[str, Any]:
        t0 = time.perf_counter()
        top = retrieve(qd, dd, cell.precision, k, rescore=self.suite.rescore)
        search_s = time.perf_counter() - t0
        run = run_from_topk(top, qids, dids)
        scores, per_query = evaluate_run(data.qrels, run, self.suite.k_values, self.suite.ignore_identical_ids)
        alignment = None
        if td is not None:
            teacher_top = retrieve(td, dd, cell.precision, min(ALIGNMENT_K, len(dids)), rescore=self.suite.rescore)
            alignment = {f"top{ALIGNMENT_K}_overlap_with_teacher": topk_overlap(top.indices, teacher_top.indices,
                                                                               min(ALIGNMENT_K, len(dids))),
                         "query_cosine_to_teacher": mean_cosine(qd, td)}
        return {
            "schema": RETRIEVAL_SCHEMA, "task": cell.task, "config": cell.config, "dim": cell.dim,
            "precision": cell.precision, "variant": top.variant,
            "scores": {m: round(float(v), 6) for m, v in scores.items()},
            "per_query": {m: {q: round(float(s[m]), 6) for q, s in per_query.items() if m in s}
                          for m in PER_QUERY_METRICS},
            "alignment": alignment,
            "timings": {"search_s": round(search_s, 4), "metrics_s": round(time.perf_counter() - t0 - search_s, 4)},
        }

    def _model_record(self, name: str, fingerprint: str) -> dict[str, Any]:
        """The suite's settings of a model, with the dtype it ran in (`auto` resolved) and its weights' hash."""
        return {"name": name, **self.suite.models[name].model_dump(), "dtype": self.service.encoder(name).dtype,
                "fingerprint": fingerprint}

    def _provenance(self, task: TaskSpec, config: str, chash: str, full_dim: int,
                    fingerprints: dict[str, str], data: RetrievalData) -> dict[str, Any]:
        cfg = self.suite.configs[config]
        return {
            "suite": self.suite.name, "cell_hash": chash, "full_dim": full_dim, "mode": cfg.mode,
            "query_model": self._model_record(cfg.query_model, fingerprints["query"]),
            "document_model": self._model_record(cfg.document_model, fingerprints["document"]),
            "task_spec": task.model_dump(exclude_none=True),
            "task_size": {"docs": len(data.corpus), "queries": len(data.queries),
                          "qrels": sum(len(v) for v in data.qrels.values())},
            "similarity": "cosine", "k_values": self.suite.k_values,
            "ignore_identical_ids": self.suite.ignore_identical_ids, "rescore": self.suite.rescore,
            "environment": environment(), "created": now(),
            "suite_resolved": self.suite.model_dump(mode="json"),
        }

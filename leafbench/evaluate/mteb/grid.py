"""The MTEB stage's grid: plan each task's cells, and for missing ones discover, encode, calibrate and score.

Retrieval tasks are searched by leafbench's own search (`LeafbenchSearch`, mteb's SearchProtocol over
`leafbench.search.retrieve`): the suite's search backend and `rescore` apply to them as in the retrieval grid,
the documents are read memory-mapped from the store, and both are part of the cell's identity. Other tasks (and
reranking tasks) get `LeafbenchEncoder`'s vectors and mteb's own scoring.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import random
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np

from leafbench.config import Suite, spec_hash
from leafbench.embed import EmbeddingService
from leafbench.evaluate.dims import check_same_size, resolve_dims
from leafbench.evaluate.grid import CellFn, CountedGrid, GridCore, Group, PlannedCell, SuiteModels
from leafbench.evaluate.mteb.calibration import Calibrations, calibrations_for
from leafbench.evaluate.mteb.encoders import DiscoveryEncoder, LeafbenchEncoder, Route, Routing, TextCall
from leafbench.evaluate.mteb.naming import leaderboard, mteb_identity, mteb_name
from leafbench.evaluate.mteb.tasks import load_task_data, resolve_tasks
from leafbench.evaluate.mteb_search import LeafbenchSearch
from leafbench.identity import aggregate_identity, mteb_cell_identity, mteb_task_stamp, namespace_ids
from leafbench.precisions import get as get_precision
from leafbench.progress import stderr
from leafbench.search import search_identity
from leafbench.records import MtebCell
from leafbench.results import RunLog, environment, now, write_json_atomic
from leafbench.roles import Role, symmetric_role
from leafbench.transforms import Rows, TruncatedRows, truncate


def searches(task: Any) -> bool:
    """Whether leafbench's search answers the task (retrieval tasks; mteb scores everything else itself)."""
    from mteb.abstasks import AbsTaskRetrieval

    return isinstance(task, AbsTaskRetrieval)


def mteb_version() -> str:
    return importlib.metadata.version("mteb")


def _reset_task_rng(task: Any) -> None:
    """Task RNGs advance on every evaluate (clustering downsampling): reset so every cell sees a fresh task."""
    task.rng_state, task.np_rng = random.Random(task.seed), np.random.default_rng(task.seed)


@contextlib.contextmanager
def _quiet_datasets() -> Iterator[None]:
    """mteb maps HF datasets per call; their per-call progress bars would drown ours."""
    from datasets.utils import logging as ds_logging

    was = ds_logging.is_progress_bar_enabled()
    ds_logging.disable_progress_bar()
    try:
        yield
    finally:
        if was:
            ds_logging.enable_progress_bar()


class MtebGrid(CountedGrid):
    """Runs the suite's MTEB section into `<results_dir>/mteb/`, reusing finished cells unless `force`."""

    def __init__(self, suite: Suite, service: EmbeddingService, results_dir: Path, force: bool = False,
                 log: RunLog | None = None):
        if suite.mteb is None:
            raise ValueError("suite has no mteb section")
        self.suite, self.spec, self.service = suite, suite.mteb, service
        self.root = Path(results_dir) / "mteb"
        self.out_dir = self.root / "results"
        self.tasks = resolve_tasks(self.spec.tasks, self.spec.benchmarks)
        self.models = SuiteModels(service)
        self.core: GridCore[MtebCell] = GridCore("mteb", MtebCell, log, force,
                                                 valid=lambda rec: (self.root / rec.mteb_file).is_file())

    @property
    def configs(self) -> list[str]:
        return list(self.spec.configs or self.suite.configs)

    @property
    def precisions(self) -> list[str]:
        return list(self.spec.precisions or self.suite.precisions)

    def routing(self, config: str) -> Routing:
        cfg = self.suite.configs[config]
        side: Role = self.spec.symmetric_side  # type: ignore[assignment]
        model = cfg.query_model if side == "query" else cfg.document_model
        m = self.models(model)
        role = symmetric_role({"query": m.prompt("query"), "document": m.prompt("document")}, side)
        return Routing(Route(cfg.query_model, "query"), Route(cfg.document_model, "document"), Route(model, role))

    def cell_path(self, task: str, config: str, dim: int, precision: str) -> Path:
        return self.root / "cells" / task / config / f"dim{dim}-{precision}.json"

    # -------------------------------------------------------------------------------- planning

    def _full_dim(self, config: str, routing: Routing) -> int:
        """The config's embedding size; both sides of an asymmetric config must share it."""
        query_dim, document_dim = (self.models(r.model).facts.dim for r in (routing.query, routing.document))
        check_same_size(config, routing.query.model, query_dim, routing.document.model, document_dim)
        return document_dim

    def plan(self, task: Any) -> list[Group]:
        """Every cell of the task with its identity, from fingerprints and the task's stamp: no data, no model."""
        name, stamp = task.metadata.name, mteb_task_stamp(task)
        groups = []
        for config in self.configs:
            routing = self.routing(config)
            routes = {kind: self.models(r.model).namespace(r.role) for kind, r in
                      (("query", routing.query), ("document", routing.document), ("symmetric", routing.symmetric))}
            full_dim = self._full_dim(config, routing)
            cells = [PlannedCell(config, dim, precision, self.cell_path(name, config, dim, precision),
                                 {**mteb_cell_identity(stamp, routes, self.spec.symmetric_side, dim, precision,
                                                       get_precision(precision).mteb_variant),
                                  **({"search": self._search(config, precision)} if searches(task) else {})},
                                 namespace_ids(routes))
                     for dim in resolve_dims(self.suite, config, full_dim, self.spec.dims, "mteb.dims")
                     for precision in self.precisions]
            groups.append(Group(config, cells, label=f"mteb {name} {config}"))
        return groups

    def _search(self, config: str, precision: str) -> dict[str, Any]:
        """How leafbench searches a retrieval task's cell: the backend and the effective rescoring depth."""
        return {"backend": search_identity(self.suite.search_for(config, precision), precision),
                "rescore": self.suite.rescore if get_precision(precision).rescorable else 0}

    def _embedder(self, routing: Routing, full_dim: int, dim: int) -> Any:
        """LeafbenchSearch's `embed`: queries as arrays, documents as memory-mapped rows, truncated lazily."""

        def embed(texts: list[str], role: str, hf_subset: str) -> Rows:
            route = routing.query if role == "query" else routing.document
            if role == "query":
                emb = self.service.embed(route.model, route.role, texts)
                return emb if dim == full_dim else truncate(emb, dim)
            rows = self.service.view(route.model, route.role, texts)
            return rows if dim == full_dim else TruncatedRows(rows, dim)

        return embed

    # -------------------------------------------------------------------------------- running

    def run(self, task: Any) -> Iterator[MtebCell]:
        """Yield every cell record of the task (reused or computed), loading data and models only when needed."""
        if task.is_aggregate:
            yield from self._run_aggregate(task)
            return
        yield from self.core.run(self.plan(task), lambda: self._opened(task),
                                 lambda calls, group: self._prepare(task, calls, group.config))

    @contextlib.contextmanager
    def _opened(self, task: Any) -> Iterator[list[TextCall]]:
        """The task with its data loaded and its encode calls discovered; unloaded afterwards."""
        load_task_data(task)
        try:
            with _quiet_datasets():
                yield self._discover(task)
        finally:
            task.unload_data()
        stderr.log(f"mteb {task.metadata.name}: done")

    def _run_aggregate(self, task: Any) -> Iterator[MtebCell]:
        """An aggregate task (e.g. CQADupstackRetrieval): its tasks' cells, then per cell mteb's combination of them.

        As `mteb.evaluate` does, every sub-task keeps its own result file and the aggregate's file joins them in the
        same folder; the leaderboard counts the aggregate once instead of its sub-tasks (records name `subtasks`).
        """
        name = task.metadata.name
        parts: dict[tuple[str, int, str], list[MtebCell]] = {}
        for sub in task.metadata.tasks:
            for rec in self.run(sub):
                parts.setdefault((rec.config, rec.dim, rec.precision), []).append(rec)
                yield rec
        groups: dict[str, list[PlannedCell]] = {}
        for (config, dim, precision), recs in parts.items():
            groups.setdefault(config, []).append(PlannedCell(
                config, dim, precision, self.cell_path(name, config, dim, precision),
                aggregate_identity(name, [r.cell_hash for r in recs]), dict(recs[0].embeddings)))
        yield from self.core.run([Group(c, cells) for c, cells in groups.items()], contextlib.nullcontext,
                                 lambda _, group: lambda cell: self._combine(task, parts[(cell.config, cell.dim,
                                                                                          cell.precision)]))

    def _combine(self, task: Any, recs: list[MtebCell]) -> dict[str, Any]:
        from mteb import TaskResult

        from leafbench.evaluate.mteb.results import write_task_json

        name = task.metadata.name
        combined = task.combine_task_results([TaskResult.from_disk(self.root / r.mteb_file) for r in recs])
        mteb_file = Path(recs[0].mteb_file).parent / f"{name}.json"
        write_task_json(self.root / mteb_file, combined)
        first = recs[0].model_dump(exclude={"identity", "cell_hash", "embeddings"})
        return {**first, "task": name, "task_type": task.metadata.type,
                "main_score_name": task.metadata.main_score, "main_score": round(float(combined.get_score()), 6),
                "mteb_file": str(mteb_file), "dataset_revision": task.metadata.revision,
                "eval_splits": list(task.metadata.eval_splits), "subtasks": [r.task for r in recs], "created": now(),
                "timings": {"evaluate_s": round(sum(r.timings["evaluate_s"] for r in recs), 3)}}

    def _evaluate(self, model: Any, task: Any) -> Any:
        """One `mteb.evaluate` of a (data-preloaded) task, results kept in memory (written by us, atomically).

        Scoring runs with one BLAS/OpenMP thread except for retrieval: mteb's sklearn evaluators (logistic regression,
        mini-batch k-means) on cell-sized data are overhead-bound, and multi-threaded they spin-wait on a busy CPU
        (measured on 2 cores: k-means 28 s vs 0.5 s per cell). Retrieval's large matrix products keep all threads.
        """
        import mteb
        from mteb.abstasks import AbsTaskRetrieval
        from threadpoolctl import threadpool_limits

        _reset_task_rng(task)
        with threadpool_limits(None if isinstance(task, AbsTaskRetrieval) else 1):
            result = mteb.evaluate(model, task, cache=None, co2_tracker=False, show_progress_bar=False,
                                   encode_kwargs={"batch_size": 32, "show_progress_bar": False})
        return result.task_results[0]

    def _discover(self, task: Any) -> list[TextCall]:
        encoder = DiscoveryEncoder()
        self._evaluate(encoder, task)
        return encoder.calls

    def _prepare(self, task: Any, calls: list[TextCall], config: str) -> CellFn:
        """Every text of the config's routes embedded (one pass per (model, role)); returns the cell evaluator."""
        routing = self.routing(config)
        t0, e0 = time.perf_counter(), self.service.encode_seconds
        by_route: dict[Route, dict[str, None]] = {}
        for call in calls:  # ordered, de-duplicated texts per (model, role): one encoding pass each
            by_route.setdefault(routing.route(call.prompt_type), {}).update(dict.fromkeys(call.texts))
        for route, texts in by_route.items():  # the cells read them back from the store (memory-mapped)
            self.service.embed(route.model, route.role, list(texts))
        full_dim = self._full_dim(config, routing)
        encode_s = self.service.encode_seconds - e0
        shared = {"encode_s_shared": round(encode_s, 3),
                  "prepare_s_shared": round(time.perf_counter() - t0 - encode_s, 3)}
        calibrations = calibrations_for(self.service, calls, routing)

        def evaluate(cell: PlannedCell) -> dict[str, Any]:
            rec = self._run_cell(task, config, routing, full_dim, cell.dim, cell.precision, calibrations)
            rec["timings"].update(shared)
            return rec

        return evaluate

    def _run_cell(self, task: Any, config: str, routing: Routing, full_dim: int, dim: int, precision: str,
                  calibrations: Calibrations) -> dict[str, Any]:
        from leafbench.evaluate.mteb.results import write_task_result

        meta = self.model_meta(config, full_dim, dim, precision)
        encoder = LeafbenchEncoder(self.service, routing, meta, full_dim, dim, precision, calibrations)
        model: Any = encoder
        if searches(task):
            from mteb.models import SearchEncoderWrapper

            search = self._search(config, precision)
            docs_key = spec_hash([mteb_task_stamp(task), self.models(routing.document.model).namespace(
                routing.document.role), dim])
            model = LeafbenchSearch(self._embedder(routing, full_dim, dim), meta, precision, search["rescore"],
                                    self.suite.search_for(config, precision), docs_key,
                                    fallback=SearchEncoderWrapper(encoder))
        t0 = time.perf_counter()
        result = self._evaluate(model, task)
        eval_s = time.perf_counter() - t0
        path = write_task_result(self.out_dir, meta, result)
        source = ", ".join(sorted(set(calibrations.sources.values()))) or "none"
        searched = isinstance(model, LeafbenchSearch) and model.variant  # not a reranking task's fallback
        sym = routing.route(None)
        cfg = self.suite.configs[config]
        return {
            "suite": self.suite.name, "task": task.metadata.name,
            "task_type": task.metadata.type, "config": config, "mode": cfg.mode, "dim": dim, "full_dim": full_dim,
            "precision": precision,
            "variant": (f"leafbench search: {model.variant}" if searched
                        else get_precision(precision).mteb_variant.format(source=source)),
            # leafbench's search calibrates on the corpus, i.e. the document side, as the retrieval grid does
            "calibration": (("document side" if get_precision(precision).family == "int8" else None) if searched
                            else source if calibrations.fitted(precision) else None),
            "symmetric_side": self.spec.symmetric_side,
            "symmetric_model": {"name": sym.model, "role": sym.role, "prompt": self.models(sym.model).prompt(sym.role)},
            "main_score_name": task.metadata.main_score, "main_score": round(float(result.get_score()), 6),
            "mteb_file": str(path.relative_to(self.root)), "model_name": meta.name, "revision": meta.revision,
            "experiment": meta.experiment_name, "experiment_kwargs": meta.experiment_kwargs,
            "dataset_revision": task.metadata.revision, "eval_splits": list(task.eval_splits),
            "query_model": self.models.record(cfg.query_model),
            "document_model": self.models.record(cfg.document_model),
            "environment": environment(), "created": now(), "timings": {"evaluate_s": round(eval_s, 3)},
        }

    # -------------------------------------------------------------------------------- naming

    def model_meta(self, config: str, full_dim: int, dim: int, precision: str) -> Any:
        """The cell's mteb ModelMeta: `mteb_identity` of the config's models, plus sizes from the loaded encoders."""
        from leafbench.evaluate.mteb.results import build_model_meta

        cfg = self.suite.configs[config]
        q_enc = self.service.encoder(cfg.query_model)
        name, revision, kwargs = mteb_identity(config, cfg.mode, self.models.record(cfg.query_model),
                                               self.models.record(cfg.document_model), dim, full_dim, precision,
                                               self.spec.symmetric_side)
        adapted = mteb_name(self.suite.models[cfg.document_model].id) if cfg.mode == "asymmetric" else None
        n_params = sum(p.numel() for p in q_enc.model.parameters())
        return build_model_meta(name, revision, embed_dim=dim, max_tokens=q_enc.model.max_seq_length,
                                n_parameters=int(n_params), similarity=get_precision(precision).mteb_similarity,
                                experiment_kwargs=kwargs or None,
                                output_dtype=kwargs.get("output_dtypes"), adapted_from=adapted)

    def write_leaderboard(self, records: list[MtebCell]) -> Path:
        """Aggregates per config/dim/precision (one leaderboard row each) into `mteb/leaderboard.json`."""
        path = self.root / "leaderboard.json"
        write_json_atomic(path, {"schema": "leafbench.mteb-leaderboard/1", "suite": self.suite.name,
                                 "rows": leaderboard([r.to_json() for r in records]), "created": now()})
        return path

"""MTEB bridge: any mteb task or benchmark, scored by mteb itself, for every config x dim x precision of a suite.

How a task's grid is run:

1. Discovery: `mteb.evaluate` runs once with `DiscoveryEncoder`, which records every text the task asks to encode
   (per split, subset and prompt type) and answers with cheap 8-d placeholders. What a task encodes does not depend
   on the embeddings, so this is the full list, known before anything is embedded.
2. Encoding: each config routes prompt types to (model, role): `query` -> its query model, `document` -> its
   document model, none (STS, classification, clustering, ...) -> the model of the suite's `symmetric_side`, in the
   role whose prompt is empty where it has one (mteb embeds those tasks without a prompt). All texts of one
   (model, role) go to the shared EmbeddingService in one call: one encoding pass per distinct (model, role),
   content-addressed, so texts the retrieval grid (or another config) already embedded are not embedded again.
3. Cells: for every dim and precision, `mteb.evaluate` runs with `LeafbenchEncoder`, which reads the stored
   embeddings and transforms them (MRL truncation + renormalisation; int8/binary quantization). int8 is calibrated
   per task subset on the document side when the task has one (retrieval, reranking), else on all the subset's texts;
   never per encode call (a query batch calibrated on itself collapses). The record says which.

Results go to `<results>/<suite>/mteb/results/` in MTEB's own layout (see `mteb_results`), one sidecar record per
cell (schema `leafbench.mteb/1`: provenance, routing, calibration) under `mteb/cells/`, and the leaderboard
aggregates of every config/dim/precision to `mteb/leaderboard.json`.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import random
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from leafbench.config import MtebTaskSpec, Suite, spec_hash
from leafbench.embed import EmbeddingService
from leafbench.encoders import Role
from leafbench.errors import UserError
from leafbench.progress import progress_bar, stderr
from leafbench.results import environment, now, read_json, write_json_atomic
from leafbench.transforms import Int8Calibration, calibrate_int8, dequantize_int8, quantize_int8, truncate

SCHEMA = "leafbench.mteb/1"
DISCOVERY_DIM = 8
VARIANTS = {
    "float32": "float32: the model's embeddings at full dim, MRL prefixes renormalised; cosine similarity",
    "int8": "int8: symmetric per-dim scale (max|x| / 127) calibrated on {source}; dequantized vectors, dot product",
    "int8-affine": "int8-affine: sentence-transformers quantize_embeddings int8 (per-dim min/max of {source} -> "
                   "0..255 - 128); raw codes as vectors, dot product",
    "binary": "binary: sign bits as 0/1 vectors; euclidean similarity (= ranking by -hamming)",
}
SIMILARITY = {"float32": "cosine", "int8": "dot", "int8-affine": "dot", "binary": "euclidean"}


# ------------------------------------------------------------------------------------------------ task lookup


def resolve_tasks(specs: list[MtebTaskSpec], benchmarks: list[str]) -> list[Any]:
    """mteb task objects for the suite's names: leafbench's offline tasks, mteb tasks, then benchmarks' tasks.

    Unknown names raise a UserError carrying mteb's own close-match suggestion. Tasks are de-duplicated by name
    (a task named directly and inside a benchmark runs once).
    """
    import mteb

    from leafbench.datasets.mteb_tasks import OFFLINE_TASKS, offline_task

    tasks: dict[str, Any] = {}
    for i, spec in enumerate(specs):
        field = f"mteb.tasks[{i}]"
        if spec.name in OFFLINE_TASKS:
            task = offline_task(spec.name, spec.max_docs, spec.max_queries, spec.seed, field=field)
        else:
            if spec.max_docs is not None or spec.max_queries is not None:
                raise UserError(f"{field}: max_docs/max_queries apply to leafbench's offline MTEB tasks only "
                                f"({', '.join(sorted(OFFLINE_TASKS))}), not to mteb's '{spec.name}'")
            try:
                task = mteb.get_task(spec.name)
            except KeyError as e:
                hint = str(e.args[0] if e.args else e).removeprefix("KeyError: ")
                raise UserError(f"{field}: unknown MTEB task: {hint} (leafbench's offline tasks: "
                                f"{', '.join(sorted(OFFLINE_TASKS))})") from None
        tasks.setdefault(task.metadata.name, task)
    for i, name in enumerate(benchmarks):
        for task in get_benchmark(name, f"mteb.benchmarks[{i}]").tasks:
            tasks.setdefault(task.metadata.name, task)
    for name, task in tasks.items():
        if task.metadata.modalities != ["text"]:
            raise UserError(f"mteb: task '{name}' is not text-only (modalities {task.metadata.modalities}); "
                            f"leafbench evaluates text embedding models")
    return list(tasks.values())


def get_benchmark(name: str, field: str) -> Any:
    """mteb's benchmark of that name; an unknown name is a UserError with mteb's close match, labelled `field`."""
    import mteb

    try:
        return mteb.get_benchmark(name)
    except KeyError as e:
        raise UserError(f"{field}: unknown MTEB benchmark: {e.args[0] if e.args else e}") from None


def task_rows(benchmark: str | None = None) -> list[dict[str, str]]:
    """Name, type, main score and description of leafbench's offline MTEB tasks, or of an MTEB benchmark's tasks."""
    if benchmark is None:
        from leafbench.datasets.mteb_tasks import OFFLINE_TASKS

        metas = [cls.metadata for _, cls in sorted(OFFLINE_TASKS.items())]
    else:
        metas = [t.metadata for t in get_benchmark(benchmark, "--benchmark").tasks]
    return [{"name": m.name, "type": m.type, "main_score": m.main_score,
             "description": m.description.split(". ")[0].rstrip(".")} for m in metas]


def load_task_data(task: Any) -> None:
    """Load a task's data, turning 'the hub is unreachable' into one line that names the task."""
    try:
        task.load_data()
    except (ConnectionError, OSError) as e:
        import huggingface_hub.constants as hub

        where = task.metadata.dataset.get("path", "?")
        reason = "HF_HUB_OFFLINE=1 is set" if hub.HF_HUB_OFFLINE else f"{type(e).__name__}: {str(e)[:120]}"
        raise UserError(f"mteb task '{task.metadata.name}' needs the Hugging Face hub to fetch its data "
                        f"({where}) and cannot reach it ({reason}); run once online to cache it, or drop the task "
                        f"from the suite's mteb section") from None


# ---------------------------------------------------------------------------------------------- encoders


def texts_of(inputs: Any) -> list[str]:
    """The texts behind an mteb DataLoader (its dataset's `text` column; batches only if there is no dataset)."""
    dataset = getattr(inputs, "dataset", None)
    if dataset is not None and "text" in getattr(dataset, "column_names", ()):
        return list(dataset["text"][:])  # a slice reads the column at once; iterating a Column reads row by row
    texts: list[str] = []
    for batch in inputs:
        if "text" not in batch:
            raise UserError(f"mteb gave leafbench a non-text input ({', '.join(batch)}); only text tasks are supported")
        texts.extend(batch["text"])
    return texts


def _prompt_type(prompt_type: Any) -> str | None:
    return None if prompt_type is None else str(getattr(prompt_type, "value", prompt_type))


@dataclass(frozen=True)
class TextCall:
    """One encode call mteb made: which texts, for which split/subset, in which role (prompt type)."""

    hf_split: str
    hf_subset: str
    prompt_type: str | None  # "query", "document" or None (symmetric tasks)
    texts: tuple[str, ...]


class _Similarity:
    """mteb's similarity functions for a precision (mteb.similarity_functions, so scores match mteb's own)."""

    def __init__(self, precision: str):
        from mteb import similarity_functions as sf

        self._matrix, self._pairwise = {
            "cosine": (sf.cos_sim, sf.pairwise_cos_sim), "dot": (sf.dot_score, sf.pairwise_dot_score),
            "euclidean": (sf.euclidean_sim, sf.pairwise_euclidean_sim)}[SIMILARITY[precision]]

    def similarity(self, embeddings1: Any, embeddings2: Any) -> Any:
        return self._matrix(embeddings1, embeddings2)

    def similarity_pairwise(self, embeddings1: Any, embeddings2: Any) -> Any:
        return self._pairwise(embeddings1, embeddings2)


class DiscoveryEncoder(_Similarity):
    """Records what a task encodes, answering with seeded random placeholder vectors (never scored)."""

    def __init__(self) -> None:
        from mteb.models import ModelMeta

        super().__init__("float32")
        self.calls: list[TextCall] = []
        self._rng = np.random.default_rng(0)
        self.mteb_model_meta = ModelMeta.create_empty({"name": "leafbench/discovery", "revision": "0"})

    def encode(self, inputs: Any, *, task_metadata: Any, hf_split: str, hf_subset: str, prompt_type: Any = None,
               **kwargs: Any) -> np.ndarray:
        texts = texts_of(inputs)
        self.calls.append(TextCall(hf_split, hf_subset, _prompt_type(prompt_type), tuple(texts)))
        return self._rng.standard_normal((len(texts), DISCOVERY_DIM)).astype(np.float32)


@dataclass(frozen=True)
class Route:
    model: str  # suite model name
    role: Role


def symmetric_role(prompts: dict[str, str], side: Role) -> Role:
    """The role that embeds texts of tasks without a prompt type (STS, classification, ...) on a side's model.

    mteb embeds those texts without a prompt (a SentenceTransformer's query/document prompts are for retrieval), so
    the role whose prompt is empty serves them, the side's own role first; only when both roles carry a prompt does
    the side's own role (and prompt) serve. For models without prompts this is simply the side's role.
    """
    other: Role = "document" if side == "query" else "query"
    return other if prompts.get(side) and not prompts.get(other) else side


@dataclass(frozen=True)
class Routing:
    """Which (model, role) embeds each prompt type; `symmetric` serves tasks that pass none (see symmetric_role)."""

    query: Route
    document: Route
    symmetric: Route

    def route(self, prompt_type: str | None) -> Route:
        if prompt_type == "query":
            return self.query
        if prompt_type == "document":
            return self.document
        return self.symmetric


CalibrationFn = Callable[[str, int, str], Int8Calibration]  # (hf_subset, dim, scheme) -> calibration


class LeafbenchEncoder(_Similarity):
    """mteb's EncoderProtocol over leafbench's EmbeddingService, for one config at one dim and precision.

    `encode` routes mteb's prompt type to a (model, role), reads the embeddings from the content-addressed store
    (encoding only texts it has never seen) and applies the cell's transform. float32 at full dim is the model's
    output untouched, so it equals a plain `mteb.evaluate(SentenceTransformer)`; smaller dims are renormalised
    prefixes; int8 needs `calibration` (fitted once per task subset by MtebGrid, never per encode call).
    """

    def __init__(self, service: EmbeddingService, routing: Routing, meta: Any, full_dim: int, dim: int,
                 precision: str, calibration: CalibrationFn | None = None):
        super().__init__(precision)
        if precision in ("int8", "int8-affine") and calibration is None:
            raise ValueError(f"precision {precision!r} needs a calibration function")
        self.service, self.routing, self.mteb_model_meta = service, routing, meta
        self.full_dim, self.dim, self.precision = full_dim, dim, precision
        self.calibration = calibration

    def encode(self, inputs: Any, *, task_metadata: Any, hf_split: str, hf_subset: str, prompt_type: Any = None,
               **kwargs: Any) -> np.ndarray:
        route = self.routing.route(_prompt_type(prompt_type))
        emb = self.service.embed(route.model, route.role, texts_of(inputs))
        return self.transform(emb, hf_subset)

    def transform(self, emb: np.ndarray, hf_subset: str) -> np.ndarray:
        if self.precision == "float32":
            return emb if self.dim == self.full_dim else truncate(emb, self.dim)
        x = truncate(emb, self.dim)
        if self.precision == "binary":
            return (x > 0).astype(np.float32)
        assert self.calibration is not None
        cal = self.calibration(hf_subset, self.dim, self.precision)
        codes = quantize_int8(x, cal)
        return dequantize_int8(codes, cal) if self.precision == "int8" else codes.astype(np.float32)


# ---------------------------------------------------------------------------------------------- the grid


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


class MtebGrid:
    """Runs the suite's MTEB section into `<results_dir>/mteb/`, reusing finished cells unless `force`."""

    def __init__(self, suite: Suite, service: EmbeddingService, results_dir: Path, force: bool = False):
        if suite.mteb is None:
            raise ValueError("suite has no mteb section")
        self.suite, self.spec, self.service, self.force = suite, suite.mteb, service, force
        self.root = Path(results_dir) / "mteb"
        self.out_dir = self.root / "results"
        self.tasks = resolve_tasks(self.spec.tasks, self.spec.benchmarks)
        self.computed = 0
        self.reused = 0

    @property
    def configs(self) -> list[str]:
        return list(self.spec.configs or self.suite.configs)

    @property
    def precisions(self) -> list[str]:
        return list(self.spec.precisions or self.suite.precisions)

    def dims(self, config: str, full_dim: int) -> list[int]:
        given = self.spec.dims or self.suite.dims_for(config)
        out: list[int] = []
        for d in given:
            value = full_dim if d == "full" else int(d)
            if value > full_dim:
                where = "mteb.dims" if self.spec.dims else (
                    f"configs.{config}.dims" if self.suite.configs[config].dims else "dims")
                raise UserError(f"{where}: {value} is larger than config '{config}''s {full_dim}-d embeddings "
                                f"(use dims <= {full_dim} or 'full')")
            if value not in out:
                out.append(value)
        return out

    def routing(self, config: str) -> Routing:
        cfg = self.suite.configs[config]
        side: Role = self.spec.symmetric_side  # type: ignore[assignment]
        model = cfg.query_model if side == "query" else cfg.document_model
        enc = self.service.encoder(model)
        role = symmetric_role({"query": enc.prompt("query"), "document": enc.prompt("document")}, side)
        return Routing(Route(cfg.query_model, "query"), Route(cfg.document_model, "document"), Route(model, role))

    # -------------------------------------------------------------------------------- bookkeeping

    def cell_path(self, task: str, config: str, dim: int, precision: str) -> Path:
        return self.root / "cells" / task / config / f"dim{dim}-{precision}.json"

    def cell_hash(self, task: Any, config: str) -> str:
        """Everything that determines a config's scores on a task except dim/precision (those are in the path)."""
        cfg = self.suite.configs[config]
        models = {side: self.suite.models[name].model_dump() for side, name in
                  (("query", cfg.query_model), ("document", cfg.document_model))}
        return spec_hash({"task": task.metadata.name, "dataset_revision": task.metadata.revision,
                          "splits": list(task.eval_splits), "subsets": list(task.hf_subsets), "models": models,
                          "symmetric_side": self.spec.symmetric_side, "mteb": mteb_version(), "schema": SCHEMA})

    def _done(self, path: Path, chash: str) -> dict[str, Any] | None:
        if self.force:
            return None
        rec = read_json(path)
        ok = rec and rec.get("schema") == SCHEMA and rec.get("cell_hash") == chash and \
            (self.root / rec.get("mteb_file", "")).is_file()
        return rec if ok else None

    def _finished(self, task: Any, config: str) -> list[dict[str, Any]] | None:
        """All records of a config on a task when every cell is done (the folder's records name the full dim)."""
        name, chash = task.metadata.name, self.cell_hash(task, config)
        folder = self.root / "cells" / name / config
        full = next((r.get("full_dim") for r in map(read_json, sorted(folder.glob("*.json"))) if r), None)
        if full is None:
            return None
        recs = [self._done(self.cell_path(name, config, d, p), chash)
                for d in self.dims(config, int(full)) for p in self.precisions]
        return recs if all(recs) else None  # type: ignore[return-value]

    # -------------------------------------------------------------------------------- running

    def run(self, task: Any) -> Iterator[dict[str, Any]]:
        """Yield every cell record of the task (reused or computed), loading data and models only when needed."""
        if task.is_aggregate:
            yield from self._run_aggregate(task)
            return
        name = task.metadata.name
        pending = []
        for config in self.configs:
            finished = self._finished(task, config)
            if finished is None:
                pending.append(config)
            else:
                self.reused += len(finished)
                yield from finished
        if not pending:
            return
        load_task_data(task)
        try:
            with _quiet_datasets():
                calls = self._discover(task)
                for config in pending:
                    yield from self._run_config(task, calls, config)
        finally:
            task.unload_data()
        stderr.log(f"mteb {name}: done")

    def _run_aggregate(self, task: Any) -> Iterator[dict[str, Any]]:
        """An aggregate task (e.g. CQADupstackRetrieval): its tasks' cells, then per cell mteb's combination of them.

        As `mteb.evaluate` does, every sub-task keeps its own result file and the aggregate's file joins them in the
        same folder; the leaderboard counts the aggregate once instead of its sub-tasks (records name `subtasks`).
        """
        from mteb import TaskResult

        from leafbench.evaluate.mteb_results import write_task_json

        name = task.metadata.name
        groups: dict[tuple[str, int, str], list[dict[str, Any]]] = {}
        for sub in task.metadata.tasks:
            for rec in self.run(sub):
                groups.setdefault((rec["config"], rec["dim"], rec["precision"]), []).append(rec)
                yield rec
        for (config, dim, precision), recs in groups.items():
            chash = spec_hash(sorted(r["cell_hash"] for r in recs))
            path = self.cell_path(name, config, dim, precision)
            rec = self._done(path, chash)
            if rec is None:
                combined = task.combine_task_results([TaskResult.from_disk(self.root / r["mteb_file"]) for r in recs])
                mteb_file = Path(recs[0]["mteb_file"]).parent / f"{name}.json"
                write_task_json(self.root / mteb_file, combined)
                rec = {**recs[0], "task": name, "task_type": task.metadata.type,
                       "main_score_name": task.metadata.main_score, "main_score": round(float(combined.get_score()), 6),
                       "mteb_file": str(mteb_file), "dataset_revision": task.metadata.revision,
                       "eval_splits": list(task.metadata.eval_splits), "subtasks": [r["task"] for r in recs],
                       "cell_hash": chash, "created": now(),
                       "timings": {"evaluate_s": round(sum(r["timings"]["evaluate_s"] for r in recs), 3)}}
                write_json_atomic(path, rec)
                self.computed += 1
            else:
                self.reused += 1
            yield rec

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

    def _run_config(self, task: Any, calls: list[TextCall], config: str) -> Iterator[dict[str, Any]]:
        name = task.metadata.name
        chash = self.cell_hash(task, config)
        routing = self.routing(config)
        t0, e0 = time.perf_counter(), self.service.encode_seconds
        by_route: dict[Route, dict[str, None]] = {}
        for call in calls:  # ordered, de-duplicated texts per (model, role): one encoding pass each
            by_route.setdefault(routing.route(call.prompt_type), {}).update(dict.fromkeys(call.texts))
        dims_seen: set[int] = set()
        for route, texts in by_route.items():  # the cells read them back from the store (memory-mapped)
            emb = self.service.embed(route.model, route.role, list(texts))
            if emb.size:
                dims_seen.add(int(emb.shape[1]))
        if len(dims_seen) > 1:
            cfg = self.suite.configs[config]
            raise UserError(f"configs.{config}: query model '{cfg.query_model}' and document model "
                            f"'{cfg.document_model}' give different embedding sizes {sorted(dims_seen)}; asymmetric "
                            f"evaluation needs a student aligned to the teacher's space (see `leafbench distill`)")
        full_dim = dims_seen.pop() if dims_seen else self.service.encoder(routing.query.model).dim
        encode_s = self.service.encode_seconds - e0
        prepare_s = time.perf_counter() - t0 - encode_s
        calibration, sources = self._calibrator(calls, routing)
        cells = [(d, p) for d in self.dims(config, full_dim) for p in self.precisions]
        with progress_bar(f"mteb {name} {config}", len(cells), unit="cells") as advance:
            for dim, precision in cells:
                path = self.cell_path(name, config, dim, precision)
                rec = self._done(path, chash)
                if rec is None:
                    rec = self._run_cell(task, config, routing, full_dim, dim, precision, calibration, sources)
                    rec["cell_hash"] = chash
                    rec["timings"].update(encode_s_shared=round(encode_s, 3), prepare_s_shared=round(prepare_s, 3))
                    write_json_atomic(path, rec)
                    self.computed += 1
                else:
                    self.reused += 1
                advance(1)
                yield rec

    def _calibrator(self, calls: list[TextCall], routing: Routing) -> tuple[CalibrationFn, dict[str, str]]:
        """int8 calibration per task subset: on its document-side texts if it has any, else on all its texts.

        Splits are pooled (classification encodes its train split under the name 'train': features of train and
        test must share one quantizer). Calibrations are computed once per (subset, dim, scheme) and cached.
        """
        texts: dict[str, dict[Route, dict[str, None]]] = {}
        for call in calls:
            texts.setdefault(call.hf_subset, {})
        sources: dict[str, str] = {}
        for subset, routes in texts.items():
            doc_calls = [c for c in calls if c.hf_subset == subset and c.prompt_type == "document"]
            chosen = doc_calls or [c for c in calls if c.hf_subset == subset]
            sources[subset] = "document side" if doc_calls else "all task texts"
            for call in chosen:
                routes.setdefault(routing.route(call.prompt_type), {}).update(dict.fromkeys(call.texts))
        cache: dict[tuple[str, int, str], Int8Calibration] = {}

        def calibration(subset: str, dim: int, scheme: str) -> Int8Calibration:
            key = (subset, dim, scheme)
            if key not in cache:
                if subset not in texts:
                    raise UserError(f"mteb asked for subset '{subset}' that the discovery pass did not see")
                embs = [truncate(self.service.embed(r.model, r.role, list(t)), dim) for r, t in texts[subset].items()]
                cache[key] = calibrate_int8(np.vstack(embs), scheme)
            return cache[key]

        return calibration, sources

    def _run_cell(self, task: Any, config: str, routing: Routing, full_dim: int, dim: int, precision: str,
                  calibration: CalibrationFn, sources: dict[str, str]) -> dict[str, Any]:
        from leafbench.evaluate.mteb_results import write_task_result

        meta = self.model_meta(config, full_dim, dim, precision)
        encoder = LeafbenchEncoder(self.service, routing, meta, full_dim, dim, precision,
                                   calibration if precision.startswith("int8") else None)
        t0 = time.perf_counter()
        result = self._evaluate(encoder, task)
        eval_s = time.perf_counter() - t0
        path = write_task_result(self.out_dir, meta, result)
        source = ", ".join(sorted(set(sources.values()))) or "none"
        sym = routing.route(None)
        cfg = self.suite.configs[config]
        return {
            "schema": SCHEMA, "suite": self.suite.name, "task": task.metadata.name,
            "task_type": task.metadata.type, "config": config, "mode": cfg.mode, "dim": dim, "full_dim": full_dim,
            "precision": precision,
            "variant": VARIANTS[precision].format(source=source),
            "calibration": source if precision.startswith("int8") else None,
            "symmetric_side": self.spec.symmetric_side,
            "symmetric_model": {"name": sym.model, "role": sym.role,
                                "prompt": self.service.encoder(sym.model).prompt(sym.role)},
            "main_score_name": task.metadata.main_score, "main_score": round(float(result.get_score()), 6),
            "mteb_file": str(path.relative_to(self.root)), "model_name": meta.name, "revision": meta.revision,
            "experiment": meta.experiment_name, "experiment_kwargs": meta.experiment_kwargs,
            "dataset_revision": task.metadata.revision, "eval_splits": list(task.eval_splits),
            "query_model": self._model_record(cfg.query_model), "document_model": self._model_record(cfg.document_model),
            "environment": environment(), "created": now(), "timings": {"evaluate_s": round(eval_s, 3)},
        }

    def _model_record(self, name: str) -> dict[str, Any]:
        enc = self.service.encoder(name)
        return {"name": name, **self.suite.models[name].model_dump(), "dtype": enc.dtype,
                "fingerprint": enc.fingerprint,
                "prompts": {"query": enc.prompt("query"), "document": enc.prompt("document")}}

    # -------------------------------------------------------------------------------- naming

    def model_meta(self, config: str, full_dim: int, dim: int, precision: str) -> Any:
        """The cell's mteb ModelMeta: `mteb_identity` of the config's models, plus sizes from the loaded encoders."""
        from leafbench.evaluate.mteb_results import build_model_meta

        cfg = self.suite.configs[config]
        q_enc = self.service.encoder(cfg.query_model)
        name, revision, kwargs = mteb_identity(config, cfg.mode, self._model_record(cfg.query_model),
                                               self._model_record(cfg.document_model), dim, full_dim, precision,
                                               self.spec.symmetric_side)
        adapted = mteb_name(self.suite.models[cfg.document_model].id) if cfg.mode == "asymmetric" else None
        n_params = sum(p.numel() for p in q_enc.model.parameters())
        return build_model_meta(name, revision, embed_dim=dim, max_tokens=q_enc.model.max_seq_length,
                                n_parameters=int(n_params), similarity=SIMILARITY[precision],
                                experiment_kwargs=kwargs or None,
                                output_dtype=kwargs.get("output_dtypes"), adapted_from=adapted)

    # -------------------------------------------------------------------------------- leaderboard

    def write_leaderboard(self, records: list[dict[str, Any]]) -> Path:
        """Aggregates per config/dim/precision (one leaderboard row each) into `mteb/leaderboard.json`."""
        path = self.root / "leaderboard.json"
        write_json_atomic(path, {"schema": "leafbench.mteb-leaderboard/1", "suite": self.suite.name,
                                 "rows": leaderboard(records), "created": now()})
        return path


def mteb_name(model_id: str) -> str:
    """An `org/name` for mteb: a hub id as is, a local folder as `local/<folder name>`."""
    if "/" in model_id and not Path(model_id).exists() and not model_id.startswith((".", "~")):
        return model_id
    return f"local/{Path(model_id).expanduser().resolve().name}"


def mteb_identity(config: str, mode: str, query_model: dict[str, Any], document_model: dict[str, Any], dim: int,
                  full_dim: int, precision: str, symmetric_side: str = "query") -> tuple[str, str, dict[str, Any]]:
    """(model name, revision, experiment_kwargs) under which a config's cell is filed in MTEB's layout.

    `query_model`/`document_model` are model records as cells store them: the suite's ModelSpec fields plus
    `fingerprint` and, when known, the resolved `prompts` ({"query": ..., "document": ...}, the model's own prompts
    where the suite sets none). Standard configs are named by their model id (a local folder becomes
    `local/<folder>`), asymmetric ones `leafbench/<config>`. The revision is the weights fingerprint (packaged
    copies carry no hub commit). Whatever makes the run differ from the model as published is an experiment kwarg:
    dim, precision, the suite's max_seq_length/dtype/prompt overrides, and the symmetric side whenever the two
    sides embed differently (another model or another prompt).
    """
    kwargs: dict[str, Any] = {}
    sides = (("", query_model),) if mode == "standard" else (("query_", query_model), ("document_", document_model))
    for prefix, model in sides:
        for key in ("max_seq_length", "query_prompt", "document_prompt"):
            if model.get(key) is not None:
                kwargs[prefix + key] = model[key]
        if model.get("dtype", "fp32") != "fp32":
            kwargs[prefix + "dtype"] = model["dtype"]

    def symmetric_prompt(model: dict[str, Any], side: Role) -> str:
        prompts = {r: (model.get("prompts") or {}).get(r, model.get(f"{r}_prompt") or "") for r in ("query", "document")}
        return prompts[symmetric_role(prompts, side)]

    if mode == "asymmetric" or symmetric_prompt(query_model, "query") != symmetric_prompt(document_model, "document"):
        kwargs["symmetric_side"] = symmetric_side  # the side changes what embeds tasks without prompt types
    if dim != full_dim:
        kwargs["embed_dim"] = dim
    if precision != "float32":
        kwargs["output_dtypes"] = "binary" if precision == "binary" else "int8"
        if precision.startswith("int8"):
            kwargs["int8_scheme"] = "affine" if precision == "int8-affine" else "symmetric"
    if mode == "standard":
        return mteb_name(query_model["id"]), query_model.get("fingerprint") or "no_revision_available", kwargs
    return f"leafbench/{config}", spec_hash([query_model.get("fingerprint"), document_model.get("fingerprint")]), kwargs


def leaderboard(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (config, dim, precision): MTEB's leaderboard aggregates over the tasks it has results for.

    A sub-task of an aggregate task in the records (CQADupstack's forums, say) counts only through the aggregate.
    """
    from leafbench.evaluate.mteb_results import aggregate

    parts = {sub for rec in records for sub in rec.get("subtasks") or []}  # counted through their aggregate
    groups: dict[tuple[str, int, str], list[dict[str, Any]]] = {}
    for rec in records:
        if rec["task"] not in parts:
            groups.setdefault((rec["config"], rec["dim"], rec["precision"]), []).append(rec)
    rows = []
    for (config, dim, precision), recs in groups.items():
        first = recs[0]
        rows.append({"config": config, "mode": first["mode"], "dim": dim, "precision": precision,
                     "model_name": first["model_name"], "revision": first["revision"],
                     "experiment": first["experiment"], "symmetric_side": first["symmetric_side"],
                     **aggregate({r["task"]: (r["task_type"], r["main_score"]) for r in recs}),
                     "tasks": {r["task"]: r["main_score"] for r in sorted(recs, key=lambda r: r["task"])}})
    return rows

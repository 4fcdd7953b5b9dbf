"""The distill stage of a suite: texts -> teacher embeddings (through the store) -> ridge init -> training ->
exports; and `leafbench distill`.

The run folder (`<results>/<suite>/distill/run-<hash of the distill setup>/`) is the state: a finished run
(`distill.json` plus the exported folders) is reused without loading a model; an interrupted one continues from its
last checkpoint. Teacher embeddings go through the suite's EmbeddingService, so a rerun, the retrieval grid and the
training share them: corpus documents the grid needs anyway cost the distill stage nothing, and vice versa.
"""

from __future__ import annotations

import argparse
import hashlib
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

import numpy as np
import torch

from leafbench.config import Suite
from leafbench.distill.data import TextSet, TrainText, build_texts, text_key
from leafbench.distill.export import model_card, save_router, save_student
from leafbench.distill.model import build_student, fit_ridge, projection, teacher_normalizes
from leafbench.distill.spec import DistillSpec
from leafbench.distill.trainer import CurveFn, EncodeFn, LeafTrainer, StepHook
from leafbench.embed import EmbeddingService
from leafbench.encoders import Encoder, load_sentence_transformer
from leafbench.errors import UserError
from leafbench.progress import stderr
from leafbench.results import environment, now, read_json, write_json_atomic

SCHEMA = "leafbench.distill/1"
RECORD = "distill.json"


# ----------------------------------------------------------------------------------------- teacher targets


def load_embeddings_file(path: Path, where: str) -> np.ndarray:
    """A user's precomputed teacher embeddings: .npy [n, dim] or .parquet (one list column, or one column per dim)."""
    if not path.is_file():
        raise UserError(f"{where}: {path} not found (expected a .npy or .parquet file of teacher embeddings)")
    try:
        if path.suffix == ".npy":
            arr = np.load(path, allow_pickle=False)
        elif path.suffix == ".parquet":
            import pyarrow.parquet as pq

            table = pq.read_table(path)
            if table.num_columns == 1:
                arr = np.array(table.column(0).to_pylist(), dtype=np.float32)
            else:
                arr = np.column_stack([table.column(i).to_numpy() for i in range(table.num_columns)])
        else:
            raise ValueError("unsupported file type")
        arr = np.asarray(arr, dtype=np.float32)
    except (OSError, ValueError, TypeError) as e:
        raise UserError(f"{where}: cannot read {path} as a float matrix ({e}); expected .npy [rows, dim] or "
                        f".parquet") from None
    if arr.ndim != 2 or not np.isfinite(arr).all():
        raise UserError(f"{where}: {path} must hold a finite 2-D [rows, dim] float matrix, got shape {arr.shape}")
    return arr


def _given_embeddings(spec: DistillSpec) -> dict[int, np.ndarray]:
    given = {i: load_embeddings_file(Path(s.embeddings), f"distill.data.sources.{i}.embeddings")
             for i, s in enumerate(spec.data.sources) if s.embeddings is not None}
    dims = {i: a.shape[1] for i, a in given.items()}
    if len(set(dims.values())) > 1:
        raise UserError(f"distill.data.sources: embeddings files differ in dim ({dims}); all must come from one "
                        f"teacher")
    return given


def teacher_targets(texts: list[TrainText], given: dict[int, np.ndarray], service: EmbeddingService,
                    teacher: str | None) -> np.ndarray:
    """Teacher embeddings row-aligned with `texts`: file rows where given, else the teacher through the store."""
    dim = next(iter(given.values())).shape[1] if given else service.encoder(teacher).dim  # type: ignore[arg-type]
    if teacher is not None and given and service.encoder(teacher).dim != dim:
        raise UserError(f"distill.data.sources: embeddings files are {dim}-d but the teacher '{teacher}' gives "
                        f"{service.encoder(teacher).dim}-d embeddings")
    out = np.empty((len(texts), dim), dtype=np.float32)
    for role in ("query", "document"):
        idx = [i for i, t in enumerate(texts) if t.role == role and t.row < 0]
        if idx:
            out[idx] = service.embed(teacher, role, [texts[i].text for i in idx])  # type: ignore
        for i, t in enumerate(texts):
            if t.role == role and t.row >= 0:
                out[i] = given[t.source][t.row]
    return out


def student_features(service: EmbeddingService, suite: Suite, texts: list[TrainText], prompts: dict[str, str],
                     max_seq_length: int) -> np.ndarray:
    """The init model's embeddings of training inputs (teacher prompts, training cap), for the ridge fit.

    Keyed in the store like any embedding: when the student's own settings give the same inputs (the usual case:
    same prompts and cap), these are exactly the grid's student embeddings, shared both ways.
    """
    name = suite.distill.student  # type: ignore[union-attr]
    spec = suite.models[name].model_copy(update={"query_prompt": prompts.get("query", ""),
                                                 "document_prompt": prompts.get("document", ""),
                                                 "max_seq_length": max_seq_length})
    own = service.encoder(name)
    same = own.model.max_seq_length == max_seq_length and all(own.prompt(r) == prompts.get(r, "")  # type: ignore
                                                                for r in ("query", "document"))
    enc = own if same else Encoder(name, spec, service.device)
    out: np.ndarray | None = None
    for role in ("query", "document"):
        idx = [i for i, t in enumerate(texts) if t.role == role]
        if not idx:
            continue
        emb = service.store.get(enc.cache_namespace(role), [texts[i].text for i in idx],
                                lambda todo, r=role: enc.encode(todo, r))
        if out is None:
            out = np.empty((len(texts), emb.shape[1]), dtype=np.float32)
        out[idx] = emb
    assert out is not None
    return out


# -------------------------------------------------------------------------------------- learning-curve tasks


def make_curve(suite: Suite, service: EmbeddingService) -> CurveFn | None:
    """Asymmetric nDCG@10 (student queries vs teacher documents, float32) on the curve tasks, during training.

    Cheap: only the queries are re-encoded; the teacher's documents come from the store (and the grid reuses them).
    Logged, never used to pick a checkpoint: the evaluation stays clean.
    """
    from leafbench.datasets.tasks import load_task
    from leafbench.metrics import evaluate_run, run_from_topk
    from leafbench.search import retrieve
    from leafbench.transforms import l2_normalize

    spec = suite.distill
    assert spec is not None
    if not spec.curve_tasks:
        return None
    tasks = {t.task_name: t for t in suite.tasks}
    prepared = []
    for name in spec.curve_tasks:
        data = load_task(tasks[name])
        qids, dids = sorted(data.queries), sorted(data.corpus)
        docs = l2_normalize(service.embed(spec.teacher, "document", data.doc_texts(dids)))  # type: ignore
        prepared.append((name, data, qids, dids, docs))

    def curve(encode: EncodeFn) -> dict[str, float]:
        scores = {}
        for name, data, qids, dids, docs in prepared:
            queries = l2_normalize(encode([data.queries[q] for q in qids], "query"))
            k = min(10 + (1 if suite.ignore_identical_ids else 0), len(dids))
            run = run_from_topk(retrieve(queries, docs, "float32", k), qids, dids)
            scores[name] = round(evaluate_run(data.qrels, run, [10], suite.ignore_identical_ids)[0]["NDCG@10"], 6)
        return scores

    return curve


# ------------------------------------------------------------------------------------------------- the stage


def _eval_queries(suite: Suite) -> list[str]:
    from leafbench.datasets.tasks import load_task

    return [q for task in suite.tasks for q in load_task(task).queries.values()]


def _digest(texts: list[str]) -> str:
    return hashlib.sha256("\n".join(sorted({text_key(t) for t in texts})).encode()).hexdigest()[:16]


def _check_writable(folder: Path) -> None:
    try:
        folder.mkdir(parents=True, exist_ok=True)
        probe = folder / f".write-test-{uuid.uuid4().hex}"
        probe.write_text("ok")
        probe.unlink()
    except OSError as e:
        raise UserError(f"output: cannot write the distill run folder {folder} ({e.strerror or e}); "
                        f"pass --output DIR with a writable folder") from None


def _finished(suite: Suite) -> dict[str, Any] | None:
    rec = read_json(suite.distill_run_dir / RECORD)
    if not rec or rec.get("schema") != SCHEMA:
        return None
    paths = [Path(p) for p in rec["outputs"].values() if p]
    return rec if all((p / "modules.json").is_file() for p in paths) else None


def _prompts(service: EmbeddingService, teacher: str | None) -> dict[str, str]:
    if teacher is None:
        return {}
    enc = service.encoder(teacher)
    return {role: enc.prompt(role) for role in ("query", "document")}


def _resume_point(trainer: LeafTrainer, resume: bool, digest: str) -> Path | None:
    """The checkpoint to continue from: the latest one, unless not resuming or it was trained on other texts."""
    checkpoint = trainer.latest_checkpoint()
    if checkpoint is None:
        return None
    if not resume:
        stderr.log(f"distill: discarding the checkpoint at {checkpoint.name} (pass --resume to continue it)")
    elif trainer.checkpoint_digest(checkpoint) != digest:
        stderr.log(f"distill: the checkpoint at {checkpoint.name} was trained on other texts; starting over")
    else:
        return checkpoint
    trainer.discard_checkpoints()
    return None


def _fit_projection(model, service: EmbeddingService, suite: Suite, train: list[TrainText], targets: np.ndarray,
                    prompts: dict[str, str], cap: int) -> None:
    """Initialise the projection with a ridge fit of the init's embeddings to the teacher's, on a seeded sample."""
    cfg = suite.distill.training  # type: ignore[union-attr]
    rng = np.random.default_rng(cfg.seed)
    sample = sorted(rng.choice(len(train), min(cfg.ridge_texts, len(train)), replace=False))
    feats = student_features(service, suite, [train[i] for i in sample], prompts, cap)
    w = fit_ridge(feats, targets[sample], cfg.ridge_alpha)
    projection(model).weight.data.copy_(torch.from_numpy(w))
    stderr.log(f"distill: ridge projection fitted on {len(sample)} texts (weight norm {np.linalg.norm(w):.1f})")


def run_distill(suite: Suite, service: EmbeddingService, resume: bool = True, force: bool = False,
                on_step: StepHook | None = None) -> dict[str, Any]:
    """Run the suite's distill stage (or reuse its finished run) and return its record."""
    spec = suite.distill
    if spec is None:
        raise UserError(f"suite '{suite.name}': no 'distill:' section (see suites/distill-quickstart.yaml)")
    run = suite.distill_run_dir
    # The run folder is keyed by the suite's settings, not the task contents: if a task was rebuilt with other
    # queries, a student trained before may have seen some of them, so it is retrained.
    excluded = _eval_queries(suite) if spec.data.exclude_eval_queries else []
    finished = None if force else _finished(suite)
    if finished is not None and finished["data"].get("eval_queries_digest") != _digest(excluded):
        stderr.log("distill: the suite's evaluation queries changed since this student was trained; retraining")
        finished, force = None, True
    if finished is not None:
        stderr.log(f"distill: finished run reused ({run}); `leafbench distill --force` retrains")
        return finished
    _check_writable(run)
    if force:
        for child in run.iterdir():
            shutil.rmtree(child) if child.is_dir() else child.unlink()
    t_start = time.perf_counter()
    cfg = spec.training

    given = _given_embeddings(spec)
    tasks = {t.task_name: t for t in suite.tasks}
    texts = build_texts(spec.data, tasks, excluded, {i: len(a) for i, a in given.items()})
    texts.stats["eval_queries_digest"] = _digest(excluded)
    stderr.log(f"distill: {texts.stats['train']} training texts ({texts.stats['train_queries']} query-like), "
               f"{texts.stats['validation']} held out; {texts.stats['dropped_eval_queries']} eval queries removed")
    t_texts = time.perf_counter()
    targets = teacher_targets(texts.all, given, service, spec.teacher)
    t_teacher = time.perf_counter()
    prompts = _prompts(service, spec.teacher)

    init_spec = suite.models[spec.student]
    init = load_sentence_transformer(init_spec.id, service.encoder(spec.student).device,
                                     field=f"models.{spec.student}.id")
    native_cap = init.max_seq_length
    cap = cfg.max_seq_length or init_spec.max_seq_length or native_cap
    init.max_seq_length = cap
    device = str(init.device)
    model = build_student(init, targets.shape[1], teacher_normalizes(targets), device)
    n_train = len(texts.train)
    trainer = LeafTrainer(model, texts.train, targets[:n_train], texts.validation, targets[n_train:], prompts, cfg,
                          run, device, curve=make_curve(suite, service), on_step=on_step)
    names = {"projection": spec.outputs.projection, "finetuned": spec.outputs.finetuned,
             "asymmetric": f"{spec.outputs.finetuned}-asym" if spec.teacher else None}
    outputs = {k: str(run / v) if v else None for k, v in names.items()}

    trainer.state.texts_digest = texts.stats["digest"]
    checkpoint = _resume_point(trainer, resume, texts.stats["digest"])
    ridge_s = 0.0
    if checkpoint is None:
        t0 = time.perf_counter()
        _fit_projection(model, service, suite, texts.train, targets[:n_train], prompts, cap)
        ridge_s = time.perf_counter() - t0
        if outputs["projection"]:
            save_student(model, Path(outputs["projection"]), prompts, native_cap)
    state = trainer.train(resume_from=checkpoint)

    save_student(model, Path(outputs["finetuned"]), prompts, native_cap)  # type: ignore[arg-type]
    if outputs["asymmetric"]:
        teacher_id = suite.models[spec.teacher].id  # type: ignore[index]
        save_router(Path(outputs["finetuned"]), teacher_id, Path(outputs["asymmetric"]), prompts, device)
    rec = _record(suite, spec, texts, targets, state, outputs, prompts, service, native_cap, cap, device,
                  resumed=checkpoint.name if checkpoint else None, bf16=trainer.bf16,
                  timings={"texts_s": t_texts - t_start, "teacher_embeddings_s": t_teacher - t_texts,
                           "ridge_s": ridge_s, "total_s": time.perf_counter() - t_start})
    write_cards(rec)
    write_json_atomic(run / RECORD, rec)
    trainer.discard_checkpoints()
    return rec


def _record(suite: Suite, spec: DistillSpec, texts: TextSet, targets: np.ndarray, state, outputs: dict[str, Any],
            prompts: dict[str, str], service: EmbeddingService, native_cap: int, cap: int, device: str,
            resumed: str | None, timings: dict[str, float], bf16: bool) -> dict[str, Any]:
    cfg = spec.training
    teacher_id = suite.models[spec.teacher].id if spec.teacher else "black box (precomputed embeddings)"
    return {
        "schema": SCHEMA, "suite": suite.name, "run_dir": str(suite.distill_run_dir), "created": now(),
        "teacher": {"name": spec.teacher, "id": teacher_id, "dim": int(targets.shape[1]),
                    "prompts": {k: v for k, v in prompts.items() if v}, "black_box": spec.teacher is None,
                    "normalized": teacher_normalizes(targets)},
        "student_init": {"name": spec.student, "id": suite.models[spec.student].id,
                         "dim": int(service.encoder(spec.student).dim), "native_max_seq_length": native_cap},
        "data": texts.stats,
        "training": {"steps": state.step, "epochs": cfg.epochs, "batch_size": cfg.batch_size,
                     "grad_accum": cfg.grad_accum, "lr": cfg.lr, "bf16": bf16, "max_seq_length": cap,
                     "samples": state.samples, "train_seconds": round(state.train_seconds, 2),
                     "samples_per_second": round(state.samples / max(state.train_seconds, 1e-9), 2),
                     "final_train_loss": state.last_loss, "device": device, "resumed_from": resumed},
        "projection_only": state.history[0], "final": state.history[-1], "history": state.history,
        "outputs": outputs, "timings": {k: round(v, 2) for k, v in timings.items()},
        "spec": spec.model_dump(mode="json"), "environment": environment(),
    }


def write_cards(rec: dict[str, Any], evaluation: list[dict[str, Any]] | None = None) -> None:
    for variant, path in rec["outputs"].items():
        if path and Path(path).is_dir():
            (Path(path) / "README.md").write_text(model_card(rec, variant, Path(path).name, evaluation),
                                                  encoding="utf-8")


def finalize_distill(suite: Suite, records: list[dict[str, Any]]) -> None:
    """After the grid: the evaluation table (full dim, float32) goes into the record and the model cards."""
    rec = _finished(suite)
    if rec is None:
        return
    rows = [r for r in records if r.get("precision") == "float32" and r.get("dim") == r.get("full_dim")]
    rec["evaluation"] = [{k: r[k] for k in ("task", "config", "mode", "dim")} |
                         {"query_model": r["query_model"]["name"], "document_model": r["document_model"]["name"],
                          "NDCG@10": r["scores"]["NDCG@10"]} for r in rows]
    write_cards(rec, rows)
    write_json_atomic(suite.distill_run_dir / RECORD, rec)


# ------------------------------------------------------------------------------------------------------- CLI


def distill_table(rec: dict[str, Any]):
    """Projection-only vs fine-tuned, side by side: held-out cosine and the curve tasks' asymmetric nDCG@10."""
    from rich.table import Table

    proj, final = rec["projection_only"], rec["final"]
    tasks = sorted(set(proj.get("curve") or {}) | set(final.get("curve") or {}))
    table = Table(title=f"distill ({rec['training']['steps']} steps, {rec['training']['samples_per_second']:.1f} "
                        f"samples/s)")
    for col in ("student", "held-out cosine", "queries", "documents", *(f"{t} asym nDCG@10" for t in tasks)):
        table.add_column(col, justify="left" if col == "student" else "right")
    for label, ev in (("projection only", proj), ("fine-tuned", final)):
        table.add_row(label, f"{ev['val_cosine']:.4f}", *(f"{ev[k]:.4f}" if ev.get(k) is not None else "-"
                                                          for k in ("val_cosine_queries", "val_cosine_documents")),
                      *(f"{(ev.get('curve') or {}).get(t, float('nan')):.4f}" for t in tasks))
    return table


def cmd_distill(args: argparse.Namespace) -> int:
    """`leafbench distill SUITE`: only the distill stage; --resume continues an interrupted run."""
    from rich.console import Console

    from leafbench.config import load_suite

    suite = load_suite(args.suite, {"output": args.output, "device": args.device})
    if suite.distill is None:
        raise UserError(f"{args.suite}: no 'distill:' section (see suites/distill-quickstart.yaml)")
    service = EmbeddingService(suite.models, device=suite.device)
    rec = run_distill(suite, service, resume=args.resume, force=args.force)
    out = Console()
    out.print(distill_table(rec))
    for variant, path in rec["outputs"].items():
        if path:
            out.print(f"{variant}: {path}")
    return 0

"""The distill stage of a suite: texts -> teacher embeddings (through the store) -> ridge init -> training ->
exports. (`leafbench distill` is leafbench.distill_cli; the record's schema is leafbench.distill.record.)

The run folder (`<results>/<suite>/distill/run-<hash of the distill setup>/`) is the state: a finished run
(`distill.json` plus the exported folders) is reused without loading a model; an interrupted one continues from its
last checkpoint. Teacher embeddings go through the suite's EmbeddingService, so a rerun, the retrieval grid and the
training share them: corpus documents the grid needs anyway cost the distill stage nothing, and vice versa.
"""

from __future__ import annotations

import hashlib
import shutil
import time
import uuid
from pathlib import Path
from typing import Any

from leafbench.config import Suite, spec_hash
from leafbench.distill.curve import make_curve
from leafbench.distill.data import build_texts, text_key
from leafbench.distill.export import save_router, save_student, write_cards
from leafbench.distill.inputs import changed_inputs, reexport, revalidate, run_inputs
from leafbench.distill.model import build_student, keep_layers, teacher_normalizes, token_cap
from leafbench.distill.static import static_embedding
from leafbench.distill.record import DistillRecord, build_record, evaluation_rows, read_record
from leafbench.distill.targets import fit_projection, given_embeddings, teacher_targets
from leafbench.distill.trainer import LeafTrainer, StepHook
from leafbench.distill_spec import DistillSpec
from leafbench.embed import EmbeddingService
from leafbench.encoders import load_sentence_transformer
from leafbench.errors import UserError
from leafbench.progress import stderr
from leafbench.results import write_json_atomic

RECORD = "distill.json"


# ------------------------------------------------------------------------------------------------- the stage


def _eval_queries(suite: Suite) -> list[str]:
    """Every query the suite evaluates: its retrieval tasks' (off-domain ones too) and its offline MTEB retrieval
    tasks' at their own subsets (the packaged query sources emit every headline and heading, so an MTEB task of
    another size would otherwise see its queries trained on)."""
    from leafbench.datasets.tasks import load_task

    queries = [q for task in suite.tasks for q in load_task(task).queries.values()]
    if suite.mteb is not None and suite.mteb.tasks:
        from leafbench.datasets.mteb_tasks import OFFLINE_TASKS
        from leafbench.datasets.packaged import load_packaged_task

        for t in suite.mteb.tasks:
            packaged = getattr(OFFLINE_TASKS.get(t.name), "packaged", "")
            if packaged:
                queries += load_packaged_task(packaged, t.max_docs, t.max_queries, t.seed).queries.values()
    return queries


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


def _finished(suite: Suite) -> DistillRecord | None:
    rec = read_record(suite.distill_run_dir / RECORD)
    if rec is None:
        return None
    paths = [Path(p) for p in rec.outputs.values() if p]
    return rec if all((p / "modules.json").is_file() for p in paths) else None


def _prompts(service: EmbeddingService, teacher: str | None) -> dict[str, str]:
    if teacher is None:
        return {}
    enc = service.encoder(teacher)
    return {role: enc.prompt(role) for role in ("query", "document")}


def _resume_point(trainer: LeafTrainer, restart: bool, digest: str) -> Path | None:
    """The checkpoint to continue from: the latest one, unless restarting or it was trained on other texts."""
    checkpoint = trainer.latest_checkpoint()
    if checkpoint is None:
        return None
    if restart:
        stderr.log(f"distill: discarding the checkpoint at {checkpoint.name} (--restart)")
    elif trainer.checkpoint_digest(checkpoint) != digest:
        stderr.log(f"distill: the checkpoint at {checkpoint.name} was trained on other texts; starting over")
    else:
        return checkpoint
    trainer.discard_checkpoints()
    return None


def _init(suite: Suite, service: EmbeddingService):
    """The student's body before the projection: the init model (cut to `student_layers`), or for the static family
    the init's token vectors; returns it, the layers kept and the static distillation's facts."""
    from sentence_transformers import SentenceTransformer

    spec = suite.distill_spec
    encoder = service.encoder(spec.student)
    if spec.student_family == "static":
        static = static_embedding(encoder, service.store, spec.static, spec.student_layers)
        cut = f" cut to its layers {static.layers}" if static.layers else ""
        stderr.log(f"distill: static token vectors {static.vocabulary} x {static.dim} from '{spec.student}'{cut} "
                   f"in {static.seconds:.1f} s ({static.computed_tokens} tokens run through the model, the rest "
                   f"from the store)")
        return SentenceTransformer(modules=[static.module], device=encoder.device), static.layers, static
    init = load_sentence_transformer(suite.models[spec.student].id, encoder.device, field=f"models.{spec.student}.id")
    if spec.student_layers is None:
        return init, None, None
    try:
        return init, keep_layers(init, spec.student_layers), None
    except ValueError as e:
        raise UserError(f"distill.student_layers: {e}") from None


def run_distill(suite: Suite, service: EmbeddingService, restart: bool = False, force: bool = False,
                on_step: StepHook | None = None) -> DistillRecord:
    """Run the suite's distill stage (or reuse its finished run) and return its record.

    An interrupted run continues from its last checkpoint; `restart` discards the checkpoints and starts over;
    `force` retrains even a finished run.
    """
    if suite.distill is None:
        raise UserError(f"suite '{suite.name}': no 'distill:' section (see suites/distill-quickstart.yaml)")
    spec = suite.distill_spec  # one stage: a suite of several runs each through its view (Suite.distill_stages)
    run = suite.distill_run_dir
    # The run folder is keyed by the suite's settings, not the task contents: if a task was rebuilt with other
    # queries, a student trained before may have seen some of them, so it is retrained.
    excluded = _eval_queries(suite) if spec.data.exclude_eval_queries else []
    finished = None if force else _finished(suite)
    if finished is not None and finished.data.get("eval_queries_digest") != _digest(excluded):
        stderr.log("distill: the suite's evaluation queries changed since this student was trained; retraining")
        finished, force = None, True
    inputs = run_inputs(suite, service) if finished is not None else None  # fingerprint cache: no model load
    if finished is not None and finished.inputs != inputs:
        changed = ", ".join(changed_inputs(finished.inputs, inputs or {})) or "the inputs"
        stderr.log(f"distill: {changed} changed since this student was trained; retraining")
        finished, force = None, True
    outputs = _output_paths(spec, run)
    if finished is not None and any(path and not finished.outputs.get(v) for v, path in outputs.items()):
        stderr.log("distill: an output this run did not export is asked for now; retraining")
        finished, force = None, True
    if finished is not None:
        stderr.log(f"distill: finished run reused ({run}); `leafbench distill --force` retrains")
        return _reuse(finished, suite, service, outputs)
    _check_writable(run)
    if force:
        for child in run.iterdir():
            shutil.rmtree(child) if child.is_dir() else child.unlink()
    t_start = time.perf_counter()
    cfg = spec.training

    given = given_embeddings(spec)
    tasks = {t.task_name: t for t in suite.tasks}
    texts = build_texts(spec.data, tasks, excluded, {i: len(a) for i, a in given.items()})
    texts.stats["eval_queries_digest"] = _digest(excluded)
    stderr.log(f"distill: {texts.stats['train']} training texts ({texts.stats['train_queries']} query-like), "
               f"{texts.stats['validation']} held out; {texts.stats['dropped_eval_queries']} eval queries removed")
    t_texts = time.perf_counter()
    targets = teacher_targets(texts.all, given, service, spec.teacher)
    t_teacher = time.perf_counter()
    prompts = _prompts(service, spec.teacher)

    init, layers, static = _init(suite, service)
    native_cap = token_cap(init)
    cap = None if static else cfg.max_seq_length or suite.models[spec.student].max_seq_length or native_cap
    if cap is not None:
        init.max_seq_length = cap
    device = str(init.device)
    architecture = "leaf" if static else cfg.architecture  # a static model has no Normalize of its own to keep
    model = build_student(init, targets.shape[1], teacher_normalizes(targets), device, architecture)
    n_train = len(texts.train)
    trainer = LeafTrainer(model, texts.train, targets[:n_train], texts.validation, targets[n_train:], prompts, cfg,
                          run, device, curve=make_curve(suite, service), on_step=on_step)
    # a checkpoint continues only on the same texts, from the same teacher, student and source contents
    inputs = inputs or run_inputs(suite, service)
    resume_key = spec_hash([texts.stats["digest"], inputs])
    trainer.state.texts_digest = resume_key
    checkpoint = _resume_point(trainer, restart, resume_key)
    ridge_s = 0.0
    if checkpoint is None:
        t0 = time.perf_counter()
        fit_projection(model, service, suite, texts.train, targets[:n_train], prompts, cap)
        ridge_s = time.perf_counter() - t0
        if outputs["projection"]:
            save_student(model, Path(outputs["projection"]), prompts, native_cap)
    state = trainer.train(resume_from=checkpoint)

    save_student(model, Path(outputs["finetuned"]), prompts, native_cap)  # type: ignore[arg-type]
    if outputs["asymmetric"]:
        teacher_id = suite.models[spec.teacher].id  # type: ignore[index]
        save_router(Path(outputs["finetuned"]), teacher_id, Path(outputs["asymmetric"]), prompts, device)
    timings = {"texts_s": t_texts - t_start, "teacher_embeddings_s": t_teacher - t_texts,
               **({"token_vectors_s": static.seconds} if static else {}), "ridge_s": ridge_s,
               "total_s": time.perf_counter() - t_start}
    rec = build_record(suite, spec, texts, int(targets.shape[1]), teacher_normalizes(targets), state, outputs, prompts,
                       service, native_cap, trainer, layers, inputs, static,
                       resumed=checkpoint.name if checkpoint else None, timings=timings)
    _save(suite, rec)
    trainer.discard_checkpoints()
    return rec


def _output_paths(spec: DistillSpec, run: Path) -> dict[str, str | None]:
    names = {"projection": spec.outputs.projection, "finetuned": spec.outputs.finetuned,
             "asymmetric": f"{spec.outputs.finetuned}-asym" if spec.teacher else None}
    return {k: str(run / v) if v else None for k, v in names.items()}


def _save(suite: Suite, rec: DistillRecord) -> None:
    """The model cards first, then the record: a record on disk always has the cards it describes."""
    write_cards(rec)
    write_json_atomic(suite.distill_run_dir / RECORD, rec.dump())


def _reuse(rec: DistillRecord, suite: Suite, service: EmbeddingService,
           outputs: dict[str, str | None]) -> DistillRecord:
    """A finished run under settings that cannot change its weights: re-export under new output names, re-score on
    new curve tasks, and record the current values of those settings."""
    spec = suite.distill_spec
    now = spec.model_dump(mode="json", include={"curve_tasks", "off_domain_tasks", "outputs"})
    before = {k: rec.spec.get(k) for k in now}
    if before == now and rec.outputs == outputs:
        return rec
    if rec.outputs != outputs:
        rec = reexport(rec, outputs)
    if (before["curve_tasks"], before["off_domain_tasks"]) != (now["curve_tasks"], now["off_domain_tasks"]):
        rec = revalidate(rec, suite, service)
    rec = rec.model_copy(update={"spec": {**rec.spec, **now}})
    _save(suite, rec)
    return rec


def finalize_distill(suite: Suite, records: list[Any]) -> None:
    """After the grid: this run's evaluation table (full dim, float32) goes into the record and the model cards.

    `records` are the cells of the grid that just ran (computed or reused for the current models), so a retrained
    student's card shows the new student's scores.
    """
    rec = _finished(suite)
    if rec is None:
        return
    _save(suite, rec.model_copy(update={"evaluation": evaluation_rows(records)}))

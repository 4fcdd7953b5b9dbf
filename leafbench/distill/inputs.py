"""What a distill run was trained from, by content, and what a finished run may change without retraining.

The run folder is named by the distill *settings* (DistillSpec.identity, computed when the suite is validated,
torch-free). The *content* behind them can change under the same settings: the teacher's or student's weights under
the same id, a training file edited in place, a BEIR folder re-downloaded. `run_inputs` records that content (model
fingerprints from the fingerprint cache, so a rerun loads no model; a digest per source), the finished run keeps it
in `distill.json`, and the stage retrains (and does not resume) when it differs.

The other way round, settings that cannot change the weights are left out of the folder's name (curve tasks,
off-domain tasks, validate_every, output names, encoding batch sizes): a finished run is kept, its folders renamed
to the new output names (`reexport`) and its final student re-scored on the new curve tasks (`revalidate`).
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
from pathlib import Path
from typing import Any

from leafbench.config import Suite
from leafbench.distill.packaged_text import PACKAGED_FROM
from leafbench.distill.record import CurvePoint, DistillRecord
from leafbench.distill_spec import TextSource
from leafbench.embed import EmbeddingService
from leafbench.identity import beir_folder_digest, file_digest, model_facts, task_stamp
from leafbench.progress import stderr

# The installed package each packaged text is read from (its version stands for the text's content).
def _version(package: str) -> str | None:
    try:
        return importlib.metadata.version(package)
    except importlib.metadata.PackageNotFoundError:
        return None


def _hf_revision(src: TextSource) -> str | None:
    """The hub commit of an HF dataset (online users; None offline or when the hub cannot say)."""
    try:
        from huggingface_hub import HfApi

        return HfApi().dataset_info(src.hf).sha  # type: ignore[arg-type]
    except Exception:  # noqa: BLE001 - offline, private, or gone: the id and split still identify it
        return None


def source_digest(src: TextSource, tasks: dict[str, Any]) -> dict[str, Any]:
    """The content of one training source: file bytes, a BEIR folder's files, a suite task's data stamp, an HF
    dataset's revision, or a packaged text's source package version."""
    out: dict[str, Any] = {"source": src.label}
    if src.file is not None:
        out["digest"] = file_digest([Path(src.file)]) if Path(src.file).is_file() else None
    elif src.beir_folder is not None:
        out["digest"] = beir_folder_digest(Path(src.beir_folder), "test")
    elif src.task is not None:
        out["stamp"] = task_stamp(tasks[src.task])
    elif src.hf is not None:
        out["revision"] = _hf_revision(src)
    elif src.packaged == "docstrings":
        out["python"] = platform.python_version()
    else:
        package = PACKAGED_FROM[src.packaged]  # type: ignore[index]
        out["package"] = f"{package}=={_version(package)}"
    if src.embeddings is not None:
        path = Path(src.embeddings)
        out["embeddings"] = file_digest([path]) if path.is_file() else None
    return out


def run_inputs(suite: Suite, service: EmbeddingService) -> dict[str, Any]:
    """The teacher's and student's fingerprints and a digest of every source: what the weights were trained from."""
    spec = suite.distill_spec

    def fingerprint(name: str | None) -> str | None:
        if name is None:
            return None
        return model_facts(suite.models[name], lambda: service.encoder(name).facts).fingerprint

    tasks = {t.task_name: t for t in suite.tasks}
    return {"teacher": fingerprint(spec.teacher), "student": fingerprint(spec.student),
            "sources": [source_digest(s, tasks) for s in spec.data.sources]}


def changed_inputs(recorded: dict[str, Any], now: dict[str, Any]) -> list[str]:
    """Which inputs differ ('teacher', 'student', 'source N'), for the retraining message."""
    out = [k for k in ("teacher", "student") if recorded.get(k) != now.get(k)]
    old = recorded.get("sources") or []
    out += [f"source {i} ({s['source']})" for i, s in enumerate(now["sources"]) if i >= len(old) or old[i] != s]
    return out


def reexport(rec: DistillRecord, outputs: dict[str, str | None]) -> DistillRecord:
    """Move the exported folders to the current output names (the weights are the same). Each is looked up by its
    name in the run folder the targets are in: a record that came with a copied or moved results folder (`run
    --output`) still names the old folder's paths, whose files belong to that folder and are never moved."""
    moved = dict(rec.outputs)
    for variant, target in outputs.items():
        source = rec.outputs.get(variant)
        here = Path(target).parent / Path(source).name if target and source else None
        if here is not None and here != Path(target) and here.is_dir():
            os.replace(here, target)
            stderr.log(f"distill: output '{variant}' renamed {here.name} -> {Path(target).name}")
        moved[variant] = target
    return rec.model_copy(update={"outputs": moved})


def revalidate(rec: DistillRecord, suite: Suite, service: EmbeddingService) -> DistillRecord:
    """Score the exported students on the current curve and off-domain tasks (the training history keeps the
    curve it was trained with)."""
    from sentence_transformers import SentenceTransformer

    from leafbench.distill.curve import make_curve
    from leafbench.distill.model import embed

    curve = make_curve(suite, service)
    prompts = rec.teacher.prompts
    batch = suite.distill_spec.training.batch_size
    update: dict[str, Any] = {}
    for attr, variant in (("final", "finetuned"), ("projection_only", "projection")):
        path = rec.outputs.get(variant)
        if not path or not Path(path).is_dir():
            continue
        points: dict[str, Any] = {}
        if curve is not None:
            model = SentenceTransformer(path, device=service.encoder(suite.distill_spec.student).device)
            points = curve(lambda texts, role, m=model: embed(m, texts, [role] * len(texts), prompts, batch, False))
        update[attr] = getattr(rec, attr).model_copy(update={"curve": {k: CurvePoint(**v) for k, v in
                                                                       points.items()}})
    history = list(rec.history)  # its first and last points are the projection-only and final students
    if "projection_only" in update and history:
        history[0] = update["projection_only"]
    if "final" in update and history:
        history[-1] = update["final"]
    stderr.log("distill: curve tasks changed; the finished students were re-scored on them (no retraining)")
    return rec.model_copy(update={**update, "history": history})

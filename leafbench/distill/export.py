"""Exports: the student as a sentence-transformers folder, the asymmetric Router model, and their model cards.

Both folders load with plain `SentenceTransformer(path)`. The student carries the teacher's prompts (it was trained
on the teacher's prompted inputs); the Router model sends `encode_query` to the student and `encode_document` to
the teacher, like the released mdbr-leaf-ir-asym, so a deployment needs one model id for both sides.
"""

from __future__ import annotations

import os
import shutil
import uuid
from pathlib import Path
from typing import TYPE_CHECKING, Any

from leafbench.timing import timed

if TYPE_CHECKING:
    from leafbench.distill.record import DistillRecord


def _replace_dir(staged: Path, target: Path) -> None:
    """Move a finished folder into place; readers see the old folder or the new one, never a half-written one."""
    if target.exists():
        old = target.with_name(f".old-{target.name}-{uuid.uuid4().hex}")
        os.replace(target, old)
        os.replace(staged, target)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(staged, target)


def _staging(target: Path) -> Path:
    target.parent.mkdir(parents=True, exist_ok=True)
    return target.with_name(f".tmp-{target.name}-{uuid.uuid4().hex}")


@timed("export")
def save_student(model, target: Path, prompts: dict[str, str], max_seq_length: int | None) -> Path:
    """Save a copy of `model` with the teacher's prompts and the init's own max_seq_length (training may cap it)."""
    from leafbench.distill.model import capped

    staged = _staging(target)
    saved_prompts = dict(model.prompts)
    try:
        with capped(model, max_seq_length):
            model.prompts = {k: v for k, v in prompts.items() if v}
            model.save(str(staged))
    finally:
        model.prompts = saved_prompts
    _replace_dir(staged, target)
    return target


@timed("export")
def save_router(student_path: Path, teacher_id: str, target: Path, prompts: dict[str, str], device: str) -> Path:
    """A Router model: queries -> the student at `student_path`, documents -> the teacher (loaded afresh, so it keeps
    its own max_seq_length rather than a suite's evaluation cap)."""
    from sentence_transformers import SentenceTransformer

    from leafbench.st_compat import st_modules
    from leafbench.encoders import load_sentence_transformer

    student = SentenceTransformer(str(student_path), device=device)
    teacher = load_sentence_transformer(teacher_id, device, field="distill.teacher")
    router = st_modules().Router.for_query_document(query_modules=list(student.children()),
                                       document_modules=list(teacher.children()))
    model = SentenceTransformer(modules=[router], device=device, similarity_fn_name="cosine",
                                prompts={k: v for k, v in prompts.items() if v})
    staged = _staging(target)
    model.save(str(staged))
    _replace_dir(staged, target)
    return target


def _fmt(v: Any, digits: int = 4) -> str:
    return "-" if v is None else f"{v:.{digits}f}" if isinstance(v, float) else str(v)


def _curve_cell(point: Any) -> str:
    if point is None:
        return "-"
    share = f" ({100 * point.share:.1f}%)" if point.share is not None else ""
    return f"{point.ndcg10:.4f}{share} / {point.query_cosine:.3f} / {point.top10_overlap:.2f}"


_ARCHITECTURE = {"leaf": "transformer -> mean pooling -> Dense {s} -> {t} -> Normalize (LEAF's student)",
                 "init-normalize": "the init's modules (its Normalize kept) -> Dense {s} -> {t} -> Normalize",
                 "static": "StaticEmbedding (mean of token vectors) -> Dense {s} -> {t} -> Normalize"}


def _init_line(init) -> str:
    """The card's 'student init' row: the transformer it started from, or how its token vectors were made."""
    cut = f", cut to its transformer layers {init.layers}" if init.layers else ""
    if init.static is not None:
        st = init.static
        pca = f"PCA to {st.pca_dims}" if st.pca_dims else "no PCA"
        sif = f"SIF {st.sif_coefficient}" if st.sif_coefficient else "no SIF"
        return (f"static: `{init.id}`'s own token vectors{cut} (model2vec distillation: {st.vocabulary} tokens, "
                f"{pca}, {sif}; {st.seconds:.0f} s, {st.computed_tokens} tokens computed), ridge-initialised "
                f"projection")
    return f"`{init.id}` ({init.dim}-d){cut}, ridge-initialised projection"


def model_card(rec: "DistillRecord", variant: str, name: str) -> str:
    """README.md for an exported folder: what it is, how it was made, and how well it matches the teacher."""
    teacher, init, data, tr = rec.teacher, rec.student_init, rec.data, rec.training
    proj, final = rec.projection_only, rec.final
    black_box = ", black box: embeddings from files" if teacher.black_box else ""
    what = {"finetuned": "the fine-tuned leaf student",
            "projection": "the projection-only student (init model + ridge-fitted projection, no training steps)",
            "asymmetric": "an asymmetric model: queries -> the leaf student, documents -> the teacher"}[variant]
    loss = {"mse": "squared L2 distance", "cosine": "1 - cosine"}.get(tr.loss, tr.loss)
    rank = (f" + {tr.rank_weight} x ranking KL (student-query vs teacher-query scores over teacher documents)"
            if tr.rank_weight else "")
    if tr.matryoshka_dims:
        rank += f", averaged over the full dimension and its {tr.matryoshka_dims} prefixes"
    lines = [
        "---", "library_name: sentence-transformers", "tags: [sentence-transformers, feature-extraction, "
        "knowledge-distillation, leaf]", f"base_model: {init.id}", "---", "",
        f"# {name}", "",
        f"This folder holds {what}, distilled with leafbench following LEAF "
        f"(arXiv 2509.12539): the student is trained so that its embedding of a text matches the teacher's "
        f"embedding of the same text ({loss}{rank}), with no labels and no hard negatives. Its embeddings live in "
        f"the teacher's {teacher.dim}-d space, so student queries can search teacher-embedded documents.", "",
        "```python", "from sentence_transformers import SentenceTransformer", "",
        f'model = SentenceTransformer("path/to/{name}")',
        'q = model.encode_query(["how do rockets reach orbit?"])',
        'd = model.encode_document(["A rocket reaches orbit by ..."])', "print(model.similarity(q, d))", "```", "",
        "## Setup", "",
        "| | |", "|---|---|",
        f"| teacher | `{teacher.id}` ({teacher.dim}-d{black_box}) |",
        f"| student init | {_init_line(init)} |",
        f"| architecture | {_ARCHITECTURE.get(init.architecture, init.architecture).format(s=init.dim, t=teacher.dim)} "
        f"|",
        f"| prompts | {teacher.prompts or 'none'} |",
        f"| training texts | {data['train']} ({data['train_queries']} query-like, "
        f"{data['train_documents']} documents); "
        f"{data['validation']} held out for validation |",
        f"| steps | {tr.steps} optimizer steps, batch {tr.batch_size} x {tr.grad_accum}, "
        f"{tr.epochs} epoch(s), lr {tr.lr}, "
        + (f"max_seq_length {tr.max_seq_length} (queries {tr.query_max_seq_length}), " if tr.max_seq_length else "")
        + f"{'bf16 autocast' if tr.bf16 else 'fp32'}"
        f"{', word embeddings frozen' if tr.frozen_embedding_weights else ''} |",
        f"| training time | {tr.train_seconds:.0f} s ({tr.samples_per_second:.1f} samples/s on {tr.device}) |",
        "", "## Data", "",
        "| source | texts read | used (before passage split) | extra passages | sentences / spans as pseudo-queries |",
        "|---|---:|---:|---:|---:|",
        *(f"| {s['source']} | {s['read']} | {s['used']} | {s['extra_passages']} | {s.get('sentences', 0)} / "
          f"{s.get('spans', 0)} |" for s in data["sources"]),
        "",
        f"Removed: {data['dropped_duplicates']} duplicates, {data['dropped_short']} too-short documents, and "
        f"{data['dropped_eval_queries']} texts equal to an evaluation query. "
        + ("Every query of the suite's evaluation tasks (retrieval tasks, off-domain tasks and offline MTEB "
           "retrieval tasks) was excluded from training and validation text (exact match, case and whitespace "
           "aside); evaluation *documents* may appear as training text, as in LEAF, which trains on corpus text "
           "without labels; off-domain tasks give no training text at all." if data["eval_queries_excluded"] else
           "No evaluation queries were excluded (the suite has no tasks, or exclude_eval_queries is off)."),
        "", "## Alignment with the teacher (held-out texts)", "",
        "| | mean cosine | queries | documents | MSE |", "|---|---:|---:|---:|---:|",
        *(f"| {label} | {_fmt(ev.val_cosine)} | {_fmt(ev.val_cosine_queries)} | "
          f"{_fmt(ev.val_cosine_documents)} | {ev.val_mse:.3e} |"
          for label, ev in (("projection only (step 0)", proj), (f"fine-tuned (step {final.step})", final))),
    ]
    tasks = rec.curve_tasks()
    off = set(rec.curve_tasks(off_domain=True))
    lines += ["", "## Learning curve", "",
              "Per task: asymmetric nDCG@10 (student queries, teacher documents; % of the teacher's own score) / "
              "mean query cosine to the teacher / top-10 overlap with the teacher's ranking. Off-domain tasks were "
              "kept out of every training mix.", "",
              "| step | samples seen | held-out cosine | "
              + " | ".join(f"{t}{' (off-domain)' if t in off else ''}" for t in tasks) + " |",
              "|---:|---:|---:|" + "---:|" * len(tasks)]
    lines += [f"| {ev.step} | {ev.samples_seen} | {_fmt(ev.val_cosine)} | "
              + " | ".join(_curve_cell(ev.curve.get(t)) for t in tasks) + " |" for ev in rec.history]
    if off:
        shares = {t: final.curve[t].share for t in sorted(off) if t in final.curve}
        worst = final.worst_share(True)
        lines += ["", "## Off-domain yardsticks", "",
                  "Tasks kept out of every training mix, each a different query shape; the student's asymmetric "
                  "nDCG@10 as % of the teacher's at the last step: "
                  + ", ".join(f"{t} {'-' if v is None else f'{100 * v:.1f}%'}" for t, v in shares.items())
                  + (f"; worst {100 * worst:.1f}%." if worst is not None else ".")]
    if rec.evaluation:
        lines += ["", "## Evaluation (nDCG@10, full dim, float32)", "",
                  "| task | config | mode | query model | document model | nDCG@10 |", "|---|---|---|---|---|---:|"]
        lines += [f"| {r.task} | {r.config} | {r.mode} | {r.query_model} | {r.document_model} | {r.ndcg10:.4f} |"
                  for r in rec.evaluation]
    return "\n".join(lines) + "\n"


def write_cards(rec: DistillRecord) -> None:
    """The model card of every exported folder (written atomically: a reader never sees half a card)."""
    for variant, path in rec.outputs.items():
        if path and Path(path).is_dir():
            card = Path(path) / "README.md"
            tmp = card.with_name(f".README.md.{uuid.uuid4().hex}")
            tmp.write_text(model_card(rec, variant, Path(path).name), encoding="utf-8")
            tmp.replace(card)

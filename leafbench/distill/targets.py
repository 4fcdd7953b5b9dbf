"""The distill stage's training targets: the teacher's embeddings of the training texts (a user's precomputed file rows
where a source gives them, else the teacher through the embedding store) and the init model's features of the same
texts for the projection's ridge fit (`fit_projection`). Both go through the store where they can, so the grid and
the stage share what they embed."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from leafbench.config import Suite
from leafbench.distill.data import TrainText
from leafbench.distill.model import embed, fit_ridge, projection
from leafbench.distill_spec import DistillSpec
from leafbench.embed import EmbeddingService
from leafbench.encoders import Encoder
from leafbench.errors import UserError
from leafbench.progress import stderr
from leafbench.st_compat import is_static
from leafbench.timing import timed


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


def given_embeddings(spec: DistillSpec) -> dict[int, np.ndarray]:
    given = {i: load_embeddings_file(Path(s.embeddings), f"distill.data.sources.{i}.embeddings")
             for i, s in enumerate(spec.data.sources) if s.embeddings is not None}
    dims = {i: a.shape[1] for i, a in given.items()}
    if len(set(dims.values())) > 1:
        raise UserError(f"distill.data.sources: embeddings files differ in dim ({dims}); all must come from one "
                        f"teacher")
    return given


@timed("teacher targets")
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
    name = suite.distill_spec.student
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


def _body_features(model, texts: list[TrainText], prompts: dict[str, str], batch_size: int) -> np.ndarray:
    """What the projection sees in the `leaf` architecture: the un-normalised pooled embeddings of the live model."""
    from sentence_transformers import SentenceTransformer

    body = SentenceTransformer(modules=list(model.children())[:-2], device=str(model.device))
    if not is_static(model):
        body.max_seq_length = model.max_seq_length
    return embed(body, [t.text for t in texts], [t.role for t in texts], prompts, batch_size, False)


@timed("ridge features")
def fit_projection(model, service: EmbeddingService, suite: Suite, train: list[TrainText], targets: np.ndarray,
                   prompts: dict[str, str], cap: int) -> None:
    """Initialise the projection with a ridge fit of the init's embeddings to the teacher's, on a seeded sample."""
    cfg = suite.distill_spec.training
    rng = np.random.default_rng(cfg.seed)
    sample = sorted(rng.choice(len(train), min(cfg.ridge_texts, len(train)), replace=False))
    if cfg.architecture == "leaf" or is_static(model):
        feats = _body_features(model, [train[i] for i in sample], prompts, cfg.batch_size)
    else:
        feats = student_features(service, suite, [train[i] for i in sample], prompts, cap)
    w = fit_ridge(feats, targets[sample], cfg.ridge_alpha)
    projection(model).weight.data.copy_(torch.from_numpy(w))
    stderr.log(f"distill: ridge projection fitted on {len(sample)} texts (weight norm {np.linalg.norm(w):.1f})")

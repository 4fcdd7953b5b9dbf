"""The leaf student: the init model with a linear projection into the teacher's space, and its ridge initialisation.

Student (`architecture: init-normalize`) = init modules (Transformer, mean Pooling, and whatever else the init has,
e.g. MiniLM's Normalize) -> Dense(student_dim -> teacher_dim, no bias, identity) -> Normalize when the teacher's
embeddings are unit length; `architecture: leaf` drops the init's own Normalize, as the LEAF paper's student is
transformer -> mean pooling -> linear -> normalise. The projection starts
as a ridge least-squares fit of the init's embeddings to the teacher's, so training starts aligned: the plain
least-squares fit is ill-conditioned (sentence embeddings are highly anisotropic; weight norm in the millions) and
one optimizer step from it collapses the outputs, while a small ridge penalty keeps the fit and a sane norm.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import numpy as np
import torch

from leafbench.roles import Role
from leafbench.st_compat import is_static, st_modules

NORM_TOLERANCE = 1e-2  # teacher rows within this of unit length count as normalised


@contextlib.contextmanager
def capped(model, cap: int | None) -> Iterator[None]:
    """The model with max_seq_length `cap` inside the block; a static model has no cap (every token is looked up)."""
    if cap is None or is_static(model):
        yield
        return
    before = model.max_seq_length
    model.max_seq_length = cap
    try:
        yield
    finally:
        model.max_seq_length = before


def token_cap(model) -> int | None:
    """The model's own token cap; None for a static model (its StaticEmbedding reports infinity)."""
    return None if is_static(model) else int(model.max_seq_length)


def token_lengths(model, texts: list[str]) -> np.ndarray:
    """Tokens per text as the model's first module counts them (specials included for a transformer)."""
    if is_static(model):
        return np.array([len(e.ids) for e in model[0].tokenizer.encode_batch(texts, add_special_tokens=False)])
    ids = model.tokenizer(texts, add_special_tokens=True, truncation=True, max_length=model.max_seq_length)
    return np.array([len(i) for i in ids["input_ids"]])


def teacher_normalizes(targets: np.ndarray) -> bool:
    norms = np.linalg.norm(targets, axis=1)
    return bool(np.all(np.abs(norms - 1.0) < NORM_TOLERANCE))


def build_student(init, teacher_dim: int, normalize: bool, device: str, architecture: str = "init-normalize"):
    """A SentenceTransformer: the init's modules (shared, not copied) + Dense projection (+ Normalize)."""
    from sentence_transformers import SentenceTransformer

    Dense, Normalize = st_modules().Dense, st_modules().Normalize
    student_dim = int(init.get_embedding_dimension())
    body = [m for m in init.children() if architecture != "leaf" or not isinstance(m, Normalize)]
    modules = body + [Dense(student_dim, teacher_dim, bias=False, activation_function=None)]
    if normalize:
        modules.append(Normalize())
    return SentenceTransformer(modules=modules, device=device)


def layer_plan(auto, n: int | list[int]) -> list[int]:
    """The indices of the transformer's layers to keep: `n` evenly spaced (first and last kept), or the listed ones,
    sorted; ValueError when the model has no layer list or fewer layers."""
    total = len(_layer_list(auto))
    if isinstance(n, list):
        if max(n) >= total:
            raise ValueError(f"student_layers: layer {max(n)} does not exist; the init has layers 0-{total - 1}")
        return sorted(n)
    if n > total:
        raise ValueError(f"student_layers: {n} is more than the init's {total} transformer layers")
    return [total - 1] if n == 1 else sorted({round(i * (total - 1) / (n - 1)) for i in range(n)})


def _layer_list(auto) -> torch.nn.ModuleList:
    layers = getattr(getattr(auto, "encoder", None), "layer", None)
    if not isinstance(layers, torch.nn.ModuleList):
        raise ValueError(f"{type(auto).__name__} has no encoder.layer list to cut")
    return layers


def _set_layers(auto, layers: torch.nn.ModuleList) -> None:
    auto.encoder.layer = layers
    auto.config.num_hidden_layers = len(layers)


def keep_layers(init, n: int | list[int]) -> list[int]:
    """Cut the init's transformer to `n` evenly spaced layers (first and last kept), or to the listed layer indices,
    in place; returns the indices kept, in order.

    A student cut from the teacher keeps the teacher's embeddings and a subset of its layers, so it starts in the
    teacher's space instead of being projected into it (sentence-transformers' model distillation example does the
    same with layers_to_keep).
    """
    auto = init[0].auto_model
    keep = layer_plan(auto, n)
    layers = _layer_list(auto)
    _set_layers(auto, torch.nn.ModuleList([layers[i] for i in keep]))
    return keep


@contextlib.contextmanager
def running_layers(auto, keep: list[int] | None) -> Iterator[None]:
    """Inside the block the transformer `auto` runs only the layers `keep` (a `layer_plan`; None: all of them), and
    it is whole again after it: the static family's token vectors come from a cut of the suite's loaded model, which
    the grid still uses whole, without a second copy of its weights."""
    if keep is None:
        yield
        return
    layers = _layer_list(auto)
    _set_layers(auto, torch.nn.ModuleList([layers[i] for i in keep]))
    try:
        yield
    finally:
        _set_layers(auto, layers)


def projection(model) -> torch.nn.Linear:
    """The Dense projection's linear layer (the last Dense module)."""
    dense = [m for m in model.children() if isinstance(m, st_modules().Dense)][-1]
    return dense.linear


def fit_ridge(features: np.ndarray, targets: np.ndarray, alpha_scale: float) -> np.ndarray:
    """W [teacher_dim, student_dim] minimising |X W^T - Y|^2 + alpha |W|^2, with alpha = alpha_scale * N / dim.

    Scaling alpha with N/dim keeps the penalty's weight relative to the data term constant across sample sizes.
    Solved in float64 through the normal equations (dim x dim), which is exact and cheap for dims in the hundreds.
    """
    x = features.astype(np.float64)
    y = targets.astype(np.float64)
    n, dim = x.shape
    alpha = alpha_scale * n / dim
    gram = x.T @ x + alpha * np.eye(dim)
    w = np.linalg.solve(gram, x.T @ y)  # [dim, teacher_dim]
    return w.T.astype(np.float32)


@contextlib.contextmanager
def autocast(device: str, enabled: bool) -> Iterator[None]:
    """bf16 autocast on the device's type, or nothing."""
    if enabled:
        with torch.autocast(device_type=device.split(":")[0], dtype=torch.bfloat16):
            yield
    else:
        yield


def embed(model, texts: list[str], roles: list[Role], prompts: dict[str, str], batch_size: int,
          bf16: bool) -> np.ndarray:
    """The live model's float32 embeddings of texts, each with its role's prompt (the teacher's prompts; "" is no
    prompt, not the model's default one)."""
    out: np.ndarray | None = None
    was_training = model.training
    with torch.inference_mode(), autocast(str(model.device), bf16):
        for role in ("query", "document"):
            idx = [i for i, r in enumerate(roles) if r == role]
            if not idx:
                continue
            encode = model.encode_query if role == "query" else model.encode_document  # a Router's route per role
            emb = encode([texts[i] for i in idx], prompt=prompts.get(role, ""), batch_size=batch_size,
                         convert_to_tensor=True, show_progress_bar=False).float().cpu().numpy()
            if out is None:
                out = np.empty((len(texts), emb.shape[1]), dtype=np.float32)
            out[idx] = emb
    model.train(was_training)
    return out if out is not None else np.zeros((0, 0), dtype=np.float32)

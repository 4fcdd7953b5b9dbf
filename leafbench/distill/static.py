"""The static student family: a model's own token vectors (model2vec's distillation), then the leaf's projection.

model2vec distils a sentence-transformer into a table of token vectors: every vocabulary token goes through the
model alone (`[CLS] token [SEP]`, mean-pooled), the table is reduced by PCA and each row weighted by SIF
(`sif / (sif + p)`, p the token's Zipf frequency from its vocabulary rank). Encoding a text is then a mean of
looked-up rows: no transformer at query time, ~100-400x the teacher's queries/s on a CPU.

`model2vec.distill` itself is too slow for a first run (381 s for all-mpnet-base-v2 on one thread: it loads the
model again, runs it on the whole 30k vocabulary and rebuilds the tokenizer), so leafbench keeps model2vec's steps
(`apply_pca`, `compute_weights`, and `create_embeddings`' pooling) and feeds them cheaply:
- the model is the suite's own loaded encoder, run in the suite's dtype (bf16 where native) on all threads;
- the vocabulary is sized by `distill.static.vocabulary` (the model's first N multi-character tokens by id, which
  WordPiece orders by frequency, plus every one-character ASCII token so any word still tokenizes; other single
  characters map to the unknown token); the tokenizer is the model's own
  with its WordPiece vocabulary cut to those tokens;
- the raw (pre-PCA) token vectors go through the embedding store, keyed by the model's fingerprint and dtype, so a
  rerun, another vocabulary size or another PCA/SIF setting only computes tokens it has not seen.
The student is then `StaticEmbedding -> Dense(pca_dims -> teacher_dim) -> Normalize`, a plain sentence-transformers
model (leafbench.distill.model.build_student), ridge-initialised and trained like any leaf.
"""

from __future__ import annotations

import contextlib
import json
import re
import time
from dataclasses import dataclass

import numpy as np
import torch

from leafbench.distill.model import layer_plan, running_layers
from leafbench.distill_spec import STATIC_VERSION, StaticVectors
from leafbench.encoders import Encoder
from leafbench.errors import UserError
from leafbench.store import EmbeddingStore
from leafbench.timing import timed

# model2vec's default: BERT's placeholder tokens carry no meaning and are dropped from the table
TOKEN_REMOVE_PATTERN = re.compile(r"\[unused\d+\]")
BATCH_TOKENS = 256  # sequences per forward pass (model2vec's batch size); every one is three tokens long
ASCII_PIECE = re.compile(r"^(##)?[\x21-\x7e]$")  # one printable ASCII character, word-initial or continuation


@dataclass
class StaticVectorsResult:
    """The StaticEmbedding module and what making it cost (for the distill record)."""

    module: object  # sentence_transformers' StaticEmbedding
    vocabulary: int  # rows of the table
    dim: int  # after PCA
    computed_tokens: int  # tokens run through the model now (the rest came from the store)
    seconds: float
    layers: list[int] | None = None  # the model's transformer layers that ran (distill.student_layers), None: all


def kept_tokens(vocab: dict[str, int], specials: set[str], size: int | None) -> list[str]:
    """The tokens of the table, in the model's id order: its special tokens, every one-character ASCII piece, and the
    first `size` longer tokens by id (when size is None: every token); `[unusedN]` placeholders never."""
    ordered = [t for t, _ in sorted(vocab.items(), key=lambda kv: kv[1]) if not TOKEN_REMOVE_PATTERN.fullmatch(t)]
    always = {t for t in ordered if t in specials or ASCII_PIECE.match(t)}
    # BERT-style vocabularies open with ~1,000 single non-ASCII characters: a cut vocabulary spends no rows on them
    rest = [t for t in ordered if t not in always and (size is None or len(t.removeprefix("##")) > 1)]
    chosen = always | set(rest[:size] if size is not None else rest)
    return [t for t in ordered if t in chosen]


def cut_tokenizer(backend, tokens: list[str]):
    """The model's `tokenizers.Tokenizer` with its WordPiece vocabulary cut to `tokens` (renumbered in order).

    A word whose pieces are all gone becomes the unknown token, whose row starts at zero (it then moves no
    embedding's direction: the Normalize removes the mean's dilution). The post-processor goes: a static model
    never adds [CLS]/[SEP]."""
    from tokenizers import Tokenizer

    spec = json.loads(backend.to_str())
    if spec["model"]["type"] != "WordPiece":
        raise UserError(f"distill.static.vocabulary: cutting a {spec['model']['type']} tokenizer's vocabulary is "
                        f"not supported (WordPiece only); set vocabulary: null to keep the whole vocabulary")
    ids = {t: i for i, t in enumerate(tokens)}
    spec["model"]["vocab"] = ids
    spec["added_tokens"] = [dict(a, id=ids[a["content"]]) for a in spec.get("added_tokens") or []
                            if a["content"] in ids]
    spec["post_processor"] = None
    spec["padding"] = spec["truncation"] = None
    return Tokenizer.from_str(json.dumps(spec))


def _bf16(encoder: Encoder):
    if encoder.dtype == "bf16":
        return torch.autocast(device_type=encoder.device.split(":")[0], dtype=torch.bfloat16)
    return contextlib.nullcontext()


def raw_token_vectors(encoder: Encoder, store: EmbeddingStore, tokens: list[str],
                      layers: list[int] | None = None) -> tuple[np.ndarray, int]:
    """Mean-pooled `[CLS] token [SEP]` outputs of the encoder's transformer for each token, as model2vec's
    `create_embeddings` computes them, through the store; returns them and how many were computed now. Not
    model2vec's function itself: under bf16 autocast its pooling returns bf16, which it cannot hand to numpy.
    `layers`: the transformer's layers that run (the caller has cut it to them), part of the store's key."""
    hf = encoder.model.tokenizer
    vocab = hf.get_vocab()
    auto = encoder.model[0].auto_model
    namespace = {**encoder.cache_namespace("document"), "static_token_vectors": STATIC_VERSION,
                 **({"layers": layers} if layers is not None else {})}
    frame = list(hf("", add_special_tokens=True)["input_ids"])  # the model's specials around an empty text
    computed = 0

    def compute(todo: list[str]) -> np.ndarray:
        nonlocal computed
        computed += len(todo)
        ids = torch.tensor([frame[:1] + [vocab[t]] + frame[1:] for t in todo], device=encoder.device)
        out = []
        with torch.inference_mode(), _bf16(encoder):
            for start in range(0, len(ids), BATCH_TOKENS):
                batch = ids[start:start + BATCH_TOKENS]
                hidden = auto(input_ids=batch, attention_mask=torch.ones_like(batch)).last_hidden_state
                out.append(hidden.float().mean(dim=1).cpu())  # equal lengths: the masked mean is the plain mean
        return torch.cat(out).numpy().astype(np.float32)

    return store.get(namespace, tokens, compute), computed


def table(raw: np.ndarray, cfg: StaticVectors, unk_row: int | None) -> np.ndarray:
    """model2vec's post-processing: PCA to `pca_dims`, then SIF weights by vocabulary rank; the unknown token's row
    is zero."""
    from model2vec.distill.inference import apply_pca, compute_weights

    vectors = apply_pca(raw.astype(np.float64), cfg.pca_dims) if cfg.pca_dims is not None else raw
    vectors = vectors * compute_weights(len(vectors), cfg.sif_coefficient)[:, None]
    if unk_row is not None:
        vectors[unk_row] = 0.0
    return np.ascontiguousarray(vectors, dtype=np.float32)


@timed("token vectors")
def static_embedding(encoder: Encoder, store: EmbeddingStore, cfg: StaticVectors,
                     cut: int | list[int] | None = None) -> StaticVectorsResult:
    """The StaticEmbedding module distilled from the encoder's model, with its tokenizer cut to the vocabulary.

    `cut` (distill.student_layers): the token vectors come from the model's transformer cut to those layers, at a
    fraction of the whole model's forward cost (the vectors are PCA-reduced and projected anyway)."""
    from leafbench.st_compat import st_modules

    t0 = time.perf_counter()
    hf = encoder.model.tokenizer
    if not getattr(hf, "is_fast", False) or not hasattr(encoder.model[0], "auto_model"):
        raise UserError(f"distill.student: '{encoder.name}' needs a transformer with a fast tokenizer for the "
                        f"static family (model2vec distils its token vectors)")
    tokens = kept_tokens(hf.get_vocab(), set(hf.all_special_tokens), cfg.vocabulary)
    if cfg.pca_dims is not None and cfg.pca_dims > min(encoder.dim, len(tokens)):
        raise UserError(f"distill.static.pca_dims: {cfg.pca_dims} is more than the model's {encoder.dim} "
                        f"dimensions or the {len(tokens)} tokens kept; lower it or set null")
    auto = encoder.model[0].auto_model
    try:
        layers = layer_plan(auto, cut) if cut is not None else None
    except ValueError as e:
        raise UserError(f"distill.student_layers: {e}") from None
    with running_layers(auto, layers):
        raw, computed = raw_token_vectors(encoder, store, tokens, layers)
    unk = tokens.index(hf.unk_token) if hf.unk_token in tokens else None
    vectors = table(raw, cfg, unk)
    module = st_modules().StaticEmbedding(cut_tokenizer(hf.backend_tokenizer, tokens), embedding_weights=vectors)
    return StaticVectorsResult(module, len(tokens), int(vectors.shape[1]), computed, time.perf_counter() - t0,
                               layers)

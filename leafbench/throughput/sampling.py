"""The texts a throughput measurement encodes: real ones sampled from the suite's tasks (the same for every model
of a run), synthetic ones of an exact token length, and the token counts that turn texts/s into tokens/s."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from leafbench.config import Suite
from leafbench.encoders import Encoder
from leafbench.roles import Role


@dataclass
class TextSample:
    """Real texts shared by every model of a run: the same documents and queries for teacher and student."""

    docs: list[str]
    queries: list[str]
    sources: list[str]


def sample_texts(suite: Suite, n_docs: int, n_queries: int, seed: int) -> TextSample:
    """A seeded sample of document and query texts pooled over the suite's tasks."""
    from leafbench.datasets.tasks import load_task

    docs: list[str] = []
    queries: list[str] = []
    for spec in suite.tasks:
        data = load_task(spec)
        docs.extend(data.doc_texts(sorted(data.corpus)))
        queries.extend(data.queries[q] for q in sorted(data.queries))
    rng = np.random.default_rng(seed)

    def pick(pool: list[str], n: int) -> list[str]:
        idx = rng.choice(len(pool), size=min(n, len(pool)), replace=False) if pool else []
        return [pool[i] for i in sorted(idx)]

    return TextSample(pick(docs, n_docs), pick(queries, n_queries), [t.task_name for t in suite.tasks])


def synthetic_texts(enc: Encoder, count: int, length: int, seed: int) -> list[str]:
    """`count` texts of random whole-word vocabulary entries, each longer than `length` tokens.

    Truncated at max_seq_length = `length`, every one is exactly `length` tokens, for any model's tokenizer.
    """
    vocab = enc.model.tokenizer.get_vocab()
    words = sorted({w.lstrip("\u2581\u0120") for w in vocab} - {""})
    words = [w for w in words if w.isascii() and w.isalpha() and len(w) >= 3] or sorted(vocab)
    rng = np.random.default_rng(seed + length)
    return [" ".join(rng.choice(words, size=length + 16)) for _ in range(count)]


def token_counts(enc: Encoder, texts: list[str], role: Role) -> np.ndarray:
    """Real tokens per text as the model sees it: role prompt prepended, truncated at its max_seq_length."""
    prompt = enc.prompt(role)  # "" is no prompt, as Encoder.encode passes it
    out = []
    for start in range(0, len(texts), 256):
        features = enc.model.preprocess(texts[start:start + 256], prompt=prompt, task=role)  # a Router's route
        if "attention_mask" in features:
            out.append(features["attention_mask"].sum(dim=1).cpu().numpy())
        else:  # a StaticEmbedding's flat token ids with each text's offset
            ends = np.append(features["offsets"].cpu().numpy()[1:], len(features["input_ids"]))
            out.append(ends - features["offsets"].cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


def padded_tokens(texts: list[str], counts: np.ndarray, batch_size: int) -> int:
    """Tokens actually computed when batches are formed by length (longest first, as the encoder does)."""
    order = np.argsort([-len(t) for t in texts], kind="stable")
    total = 0
    for start in range(0, len(order), batch_size):
        batch = counts[order[start:start + batch_size]]
        total += int(batch.max()) * len(batch)
    return total

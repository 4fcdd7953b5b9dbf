"""Training texts for distillation: read the sources, split long documents, dedupe, remove evaluation queries,
hold out a validation slice. (Packaged sources are read by leafbench.distill.packaged_text.)

LEAF needs no labels and no pairs, only texts the teacher has embedded: a mix of documents and short query-like
texts (titles, headings, subjects, questions), because asymmetric retrieval lives or dies on how well the student
places queries. Every step is seeded, so the same spec and sources give the same texts on any machine.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from leafbench.distill.packaged_text import PACKAGED_READERS
from leafbench.distill_spec import DistillData, TextSource
from leafbench.roles import Role
from leafbench.errors import UserError

QUERY_MAX_WORDS = 12  # `role: auto` on plain text: lines this short are query-like
SENTENCE_WORDS = (4, 40)  # pseudo-query sentences: shorter ones are fragments, longer ones are not query-like
SPAN_WORDS = (2, 6)  # pseudo-query spans: keyword-like runs of words
_SENTENCE_END = re.compile(r"(?<=[.!?])[\"')\]]?\s+(?=[\"'(\[]?[A-Z0-9])")


@dataclass(frozen=True)
class TrainText:
    """One training text. `row` >= 0: its teacher embedding is row `row` of its source's embeddings file."""

    text: str
    role: Role
    source: int
    row: int = -1


@dataclass
class TextSet:
    train: list[TrainText]
    validation: list[TrainText]
    stats: dict[str, Any] = field(default_factory=dict)

    @property
    def all(self) -> list[TrainText]:
        return self.train + self.validation


def text_key(text: str) -> str:
    """Dedupe / exclusion key: case and whitespace do not make a text new."""
    return " ".join(text.split()).casefold()


# ------------------------------------------------------------------------------------------------ user text


def _auto_role(text: str, role: str) -> Role:
    if role != "auto":
        return role  # type: ignore[return-value]
    return "query" if len(text.split()) <= QUERY_MAX_WORDS else "document"


def _read_file(src: TextSource, where: str) -> list[tuple[str, Role]]:
    """One text per non-blank line (.txt) or the `field` of each JSON line (.jsonl), in file order."""
    path = Path(src.file or "")
    if not path.is_file():
        raise UserError(f"{where}.file: {path} not found (expected a .txt or .jsonl file)")
    texts: list[str] = []
    with open(path, encoding="utf-8") as f:
        for lineno, line in enumerate(f, 1):
            if not line.strip():
                continue
            if path.suffix == ".jsonl":
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as e:
                    raise UserError(f"{path}:{lineno}: not a JSON line ({e.msg})") from None
                if not isinstance(obj, dict) or not isinstance(obj.get(src.field), str):
                    raise UserError(f"{path}:{lineno}: no string field '{src.field}' (set 'field:' in {where})")
                texts.append(obj[src.field])
            else:
                texts.append(line.rstrip("\n"))
    return [(t, _auto_role(t, src.role)) for t in texts]


def _read_beir(src: TextSource, where: str) -> list[tuple[str, Role]]:
    """Corpus documents (title and text joined as BEIR does) and every query of a BEIR folder."""
    folder = Path(src.beir_folder or "")
    out: list[tuple[str, Role]] = []
    for name, role in (("corpus.jsonl", "document"), ("queries.jsonl", "query")):
        file = folder / name
        if not file.is_file():
            raise UserError(f"{where}.beir_folder: {file} not found (expected a BEIR folder)")
        with open(file, encoding="utf-8") as f:
            for lineno, line in enumerate(f, 1):
                if not line.strip():
                    continue
                try:
                    obj = json.loads(line)
                except json.JSONDecodeError as e:
                    raise UserError(f"{file}:{lineno}: not a JSON line ({e.msg})") from None
                text = obj.get("text") or ""
                if role == "document" and "title" in obj:
                    text = ((obj.get("title") or "") + " " + text).strip()
                out.append((text, role))  # type: ignore[arg-type]
    return out


def _read_hf(src: TextSource, where: str) -> list[tuple[str, Role]]:
    """A Hugging Face dataset column (online users); every failure is one line naming the source."""
    try:
        import datasets

        ds = datasets.load_dataset(src.hf, src.hf_config, split=src.split)
        column = ds[src.field]
    except Exception as e:  # noqa: BLE001 - network, missing dataset/column: all the user's to fix
        reason = str(e).strip().splitlines()[0][:200] if str(e).strip() else type(e).__name__
        raise UserError(f"{where}.hf: cannot load {src.hf!r} split {src.split!r} field {src.field!r} ({reason})") \
            from None
    return [(t, _auto_role(t, src.role)) for t in column if isinstance(t, str)]


def _read_task(src: TextSource, tasks: dict[str, Any]) -> list[tuple[str, Role]]:
    """A suite task's corpus, with the exact document strings the grid embeds: the teacher encodes them once."""
    from leafbench.datasets.tasks import load_task

    data = load_task(tasks[src.task])
    return [(t, "document") for t in data.doc_texts(sorted(data.corpus))]


def read_source(src: TextSource, where: str, tasks: dict[str, Any]) -> list[tuple[str, Role]]:
    """(text, role) pairs of one source, in its own order, filtered to `role` when one is given."""
    if src.packaged is not None:
        items = PACKAGED_READERS[src.packaged]()
    elif src.file is not None:
        return _read_file(src, where)  # rows must stay aligned with an embeddings file: no role filter
    elif src.beir_folder is not None:
        items = _read_beir(src, where)
    elif src.task is not None:
        items = _read_task(src, tasks)
    else:
        items = _read_hf(src, where)
    return [(t, r) for t, r in items if src.role == "auto" or r == src.role]


# -------------------------------------------------------------------------------------------- the text set


def lead_sentences(text: str, n: int) -> list[str]:
    """The first `n` sentences of a document that have a query's length (SENTENCE_WORDS), whitespace collapsed."""
    out: list[str] = []
    for sentence in _SENTENCE_END.split(" ".join(text.split())):
        if len(out) == n:
            break
        if SENTENCE_WORDS[0] <= len(sentence.split()) <= SENTENCE_WORDS[1]:
            out.append(sentence)
    return out


def word_spans(text: str, n: int, rng: np.random.Generator) -> list[str]:
    """`n` seeded runs of SPAN_WORDS words from a document, punctuation trimmed: keyword-like pseudo-queries."""
    words = [w.strip(".,;:!?\"'()[]") for w in text.split()]
    words = [w for w in words if w]
    if len(words) < SPAN_WORDS[0]:
        return []
    out = []
    for _ in range(n):
        size = int(rng.integers(SPAN_WORDS[0], SPAN_WORDS[1] + 1))
        start = int(rng.integers(0, max(1, len(words) - size + 1)))
        out.append(" ".join(words[start:start + size]))
    return out


def split_passages(text: str, max_words: int, max_passages: int, min_words: int) -> list[str]:
    """A document as passages of at most `max_words` words (the first `max_passages`); short texts stay as they are,
    byte for byte, so they share embedding-store entries with the same text elsewhere."""
    words = text.split()
    if len(words) <= max_words:
        return [text]
    chunks = [" ".join(words[i:i + max_words]) for i in range(0, len(words), max_words)][:max_passages]
    return [c for i, c in enumerate(chunks) if i == 0 or len(c.split()) >= min_words]


def build_texts(spec: DistillData, tasks: dict[str, Any], excluded_queries: Iterable[str] = (),
                embedding_rows: dict[int, int] | None = None) -> TextSet:
    """The training and validation texts of a distill spec.

    `excluded_queries`: evaluation queries; any text equal to one (case and whitespace aside) is dropped.
    `embedding_rows`: source index -> rows of its embeddings file, checked against the file's texts here.
    """
    excluded = {text_key(q) for q in excluded_queries}
    pool: list[TrainText] = []
    per_source: list[dict[str, Any]] = []
    for i, src in enumerate(spec.sources):
        where = f"distill.data.sources.{i}"
        items = [(t.strip(), r) for t, r in read_source(src, where, tasks)]
        if embedding_rows and i in embedding_rows and embedding_rows[i] != len(items):
            raise UserError(f"{where}.embeddings: {src.embeddings} has {embedding_rows[i]} rows but {src.file} has "
                            f"{len(items)} texts (one row per non-blank line/record, in file order)")
        indexed = [(t, r, row) for row, (t, r) in enumerate(items) if t]
        if not indexed:
            raise UserError(f"{where}: {src.label} gives no texts (empty source, or no {src.role} texts in it)")
        if src.max_texts is not None and src.max_texts < len(indexed):
            rng = np.random.default_rng([spec.seed, i])
            indexed = [indexed[j] for j in sorted(rng.choice(len(indexed), src.max_texts, replace=False))]
        passages = sentences = spans = 0
        span_rng = np.random.default_rng([spec.seed, i, 1])
        template_rng = np.random.default_rng([spec.seed, i, 2])
        for text, role, row in indexed:
            if src.embeddings is not None:
                pool.append(TrainText(text, role, i, row))  # embedded whole by the teacher: never split
                continue
            if src.templates:
                pieces = [src.templates[int(template_rng.integers(len(src.templates)))].replace("{}", text)]
            elif src.task is not None or role == "query":
                pieces = [text]
            else:
                pieces = split_passages(text, spec.max_words, spec.max_passages, spec.min_words)
            passages += len(pieces) - 1
            pool.extend(TrainText(p, role, i) for p in pieces)
            if role == "document" and src.sentences:
                lead = lead_sentences(text, src.sentences)
                sentences += len(lead)
                pool.extend(TrainText(s, "query", i) for s in lead)
            if role == "document" and src.spans:
                pieces = word_spans(text, src.spans, span_rng)
                spans += len(pieces)
                pool.extend(TrainText(s, "query", i) for s in pieces)
        per_source.append({"source": src.label, "read": len(items), "used": len(indexed),
                           "extra_passages": passages, "sentences": sentences, "spans": spans})

    kept: list[TrainText] = []
    seen: set[str] = set()
    short = dupes = evaluation = 0
    for t in pool:
        key = text_key(t.text)
        if t.role == "document" and len(key.split()) < spec.min_words:
            short += 1
        elif key in seen:
            dupes += 1
        elif key in excluded:
            evaluation += 1
        else:
            seen.add(key)
            kept.append(t)
    rng = np.random.default_rng(spec.seed)
    order = rng.permutation(len(kept))
    if spec.max_texts is not None:
        order = order[:spec.max_texts]
    kept = [kept[j] for j in order]
    if len(kept) <= spec.validation:
        raise UserError(f"distill.data: only {len(kept)} texts after dedupe and exclusions, not more than "
                        f"validation: {spec.validation}; add sources or lower 'validation'")
    validation, train = kept[:spec.validation], kept[spec.validation:]
    roles = Counter(t.role for t in train)
    stats = {"sources": per_source, "train": len(train), "validation": len(validation),
             "train_queries": roles["query"], "train_documents": roles["document"],
             "dropped_short": short, "dropped_duplicates": dupes, "dropped_eval_queries": evaluation,
             "eval_queries_excluded": bool(excluded),
             "digest": hashlib.sha256("\n".join(f"{t.role}\t{t.text}" for t in kept).encode()).hexdigest()[:16]}
    return TextSet(train, validation, stats)

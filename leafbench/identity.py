"""A cell's identity: everything that determines its numbers, and nothing else, as one JSON-able dict.

A finished cell is reused only while its identity is unchanged (its `cell_hash` is the identity's hash), so every
input that can change a score has a function here: the weights and saved settings of each side (a fingerprint,
leafbench.fingerprint) and, for a Router model, the route each role takes, the dtype the model
actually runs in (`auto` resolved for the device), the prompts and max_seq_length as resolved, the task's data
(a stamp: packaged builder + source package versions, a digest of the BEIR files a local folder or a public
dataset's download is read from), dim, precision and its scoring variant, rescore depth, search backend, k_values,
ignore_identical_ids, and `SCORING_VERSION` for leafbench's own scoring code. Output folder and batch size are not inputs of a score.

Fingerprints are cached by the model folder's file list (path, size, mtime, inode of each file), so checking a
finished suite loads no model; a model edited in place changes its files' stats and is fingerprinted again.
This module imports neither torch nor mteb.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from leafbench.assets import cache_dir, resolve_model
from leafbench.config import ModelSpec, TaskSpec, spec_hash
from leafbench.roles import Role

# Bump when leafbench's scoring changes numbers (search, metrics, transforms, the MTEB bridge): every cell recomputes.
SCORING_VERSION = 1
# Bump when ModelFacts (or the fingerprint's definition, leafbench.fingerprint) changes: cached facts recompute.
FACTS_VERSION = 2
_NOT_WEIGHTS = (".md",)  # model cards: rewritten after evaluation, never read by the encoder


# ------------------------------------------------------------------------------------------------ model weights


@dataclass(frozen=True)
class ModelFacts:
    """What a model folder says about itself once loaded: weights fingerprint, embedding size, own prompts and
    sequence cap. A pure function of the folder's files, hence cacheable by their stats."""

    fingerprint: str
    dim: int
    prompts: dict[str, str] = field(default_factory=dict)
    max_seq_length: int | None = None
    routes: dict[str, str] = field(default_factory=dict)  # a Router model's route per role ({} for other models)


def model_folder(model_id: str) -> Path | None:
    """The local folder a model id loads from (packaged well-known ids included), or None for a hub id."""
    path = Path(resolve_model(model_id)).expanduser()
    return path.resolve() if path.is_dir() else None


def folder_signature(folder: Path) -> str:
    """Hash of (relative path, size, mtime, inode) of every file the encoder may read: changes when any is edited."""
    entries = []
    for root, dirs, files in os.walk(folder):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(files):
            if name.startswith(".") or name.endswith(_NOT_WEIGHTS):
                continue
            path = Path(root) / name
            st = path.stat()
            entries.append((str(path.relative_to(folder)), st.st_size, st.st_mtime_ns, st.st_ino))
    return spec_hash(entries)


def _facts_file(folder: Path) -> Path:
    return cache_dir() / "fingerprints" / f"{hashlib.sha256(str(folder).encode()).hexdigest()[:24]}.json"


def cached_facts(folder: Path, signature: str) -> ModelFacts | None:
    """The facts recorded for this folder when its files had this signature, else None."""
    try:
        entry = json.loads(_facts_file(folder).read_text(encoding="utf-8"))
        if entry["folder"] == str(folder) and entry["signature"] == signature and \
                entry.get("version") == FACTS_VERSION:
            return ModelFacts(**entry["facts"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    return None


def remember_facts(folder: Path, signature: str, facts: ModelFacts) -> None:
    """Record facts computed from a model loaded while the folder had `signature` (atomic; last writer wins)."""
    from leafbench.results import write_json_atomic

    write_json_atomic(_facts_file(folder), {"folder": str(folder), "signature": signature,
                                            "version": FACTS_VERSION, "facts": facts.__dict__})


def model_facts(spec: ModelSpec, load: Callable[[], ModelFacts]) -> ModelFacts:
    """A model's facts from the cache when its folder is unchanged; otherwise `load()` (which loads the model and
    records them). Hub ids have no folder to stat: they are loaded every run (their revision can change)."""
    folder = model_folder(spec.id)
    if folder is not None:
        found = cached_facts(folder, folder_signature(folder))
        if found is not None:
            return found
    return load()


@dataclass(frozen=True)
class ResolvedModel:
    """A suite model as it runs: its facts plus the suite's settings, with `auto` dtype already resolved."""

    name: str
    spec: ModelSpec
    facts: ModelFacts
    dtype: str

    def prompt(self, role: Role) -> str:
        """The suite's prompt for the role, else the model's own prompt of that name, else none."""
        given = self.spec.query_prompt if role == "query" else self.spec.document_prompt
        return given if given is not None else self.facts.prompts.get(role, "")

    @property
    def max_seq_length(self) -> int | None:
        return self.spec.max_seq_length if self.spec.max_seq_length is not None else self.facts.max_seq_length

    def namespace(self, role: Role) -> dict[str, object]:
        """Everything besides the text that determines an embedding: the embedding store's namespace too. A Router
        model's namespace also names the route the role takes (other models' namespaces keep their old shape)."""
        ns: dict[str, object] = {"fingerprint": self.facts.fingerprint, "role": role, "prompt": self.prompt(role),
                                 "max_seq_length": self.max_seq_length, "dtype": self.dtype}
        if role in self.facts.routes:
            ns["route"] = self.facts.routes[role]
        return ns


def resolved_dtype(dtype: str, device: str) -> str:
    """The dtype encoding runs in on `device` (`auto`: bf16 where the device computes it natively)."""
    from leafbench.hardware import resolve_device, resolve_dtype

    return resolve_dtype(dtype, resolve_device(device))


def namespace_ids(namespaces: dict[str, dict[str, object] | None]) -> dict[str, str]:
    """Store namespace id of each side (what `cache gc` keeps alive), for the sides a cell read."""
    from leafbench.store import namespace_id

    return {side: namespace_id(ns) for side, ns in namespaces.items() if ns is not None}


# ------------------------------------------------------------------------------------------------ task data


def file_digest(paths: list[Path]) -> str:
    """sha256 over the files' bytes (names included): catches any in-place edit, at a fraction of encoding's cost."""
    h = hashlib.sha256()
    for path in paths:
        h.update(path.name.encode() + b"\0")
        with open(path, "rb") as f:
            h.update(hashlib.file_digest(f, "sha256").digest())
    return h.hexdigest()[:32]


RECENT_S = 2.0  # a file modified this recently may change again within the clock tick its mtime records


def _digest_file(folder: Path, split: str) -> Path:
    key = f"{folder.resolve()}\0{split}"
    return cache_dir() / "digests" / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.json"


def beir_folder_digest(folder: Path, split: str) -> str:
    """Digest of the three files a BEIR split is read from (missing files are left to the loader to report).

    Cached by the files' (path, size, mtime, inode), as model fingerprints are, so a rerun over a multi-GB corpus
    stats three files instead of reading them; an edit changes the stats and the files are digested again. As git
    does for "racily clean" files, a digest is not cached while a file's mtime is within RECENT_S of now (a second
    write in the same clock tick, of the same size, would keep its stats)."""
    files = [f for f in (folder / "corpus.jsonl", folder / "queries.jsonl", folder / "qrels" / f"{split}.tsv")
             if f.is_file()]
    stats = [f.stat() for f in files]
    signature = spec_hash([(str(f), st.st_size, st.st_mtime_ns, st.st_ino) for f, st in zip(files, stats)])
    entry_file = _digest_file(folder, split)
    try:
        entry = json.loads(entry_file.read_text(encoding="utf-8"))
        if entry["signature"] == signature:
            return str(entry["digest"])
    except (OSError, ValueError, KeyError, TypeError):
        pass
    digest = file_digest(files)
    if all(time.time() - st.st_mtime > RECENT_S for st in stats):
        from leafbench.results import write_json_atomic

        write_json_atomic(entry_file, {"folder": str(folder), "split": split, "signature": signature,
                                       "digest": digest})
    return digest


def task_stamp(spec: TaskSpec) -> dict[str, Any]:
    """What identifies a retrieval task's data without loading it: a packaged task's builder and source versions, or
    a digest of the BEIR files it is read from (a public dataset's cached download included, so a cached folder
    edited or fetched from another URL is seen; it is downloaded first when not cached yet)."""
    if spec.packaged is not None:
        from leafbench.datasets.packaged import packaged_task

        task = packaged_task(spec.packaged)
        split = {"split": spec.split} if spec.split is not None else {}  # absent: every query, as before splits
        return {"packaged": task.name, "version": task.version,
                "source": f"{task.package}=={importlib.metadata.version(task.package)}",
                "max_docs": spec.max_docs, "max_queries": spec.max_queries, "seed": spec.seed, **split}
    if spec.beir is not None:
        from leafbench.datasets.beir import download_beir

        folder = download_beir(spec.beir, url=spec.url, md5=spec.md5)  # fetched once, then the cached folder as it is
        return {"beir": spec.beir, "digest": beir_folder_digest(folder, spec.qrels_split), "split": spec.qrels_split}
    return {"folder_digest": beir_folder_digest(Path(spec.path or ""), spec.qrels_split), "split": spec.qrels_split}


def mteb_task_stamp(task: Any) -> dict[str, Any]:
    """An mteb task's data: name, dataset revision, splits and subsets, plus leafbench's build stamp for its
    offline tasks (whose data comes from installed packages, not a pinned hub revision)."""
    stamp = getattr(task, "data_stamp", None)
    return {"name": task.metadata.name, "revision": task.metadata.revision, "splits": list(task.eval_splits),
            "subsets": list(task.hf_subsets), "data": stamp() if callable(stamp) else None,
            "mteb": importlib.metadata.version("mteb")}


# ------------------------------------------------------------------------------------------------ cells


def retrieval_identity(task: dict[str, Any], mode: str, query: dict[str, object], document: dict[str, object],
                       teacher_query: dict[str, object] | None, dim: int, precision: str, variant: str,
                       rescore: int, k_values: list[int], ignore_identical_ids: bool,
                       backend: dict[str, Any] | None = None) -> dict[str, Any]:
    """A retrieval cell: data, both sides' embeddings (and the teacher's queries for alignment), and the scoring."""
    return {"kind": "retrieval", "scoring_version": SCORING_VERSION, "task": task, "mode": mode,
            "embeddings": {"query": query, "document": document, "teacher_query": teacher_query},
            "dim": dim, "precision": precision, "variant": variant, "rescore": rescore,
            "backend": backend or {"name": "exact"}, "k_values": list(k_values),
            "ignore_identical_ids": ignore_identical_ids}


def mteb_cell_identity(task: dict[str, Any], routes: dict[str, dict[str, object]], symmetric_side: str, dim: int,
                       precision: str, variant: str) -> dict[str, Any]:
    """An MTEB cell: the task's data, the embeddings of each route (query, document, symmetric), and the scoring."""
    return {"kind": "mteb", "scoring_version": SCORING_VERSION, "task": task, "embeddings": routes,
            "symmetric_side": symmetric_side, "dim": dim, "precision": precision, "variant": variant}


def aggregate_identity(name: str, parts: list[str]) -> dict[str, Any]:
    """An aggregate MTEB cell (e.g. CQADupstack): mteb's combination of its sub-task cells, identified by theirs."""
    return {"kind": "mteb-aggregate", "scoring_version": SCORING_VERSION, "task": name, "parts": sorted(parts)}


def cell_hash(identity: dict[str, Any]) -> str:
    return spec_hash(identity)

"""Store upkeep behind `leafbench cache verify` and `leafbench cache gc`.

`verify` is the full check the start-up path deliberately skips (a sha256 of every shard); `gc` deletes namespaces
that no result record refers to, by the `embeddings: {role: namespace id}` field records carry, except the ones a
command in progress on those results folders uses: it holds the folder's lock, which lists them
(leafbench.results.note_namespace), whereas a time window guessed how long a run goes without writing a record.
"""

from __future__ import annotations

import contextlib
import json
import shutil
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from leafbench.errors import UserError
from leafbench.results import LOCK_FILE, locked_namespaces
from leafbench.store.core import ORPHAN_AGE_S
from leafbench.store.shards import MANIFEST, BadShard, ShardFiles, check_full, orphans, quarantine


@dataclass
class VerifyReport:
    namespaces: int = 0
    shards: int = 0
    rows: int = 0
    bad: list[tuple[str, str]] = field(default_factory=list)  # (shard path, reason)
    orphans: list[Path] = field(default_factory=list)


def namespace_dirs(root: Path) -> list[Path]:
    """Folders of the store that hold shards or a namespace.json (anything else under root is left alone)."""
    if not root.is_dir():
        return []
    return sorted(p for p in root.iterdir() if p.is_dir() and (any(p.glob(f"*{MANIFEST}"))
                                                               or (p / "namespace.json").exists()))


def verify(root: Path, fix: bool = False) -> VerifyReport:
    """Hash every shard in full; with `fix`, quarantine bad shards (re-encoded on next use) and delete orphans."""
    report = VerifyReport()
    for base in namespace_dirs(root):
        report.namespaces += 1
        for manifest in sorted(base.glob(f"*{MANIFEST}")):
            files = ShardFiles.of_manifest(manifest)
            report.shards += 1
            try:
                report.rows += check_full(files)["rows"]
            except BadShard as e:
                report.bad.append((str(manifest.parent / files.name), str(e)))
                if fix:
                    with contextlib.suppress(FileNotFoundError):  # moved meanwhile by a reading process
                        quarantine(files)
        found = orphans(base, ORPHAN_AGE_S)
        report.orphans.extend(found)
        if fix:
            for path in found:
                path.unlink(missing_ok=True)
    return report


def _embedding_refs(obj: Any) -> Iterator[dict[str, Any]]:
    """Every `embeddings` mapping anywhere in a record (cells, run manifests, lists of cells)."""
    if isinstance(obj, dict):
        refs = obj.get("embeddings")
        if isinstance(refs, dict):
            yield refs
        for value in obj.values():
            yield from _embedding_refs(value)
    elif isinstance(obj, list):
        for value in obj:
            yield from _embedding_refs(value)


def referenced_namespaces(results: list[Path]) -> set[str]:
    """Namespace ids the records under these results folders refer to; refuses when none records any."""
    used: set[str] = set()
    records = 0
    for folder in results:
        if not folder.is_dir():
            raise UserError(f"{folder}: not a results folder (expected a directory of result records, e.g. "
                            f"results/quickstart)")
        for path in folder.rglob("*.json"):
            try:
                record = json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError):
                continue
            for refs in _embedding_refs(record):
                records += 1
                used.update(v for v in refs.values() if isinstance(v, str))
    if records == 0:
        raise UserError(f"{', '.join(map(str, results))}: no result record has an 'embeddings' field (records "
                        f"written before it was added); re-run the suites so their records name the embeddings "
                        f"they use, then gc. Nothing was deleted")
    return used


@dataclass
class Unused:
    path: Path
    bytes: int
    description: str  # the namespace.json summary (model fingerprint, role, ...) or '?'


def in_use(results: list[Path]) -> set[str]:
    """Namespaces the commands holding a results lock below these folders use (a run, distill or throughput)."""
    used: set[str] = set()
    for folder in results:
        for lock in Path(folder).rglob(LOCK_FILE):
            used |= locked_namespaces(lock.parent) or set()
    return used


def gc(root: Path, results: list[Path], dry_run: bool = False) -> list[Unused]:
    """Delete (or with `dry_run` only list) namespaces no record under `results` refers to and no command in
    progress on them uses (`in_use`)."""
    used = referenced_namespaces(results) | in_use(results)
    out = []
    for base in namespace_dirs(root):
        if base.name in used:
            continue
        files = [p for p in base.rglob("*") if p.is_file()]
        try:
            meta = json.loads((base / "namespace.json").read_text())
            description = " ".join(f"{k}={meta[k]}" for k in ("fingerprint", "role", "dtype") if k in meta)
        except (OSError, ValueError):
            description = "?"
        size = sum(p.stat().st_size for p in files)
        out.append(Unused(base, size, description))
        if not dry_run:
            shutil.rmtree(base)
    return out

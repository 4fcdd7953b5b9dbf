"""Result records on disk: one JSON per grid cell, written atomically; the folder is the run's state.

Layout: `<output>/<suite>/retrieval/<task>/<config>/dim<D>-<precision>.json`, MTEB cells under `mteb/cells/`, and
`run.json`, the manifest of the latest run. A re-run reads a cell back and skips it when its `cell_hash` (see
leafbench.identity) is unchanged, so a crash loses nothing. One `leafbench run` at a time holds `.lock`.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import fcntl
import importlib.metadata
import json
import os
import platform
import subprocess
import uuid
from collections.abc import Iterator
from functools import lru_cache
from pathlib import Path
from typing import Any

from leafbench.errors import UserError
from leafbench.records import RETRIEVAL_SCHEMA, RUN_MANIFEST, ManifestCell, RunManifest, read_record

LOCK_FILE = ".lock"
_PACKAGES = ["leafbench", "torch", "sentence-transformers", "transformers", "numpy", "pytrec-eval-terrier", "mteb"]


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write to a temp file beside the target and rename: readers see the old file or the new, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_text(json.dumps(obj, indent=1, sort_keys=False, default=str), encoding="utf-8")
    os.replace(tmp, path)


def read_json(path: Path) -> dict[str, Any] | None:
    """A record, or None when missing or unreadable (an unreadable cell is simply recomputed)."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError):
        return None


def cell_path(results_dir: Path, task: str, config: str, dim: int, precision: str) -> Path:
    return results_dir / "retrieval" / task / config / f"dim{dim}-{precision}.json"


def iter_records(folder: Path, schema: str = RETRIEVAL_SCHEMA) -> list[dict[str, Any]]:
    """Every record of a schema below a folder (any suite, any machine), sorted by path for stable tables."""
    out = []
    for path in sorted(Path(folder).rglob("*.json")):
        rec = read_json(path)
        if isinstance(rec, dict) and rec.get("schema") == schema:
            rec["_path"] = str(path)
            out.append(rec)
    return out


@lru_cache(maxsize=1)
def environment() -> dict[str, Any]:
    """Package versions, Python, platform and git commit: enough to reproduce or distrust a number later."""
    versions = {}
    for name in _PACKAGES:
        try:
            versions[name] = importlib.metadata.version(name)
        except importlib.metadata.PackageNotFoundError:
            versions[name] = None
    try:
        git = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).parent).stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        git = None
    return {"versions": versions, "python": platform.python_version(), "platform": platform.platform(),
            "machine": platform.machine(), "processor": platform.processor() or None, "git": git}


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


class RunLog:
    """The manifest of the run in progress (`run.json`), saved atomically each time a cell is added, so a crash
    leaves the cells that run had finished. `carry` keeps cells of the previous manifest that this run does not
    revisit (`--only` runs part of a suite: the rest of the suite's latest state stays listed)."""

    def __init__(self, results_dir: Path, suite: str, carry: Any = None):
        self.results_dir = Path(results_dir)
        previous = read_record(self.results_dir / RUN_MANIFEST, RunManifest)
        kept = [c for c in previous.cells if carry(c)] if previous is not None and carry is not None else []
        self.manifest = RunManifest(suite=suite, status="running", started=now(), updated=now(), cells=kept)
        # Saved from the first cell on: a run that stops before finishing any cell leaves the last manifest as is.

    def add(self, kind: str, rec: Any, path: Path) -> None:
        cell = ManifestCell(kind=kind, task=rec.task, config=rec.config, dim=rec.dim, precision=rec.precision,
                            path=Path(path).relative_to(self.results_dir).as_posix(), cell_hash=rec.cell_hash)
        self.manifest.cells = [c for c in self.manifest.cells if c.path != cell.path] + [cell]
        self._save()

    def add_file(self, path: Path) -> None:
        rel = Path(path).relative_to(self.results_dir).as_posix()
        if rel not in self.manifest.files:
            self.manifest.files.append(rel)
            self._save()

    def finish(self) -> None:
        self.manifest.status = "complete"
        self._save()

    def _save(self) -> None:
        self.manifest.updated = now()
        write_json_atomic(self.results_dir / RUN_MANIFEST, self.manifest.to_json())


def remove_temp_files(results_dir: Path) -> int:
    """Delete the temp files a killed writer left (`write_json_atomic`'s `.<name>.<id>.tmp`); call it only while
    holding the folder's lock, when no other writer can be mid-write. Returns how many were removed."""
    removed = 0
    for tmp in Path(results_dir).rglob(".*.tmp"):
        if tmp.is_file():
            tmp.unlink(missing_ok=True)
            removed += 1
    return removed


@contextlib.contextmanager
def results_lock(results_dir: Path) -> Iterator[Path]:
    """Hold `<results_dir>/.lock` (flock) for a run: a second run on the same folder stops with one line.

    The lock file is never deleted (deleting a flock file races with a process that has just opened it); the kernel
    drops the lock when the holder exits, however it exits.
    """
    results_dir = Path(results_dir)
    results_dir.mkdir(parents=True, exist_ok=True)
    path = results_dir / LOCK_FILE
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip()
            raise UserError(f"{path}: another `leafbench run` (pid {holder or '?'}) is writing this results folder; "
                            f"wait for it to finish, or give this run another --output") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield path
    finally:
        os.close(fd)  # releases the lock

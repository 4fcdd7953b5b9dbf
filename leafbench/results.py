"""Result records on disk: one JSON per grid cell, written atomically; the folder is the run's state.

Layout: `<output>/<suite>/retrieval/<task>/<config>/dim<D>-<precision>.json`, MTEB cells under `mteb/cells/`, and
`run.json`, the manifest of the latest run. A re-run reads a cell back and skips it when its `cell_hash` (see
leafbench.identity) is unchanged, so a crash loses nothing. Every command that writes into the folder (`run`,
`distill`, `throughput`) runs inside `recorded_run`: it holds `.lock` (one writer at a time: a distill and a run of
the same suite can no longer delete each other's checkpoints) and records itself in `run.json`, with its stage
timings. The lock file names its holder and the embedding namespaces it uses, which `cache gc` keeps.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import fcntl
import importlib.metadata
import json
import math
import os
import platform
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from contextvars import ContextVar
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

from leafbench.errors import UserError
from leafbench.records import RETRIEVAL_SCHEMA, RUN_MANIFEST, ManifestCell, RunManifest, read_json, read_record
from leafbench.timing import StageTimer

LOCK_FILE = ".lock"
SAVE_EVERY_S = 1.0  # RunLog: the most a crash can lose from run.json's listing (never a cell file)
_PACKAGES = ["leafbench", "torch", "sentence-transformers", "transformers", "numpy", "pytrec-eval-terrier", "mteb"]


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write to a temp file beside the target and rename: readers see the old file or the new, never half."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{uuid.uuid4().hex}.tmp")
    tmp.write_text(json.dumps(obj, indent=1, sort_keys=False, default=str), encoding="utf-8")
    os.replace(tmp, path)


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
    """The manifest of the run in progress (`run.json`), saved atomically as cells are added, so a crash leaves
    the cells that run had finished. Saves are at most one per `SAVE_EVERY_S` while cells stream in (each rewrites
    the whole manifest: one per cell was quadratic, ~5 s over the quickstart's 888 cells), flushed when the run
    ends or fails; a SIGKILL can lose the last second's entries, whose cell files the next run reuses. `carry`
    keeps cells of the previous manifest that this run does not revisit (`--only` runs part of a suite;
    `distill`/`throughput` alone revisit no cell), `carry_files` its other records. With a `timer`, each save
    writes the stage timings so far; `machine` (leafbench.hardware.run_machine) says what they were measured on."""

    def __init__(self, results_dir: Path, suite: str, carry: Any = None, command: str = "run",
                 timer: StageTimer | None = None, carry_files: bool = False,
                 machine: dict[str, Any] | None = None):
        self.results_dir = Path(results_dir)
        self.timer = timer
        previous = read_record(self.results_dir / RUN_MANIFEST, RunManifest)
        kept = [c for c in previous.cells if carry(c)] if previous is not None and carry is not None else []
        files = list(previous.files) if previous is not None and carry_files else []
        self.manifest = RunManifest(suite=suite, command=command, status="running", started=now(), updated=now(),
                                    cells=kept, files=files, machine=machine or {})
        # Saved from the first cell on: a run that stops before finishing any cell leaves the last manifest as is.
        self._saved_at = -math.inf
        self._pending = False

    def add(self, kind: str, rec: Any, path: Path) -> None:
        cell = ManifestCell(kind=kind, task=rec.task, config=rec.config, dim=rec.dim, precision=rec.precision,
                            path=Path(path).relative_to(self.results_dir).as_posix(), cell_hash=rec.cell_hash)
        self.manifest.cells = [c for c in self.manifest.cells if c.path != cell.path] + [cell]
        self._save(throttled=True)

    def add_file(self, path: Path) -> None:
        rel = Path(path).relative_to(self.results_dir).as_posix()
        if rel not in self.manifest.files:
            self.manifest.files.append(rel)
            self._save(throttled=True)

    def flush(self) -> None:
        """Write what a throttled save held back."""
        if self._pending:
            self._save()

    def finish(self) -> None:
        self.manifest.status = "complete"
        self._save()

    def _save(self, throttled: bool = False) -> None:
        if throttled and time.monotonic() - self._saved_at < SAVE_EVERY_S:
            self._pending = True
            return
        self._saved_at, self._pending = time.monotonic(), False
        self.manifest.updated = now()
        if self.timer is not None:
            self.manifest.timings = self.timer.as_dict()
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
def results_lock(results_dir: Path, command: str = "run") -> Iterator[Path]:
    """Hold `<results_dir>/.lock` (flock) for a writing command: a second one on the same folder stops with one line.

    The lock file's first line names the holder (`<pid> <command>`); the lines after it are the embedding
    namespaces the holder uses (`note_namespace`), for `cache gc`. The file is never deleted (deleting a flock file
    races with a process that has just opened it); the kernel drops the lock when the holder exits, however it exits.
    """
    results_dir = Path(results_dir)
    path = results_dir / LOCK_FILE
    try:
        results_dir.mkdir(parents=True, exist_ok=True)
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise UserError(f"output: cannot write the results folder {results_dir} ({e.strerror or e}); "
                        f"pass --output DIR with a writable folder") from None
    try:
        if not _try_flock(fd, fcntl.LOCK_EX, attempts=20):  # ~1 s: a `cache gc` probe holds it for microseconds
            pid, _, other = os.pread(fd, 256, 0).decode(errors="replace").partition("\n")[0].partition(" ")
            raise UserError(f"{path}: another `leafbench {other.strip() or 'run'}` (pid {pid.strip() or '?'}) is "
                            f"writing this results folder; wait for it to finish, or give this command another "
                            f"--output") from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()} {command}\n".encode(), 0)
        token = _holder.set(_Holder(fd, set()))
        try:
            yield path
        finally:
            _holder.reset(token)
    finally:
        os.close(fd)  # releases the lock


@dataclass
class _Holder:
    fd: int
    namespaces: set[str]


_holder: ContextVar[_Holder | None] = ContextVar("leafbench_results_lock", default=None)


def note_namespace(namespace: str) -> None:
    """List an embedding namespace in the held results lock (before it is read or written), so a `cache gc`
    meanwhile keeps it; a no-op outside a locked command."""
    holder = _holder.get()
    if holder is not None and namespace not in holder.namespaces:
        holder.namespaces.add(namespace)
        os.pwrite(holder.fd, f"{namespace}\n".encode(), os.fstat(holder.fd).st_size)


def locked_namespaces(results_dir: Path) -> set[str] | None:
    """The namespaces a command holding `<results_dir>/.lock` uses, or None when no command holds it."""
    path = Path(results_dir) / LOCK_FILE
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        if _try_flock(fd, fcntl.LOCK_SH):
            return None  # we got it: nobody holds it (closing the file releases it)
        lines = Path(path).read_text(encoding="utf-8", errors="replace").splitlines()
        return {line.strip() for line in lines[1:] if line.strip()}
    finally:
        os.close(fd)


def _try_flock(fd: int, kind: int, attempts: int = 1) -> bool:
    """flock without blocking, retried `attempts` times 50 ms apart; True when taken."""
    for attempt in range(attempts):
        try:
            fcntl.flock(fd, kind | fcntl.LOCK_NB)
            return True
        except BlockingIOError:
            if attempt + 1 < attempts:
                time.sleep(0.05)
    return False


@contextlib.contextmanager
def recorded_run(results_dir: Path, suite: str, command: str, carry: Callable[[ManifestCell], bool] | None,
                 carry_files: bool = False, machine: dict[str, Any] | None = None) -> Iterator[RunLog]:
    """What every writing command runs inside: the folder's lock, temp files of a killed writer removed, a
    `StageTimer` active, and its `RunLog` (timings included), marked complete when the block ends normally."""
    with results_lock(results_dir, command):
        remove_temp_files(results_dir)  # half-written files of a killed writer; the lock says none is live
        timer = StageTimer()
        with timer.active():
            log = RunLog(results_dir, suite, carry=carry, command=command, timer=timer, carry_files=carry_files,
                         machine=machine)
            try:
                yield log
            except BaseException:
                log.flush()  # the cells it finished, its status still "running"
                raise
            log.finish()

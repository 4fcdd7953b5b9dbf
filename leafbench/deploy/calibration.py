"""Search-cost calibration: single-query exact scans timed on synthetic embeddings at a few corpus sizes.

The grid's own search times are batched (every query of a task in one call, index build included) and come from
corpora of a few hundred documents: they say what the grid spent, not what one query costs against a million
documents. So the deploy step times what a deployment pays per query: one query against an index already built, for
each precision and dim, at N = 25,000, 50,000 and 100,000 random unit vectors (the scan's cost does not depend on
the values). Those sizes are where a search is long enough to measure: with the popcount kernel a binary scan of
12,000 documents takes a fraction of a millisecond, and timer and scheduler noise swamped the model fitted there
(held-out misses of -42% to +99%). The vectors are written once per dim into a memory-mapped temporary file in
leafbench's cache, chunk by chunk (the smaller sizes are prefixes), so memory stays bounded. `int8-affine` runs the
same int8 scan as `int8`, so it is timed once, as `int8`. One thread (BLAS and torch): on a shared machine a
multi-threaded matrix-vector product waits for its slowest thread. The figure kept is the median of the trials
(all are kept in `trials_ms`), the sizes' trials interleaved query by query so that a drift in the machine's speed
moves every size alike; a record timed by another method is timed again rather than mixed in. Its cost, measured on
the 2-core Zen 4 EPYC, idle: 13.5 s for the quickstart's 18 precision x dim pairs (docs/scale.md); the record is
kept in leafbench's cache and in `<results>/deploy/`, keyed by machine and backend, and a later report or
`leafbench deploy` on the same machine reuses it (entries for new dims are added, not redone). Where a cell
rescores, float32 rescoring is timed too (`RESCORE`: gathering R = 100, 300, 1,000 random candidate rows and
scoring them for one query), so a rescored configuration's latency is its quantized search plus its rescoring.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import os
import platform
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field
from threadpoolctl import threadpool_limits

from leafbench.cpu import cpu_model, simd_level
from leafbench.kernels import VERSION as KERNELS_VERSION
from leafbench.results import now, read_json, write_json_atomic

SCHEMA = "leafbench.search-calibration/1"
SIZES = (25_000, 50_000, 100_000)
REPEATS = 15  # single-query searches per (precision, dim, N), interleaved across the sizes; the median is kept
K = 100
THREADS = 1
RESCORE = "rescore"  # float32 rescoring of R candidates, timed like a precision with "N" = R
RESCORE_DEPTHS = (100, 300, 1000)
TIMED_AS = {"float32": "float32", "int8": "int8", "int8-affine": "int8", "binary": "binary", RESCORE: RESCORE}
METHOD = (f"median of {REPEATS} single-query searches (k={K}) per size after one untimed search, the sizes "
          f"interleaved query by query, against an already built exact-scan index of N random unit vectors, "
          f"memory-mapped ({THREADS} thread; scan kernels v{KERNELS_VERSION})")


class Timing(BaseModel):
    precision: str
    dim: int
    n_docs: int
    ms_per_query: float  # median trial
    median_ms: float | None = None
    trials_ms: list[float]


class Calibration(BaseModel):
    model_config = ConfigDict(protected_namespaces=())

    schema_: Literal["leafbench.search-calibration/1"] = Field(SCHEMA, alias="schema")
    backend: str = "exact"
    machine: dict[str, str | int | None]
    machine_key: str
    created: str
    method: str = METHOD
    load_average: list[float] | None = None
    seconds: float | None = None  # what the last timing pass cost
    timings: list[Timing] = Field(default_factory=list)

    def dump(self) -> dict:
        return self.model_dump(mode="json", by_alias=True)

    def has(self, precision: str, dim: int) -> bool:
        timed = TIMED_AS.get(precision, precision)
        sizes = RESCORE_DEPTHS if timed == RESCORE else SIZES
        return {t.n_docs for t in self.timings if t.precision == timed and t.dim == dim} >= set(sizes)


def machine() -> dict[str, str | int | None]:
    """What a search time depends on besides the index: the CPU (its name and widest vector extension: a VM's name
    alone can stand for more than one kind), its core count, numpy (its BLAS)."""
    return {"cpu_model": cpu_model(), "simd": simd_level(), "cpu_count": os.cpu_count(),
            "machine": platform.machine(), "numpy": np.__version__, "blas_threads": THREADS}


def machine_key(info: dict[str, str | int | None] | None = None) -> str:
    return hashlib.sha256(repr(sorted((info or machine()).items())).encode()).hexdigest()[:12]


def calibration_path(folder: Path, backend: str = "exact") -> Path:
    return folder / "deploy" / f"search-calibration-{backend}-{machine_key()}.json"


def _cache_folder() -> Path:
    from leafbench.assets import cache_dir

    return cache_dir()


def load_calibration(folders: list[Path], backend: str = "exact") -> Calibration | None:
    """This machine's calibration for `backend` from any of the folders (or their deploy/ subfolder), else from
    leafbench's cache."""
    for folder in [*folders, _cache_folder()]:
        for path in (calibration_path(folder, backend), *sorted(folder.glob(f"*/deploy/search-calibration-"
                                                                            f"{backend}-{machine_key()}.json"))):
            raw = read_json(path)
            if raw and raw.get("schema") == SCHEMA:
                try:
                    return Calibration.model_validate(raw)
                except ValueError:
                    continue
    return None


@functools.lru_cache(maxsize=1)
def _synthetic(dim: int) -> np.ndarray:
    """SIZES[-1] random unit vectors of `dim`, deterministic, in an unlinked memory-mapped temporary file."""
    folder = _cache_folder() / "tmp"
    folder.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryFile(dir=folder) as f:
        docs = np.memmap(f, dtype=np.float32, mode="w+", shape=(SIZES[-1], dim))
    rng = np.random.default_rng([dim, 0])
    for start in range(0, SIZES[-1], 8192):
        block = rng.standard_normal((min(8192, SIZES[-1] - start), dim), dtype=np.float32)
        docs[start:start + len(block)] = block / np.linalg.norm(block, axis=1, keepdims=True)
    return docs


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """BLAS and (when loaded) torch limited to THREADS threads while timing."""
    torch = sys.modules.get("torch")
    before = torch.get_num_threads() if torch is not None else None
    try:
        if torch is not None:
            torch.set_num_threads(THREADS)
        with threadpool_limits(THREADS):
            yield
    finally:
        if torch is not None and before is not None:
            torch.set_num_threads(before)


def _searcher(precision: str, docs: np.ndarray, n: int, rng: np.random.Generator) -> Callable[[np.ndarray], object]:
    """One query's search against the first n documents, or (RESCORE) its float32 rescoring of n candidates
    gathered at random from all of them."""
    from leafbench.search import build_index, rescore_head

    if precision == RESCORE:
        candidates = rng.permutation(len(docs))[:n][None, :]
        return lambda q: rescore_head(q[None, :], docs, np.zeros(candidates.shape, np.float32), candidates, n, K)
    index = build_index(docs[:n], precision, device="cpu")
    return lambda q: index.search(q[None, :], K)


def _time_sizes(precision: str, dim: int, sizes: tuple[int, ...], rng: np.random.Generator) -> list[Timing]:
    """One query's cost at each of `sizes`, the sizes' trials interleaved query by query: a drift in the machine's
    speed (frequency, a neighbour's burst) then moves every size alike instead of bending the line between them,
    which is what the held-out check measures (timed size after size, its misses reached +43% on an idle box)."""
    docs = _synthetic(dim)
    queries = rng.standard_normal((REPEATS + 1, dim), dtype=np.float32)
    queries /= np.linalg.norm(queries, axis=1, keepdims=True)
    searches = {n: _searcher(precision, docs, n, rng) for n in sizes}
    trials: dict[int, list[float]] = {n: [] for n in sizes}
    with _one_thread():
        for one in searches.values():
            one(queries[0])  # untimed: first touch of the codes
        for q in queries[1:]:
            for n, one in searches.items():
                start = time.perf_counter()
                one(q)
                trials[n].append((time.perf_counter() - start) * 1000)
    out = []
    for n in sizes:
        median = round(float(np.median(trials[n])), 4)
        out.append(Timing(precision=precision, dim=dim, n_docs=n, ms_per_query=median, median_ms=median,
                          trials_ms=[round(t, 4) for t in trials[n]]))
    return out


def calibrate(folder: Path, pairs: list[tuple[str, int]], backend: str = "exact") -> Calibration:
    """The calibration for every (precision, dim) pair, timing only what the cached record lacks."""
    if backend != "exact":
        raise ValueError(f"search-cost calibration times the exact scan only, not backend {backend!r}")
    existing = load_calibration([folder], backend)
    if existing is not None and existing.method != METHOD:  # timed another way: its figures do not mix with ours
        existing = None
    info = machine()
    cal = existing or Calibration(backend=backend, machine=info, machine_key=machine_key(info), created=now())
    # dim by dim: each dim's synthetic vectors are written once (`_synthetic` keeps one dim's)
    todo = sorted({(TIMED_AS.get(p, p), d) for p, d in pairs if not cal.has(p, d) and p in TIMED_AS},
                  key=lambda pd: (pd[1], pd[0]))
    if not todo:
        return cal
    rng = np.random.default_rng(0)
    timings = [t for t in cal.timings if (t.precision, t.dim) not in set(todo)]
    t0 = time.perf_counter()
    for precision, dim in todo:
        timings.extend(_time_sizes(precision, dim, RESCORE_DEPTHS if precision == RESCORE else SIZES, rng))
    _synthetic.cache_clear()  # the memory-mapped vectors go with the last reference
    cal = cal.model_copy(update={"timings": timings, "created": now(), "seconds": round(time.perf_counter() - t0, 2),
                                 "load_average": [round(x, 2) for x in os.getloadavg()]})
    for target in (folder, _cache_folder()):
        write_json_atomic(calibration_path(target, backend), cal.dump())
    return cal

"""Measured corpus sizes from `benchmarks/scale.py`: search time vs N for the exact scans and the FAISS backends.

The benchmark times 768-d synthetic clustered embeddings at 100k-3M documents per backend (k=10, the index already
built), writing `results/bench/scale.json`. That file is read where it sits beside a results folder
(`results/<suite>` -> `results/bench/scale.json`, or `<folder>/bench/scale.json`) or where a flag names it
(`leafbench deploy --scale FILE`), never from the current directory. Its rows become a calibration per backend
*and its parameters* (an HNSW row stands for its own M / efConstruction / efSearch, an IVF row for its nlist /
nprobe: a cell searched with other parameters gets no cost model rather than another index's), fitted and checked
like leafbench's own (leafbench.deploy.projection). The times are a single query's median where the row has one
(`single_ms`), else per query of a batch (amortised); the CPU the benchmark ran on is kept, so a report can say
when a cost model was timed on another machine.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from leafbench.deploy.calibration import Calibration, Timing, machine_key
from leafbench.results import now, read_json

SCALE_FILE = Path("bench") / "scale.json"
# benchmark backend -> (leafbench search backend, precision) of the cells it stands for
BACKENDS = {"exact": ("exact", "float32"), "int8-scan": ("exact", "int8"), "binary-scan": ("exact", "binary"),
            "faiss-flat": ("flat", "float32"), "hnsw": ("hnsw", "float32"), "ivf": ("ivf", "float32"),
            "faiss-binary-flat": ("flat", "binary")}
DIM = 768
_PARAMS = {"hnsw": ("hnsw_m", "ef_construction", "ef_search"), "ivf": ("nlist", "nprobe")}


def backend_key(identity: dict[str, Any] | str) -> str:
    """A backend with the parameters its cost depends on: 'exact', 'flat', 'hnsw(hnsw_m=32, ...)', 'ivf(...)'."""
    if isinstance(identity, str):
        return identity
    name = str(identity.get("backend", "exact"))
    params = [f"{p}={identity.get(p)}" for p in _PARAMS.get(name, ())]
    return f"{name}({', '.join(params)})" if params else name


def scale_files(folders: list[Path], named: list[Path] | None = None) -> list[Path]:
    """The files named by a flag, then scale.json beside each results folder or inside it."""
    candidates = list(named or []) + [f.parent / SCALE_FILE for f in folders] + [f / SCALE_FILE for f in folders]
    seen, out = set(), []
    for path in candidates:
        if path.exists() and path.resolve() not in seen:
            seen.add(path.resolve())
            out.append(path)
    return out


def _row_identity(row: dict[str, Any], doc: dict[str, Any], backend: str) -> dict[str, Any]:
    if backend == "hnsw":
        return {"backend": "hnsw", **(row.get("hnsw") or doc.get("hnsw") or {})}
    if backend == "ivf":
        return {"backend": "ivf", **(row.get("ivf") or doc.get("ivf") or {})}
    return {"backend": backend}


def load_scale(folders: list[Path], named: list[Path] | None = None) -> list[Calibration]:
    """One calibration per (search backend, parameters, CPU) found in the benchmark's rows."""
    grouped: dict[tuple[str, str, str], list[Timing]] = {}
    for path in scale_files(folders, named):
        doc = read_json(path) or {}
        cpu = str(doc.get("cpu") or "unknown CPU")
        for row in doc.get("rows") or []:
            mapped = BACKENDS.get(str(row.get("backend")))
            if mapped is None or not row.get("n") or not (row.get("single_ms") or
                                                          (row.get("search_s") and row.get("queries"))):
                continue
            single = row.get("single_ms")
            ms = float(single) if single else 1000 * float(row["search_s"]) / int(row["queries"])
            key = (backend_key(_row_identity(row, doc, mapped[0])), cpu, str(path))
            grouped.setdefault(key, []).append(Timing(precision=mapped[1], dim=DIM, n_docs=int(row["n"]),
                                                      ms_per_query=round(ms, 4), trials_ms=[round(ms, 4)]))
    out = []
    for (backend, cpu, source), timings in sorted(grouped.items()):
        info: dict[str, str | int | None] = {"cpu_model": cpu, "source": source}
        out.append(Calibration(backend=backend, machine=info, machine_key=machine_key(info), created=now(),
                               method="benchmarks/scale.py: one query's median (single_ms), else per query of a "
                                      "batch (search_s / queries), k=10, index built; 768-d synthetic clustered "
                                      "embeddings", timings=timings))
    return out

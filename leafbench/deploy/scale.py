"""Measured corpus sizes from `benchmarks/scale.py`: search time vs N for the exact scan and the FAISS backends.

The benchmark times 768-d synthetic clustered embeddings at 100k-3M documents per backend (a batch of queries,
k=10, the index already built), writing `results/bench/scale.json`. Where that file sits beside a results folder
(or under ./results/bench/), its rows become a calibration per backend, fitted and checked like leafbench's own
(leafbench.deploy.projection): the sizes a FAISS cell's search time at N is projected from. Its times are per query
of a batch (amortised), not of a single query: the report says which source each cost model came from.
"""

from __future__ import annotations

from pathlib import Path

from leafbench.deploy.calibration import Calibration, Timing, machine_key
from leafbench.results import now, read_json

SCALE_FILE = Path("bench") / "scale.json"
# benchmark backend -> (leafbench search backend, precision) of the cells it stands for
BACKENDS = {"exact": ("exact", "float32"), "binary-scan": ("exact", "binary"), "faiss-flat": ("flat", "float32"),
            "hnsw": ("hnsw", "float32"), "ivf": ("ivf", "float32"), "faiss-binary-flat": ("flat", "binary")}
DIM = 768


def scale_files(folders: list[Path]) -> list[Path]:
    """scale.json beside each results folder (results/<suite> -> results/bench/scale.json) or under ./results."""
    candidates = [f.parent / SCALE_FILE for f in folders] + [f / SCALE_FILE for f in folders] + \
                 [Path("results") / SCALE_FILE]
    seen, out = set(), []
    for path in candidates:
        if path.exists() and path.resolve() not in seen:
            seen.add(path.resolve())
            out.append(path)
    return out


def load_scale(folders: list[Path]) -> list[Calibration]:
    """One calibration per search backend found in the benchmark's rows (three or more sizes needed to check)."""
    by_backend: dict[str, list[Timing]] = {}
    for path in scale_files(folders):
        for row in (read_json(path) or {}).get("rows") or []:
            mapped = BACKENDS.get(str(row.get("backend")))
            if mapped is None or not row.get("search_s") or not row.get("queries") or not row.get("n"):
                continue
            ms = 1000 * float(row["search_s"]) / int(row["queries"])
            by_backend.setdefault(mapped[0], []).append(Timing(precision=mapped[1], dim=DIM, n_docs=int(row["n"]),
                                                               ms_per_query=round(ms, 4), trials_ms=[round(ms, 4)]))
    info: dict[str, str | int | None] = {"source": ", ".join(map(str, scale_files(folders)))}
    return [Calibration(backend=backend, machine=info, machine_key=machine_key(info), created=now(),
                        method="benchmarks/scale.py: per query of a batch (search_s / queries), k=10, index built; "
                               "768-d synthetic clustered embeddings", timings=timings)
            for backend, timings in sorted(by_backend.items())]

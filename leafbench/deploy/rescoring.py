"""nDCG@10 against rescoring depth for the quantized precisions, from the embeddings the run already stored.

A suite evaluates one `rescore` depth, but the deploy question is the curve: how many float32 rescoring candidates
does int8 or binary need to recover float32's quality? Searching is cheap once the embeddings exist, so this runs
the retrieval again at several depths on the largest evaluated task (whose embeddings are all stored), for every
config at its full dimension, reading the embeddings from the embedding store (never encoding: a config whose
embeddings are not all stored is left out). Depth d rescores the top max(d, k) quantized candidates in float32, k
being the 10 (11 when self-hits are ignored) that nDCG@10 reads. The store namespace is the one the cell records by
id, read back from the store's namespace.json (never rebuilt from the cell's model settings: a rebuilt one could
drift from what the encoder used), and the float32 score recomputed from the stored embeddings must equal the
cell's for at least 95% of the queries, else the config is left out. Texts the store lacks under the
task's current text (at most 1%) are left out of every point of that curve; the curve records how many queries and
documents it used and the share of queries whose float32 score matched the cell's.

The result is cached as `<results>/deploy/rescoring.json`, keyed by the float32 cells' hashes: a re-run of the
report reuses it until a cell changes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from leafbench.errors import UserError
from leafbench.results import read_json, write_json_atomic

SCHEMA = "leafbench.rescoring/1"
DEPTHS = (0, 10, 20, 50, 100, 200)  # 0: no rescoring; the curves above are flat by 200 on the quickstart
PRECISIONS = ("int8", "binary")
MIN_STORED = 0.99  # share of the task's texts that must be in the store
MIN_AGREEMENT = 0.95  # share of queries whose recomputed float32 nDCG@10 must equal the cell's


@dataclass(frozen=True)
class Curve:
    config: str
    dim: int
    precision: str
    float32: float  # nDCG@10 of the same config and dim in float32 (the ceiling rescoring approaches)
    points: tuple[tuple[int, float], ...]  # (depth, nDCG@10); depth 0 is the quantized ranking alone
    queries: int  # the task's queries whose embeddings are stored (all, normally)
    docs: int  # likewise its documents
    agreement: float  # share of queries whose float32 nDCG@10 here equals the cell's


def _stored_namespace(store_root: Path, ns_id: str | None) -> dict[str, object] | None:
    """The namespace a cell recorded by id, as the store's namespace.json spells it (None when absent)."""
    if not ns_id:
        return None
    found = read_json(store_root / ns_id / "namespace.json")
    return found if isinstance(found, dict) else None


class _NotStored(Exception):
    pass


def _refuse(todo: list[str]) -> Any:
    raise _NotStored(f"{len(todo)} texts not in the store")


def _curve_key(cells: list[dict[str, Any]]) -> str:
    return hashlib.sha256(json.dumps([DEPTHS, sorted(str(c.get("cell_hash") or c.get("created")) for c in cells)])
                          .encode()).hexdigest()[:16]


def compute_curves(float_cells: list[dict[str, Any]], store_root: Path) -> list[Curve]:
    """Curves for each float32 full-dim cell of one task (the cells give models, task and settings)."""
    import numpy as np

    from leafbench.config import TaskSpec
    from leafbench.datasets.tasks import load_task
    from leafbench.metrics import evaluate_run, run_from_topk
    from leafbench.search import retrieve
    from leafbench.store import EmbeddingStore, namespace_id
    from leafbench.transforms import truncate

    if not float_cells:
        return []
    try:
        data = load_task(TaskSpec.model_validate(float_cells[0]["task_spec"]))
    except (UserError, ValueError):  # not loadable here (a public dataset offline, a moved folder): no curve
        return []
    qids, dids = sorted(data.queries), sorted(data.corpus)
    qtexts, dtexts = [data.queries[q] for q in qids], data.doc_texts(dids)
    store = EmbeddingStore(store_root)
    curves = []
    for cell in float_cells:
        recorded = cell.get("embeddings") or {}
        spaces = {role: _stored_namespace(store_root, recorded.get(role)) for role in ("query", "document")}
        if any(ns is None or recorded[role] != namespace_id(ns) for role, ns in spaces.items()):
            continue
        absent_docs = set(store.missing(spaces["document"], dtexts))  # type: ignore[arg-type]
        absent = set(store.missing(spaces["query"], [data.queries[x] for x in qids]))  # type: ignore[arg-type]
        kept = [x for x in qids if data.queries[x] not in absent]
        docs = [x for x, text in zip(dids, dtexts) if text not in absent_docs]
        judged = (cell.get("per_query") or {}).get("NDCG@10") or {}
        if len(docs) < MIN_STORED * len(dids) or len(kept) < MIN_STORED * len(qids):
            continue
        q = store.get(spaces["query"], [data.queries[x] for x in kept], _refuse)  # type: ignore[arg-type]
        d = store.get(spaces["document"], data.doc_texts(docs), _refuse)  # type: ignore[arg-type]
        dim = int(cell["dim"])
        q, d = truncate(np.asarray(q), dim), truncate(np.asarray(d), dim)
        ignore = bool(cell.get("ignore_identical_ids", True))
        k = min(10 + ignore, len(docs))
        qrels = {x: data.qrels[x] for x in kept if x in data.qrels}

        def ndcg(precision: str, depth: int) -> tuple[float, dict[str, float]]:
            top = retrieve(q, d, precision, k, rescore=depth)
            scores, per_query = evaluate_run(qrels, run_from_topk(top, kept, docs), [10], ignore)
            return round(float(scores["NDCG@10"]), 6), {x: v["NDCG@10"] for x, v in per_query.items()}

        ceiling, per_query = ndcg("float32", 0)
        # the same queries' float32 scores as the cell recorded them: else these are not its embeddings
        agree = sum(abs(v - judged.get(x, -1.0)) <= 1e-4 for x, v in per_query.items())
        if not per_query or agree < MIN_AGREEMENT * len(per_query):
            continue
        for precision in PRECISIONS:
            depths = [x for x in DEPTHS if x <= len(dids)]
            curves.append(Curve(cell["config"], dim, precision, ceiling,
                                tuple((x, ndcg(precision, x)[0]) for x in depths), len(kept), len(docs),
                                round(agree / len(per_query), 4)))
    return curves


def rescoring_curves(cells: dict[tuple[str, str, int, str], dict[str, Any]], cache_folder: Path,
                     store_root: Path) -> tuple[str | None, list[Curve]]:
    """(task, curves) for the largest evaluated task whose embeddings are all in the store (a smaller one when the
    largest's are not), cached in `cache_folder/deploy/rescoring.json`."""
    sizes: dict[str, int] = {}
    for (t, _, _, _), r in cells.items():
        sizes[t] = max(sizes.get(t, 0), int((r.get("task_size") or {}).get("docs") or 0))
    path = cache_folder / "deploy" / "rescoring.json"
    cached = read_json(path)
    for task in sorted(sizes, key=lambda t: (-sizes[t], t)):
        float_cells = [r for (t, _, dim, p), r in cells.items() if t == task and p == "float32"
                       and dim == int(r.get("full_dim") or dim)]
        key = _curve_key(float_cells)
        if cached and cached.get("schema") == SCHEMA and cached.get("key") == key:
            return task, [Curve(c["config"], c["dim"], c["precision"], c["float32"],
                                tuple((int(a), float(b)) for a, b in c["points"]), int(c["queries"]), int(c["docs"]),
                                float(c["agreement"]))
                          for c in cached["curves"]]
        curves = compute_curves(float_cells, store_root)
        if curves:
            write_json_atomic(path, {"schema": SCHEMA, "key": key, "task": task, "depths": list(DEPTHS),
                                     "curves": [{"config": c.config, "dim": c.dim, "precision": c.precision,
                                                 "float32": c.float32, "points": [list(p) for p in c.points],
                                                 "queries": c.queries, "docs": c.docs,
                                                 "agreement": c.agreement} for c in curves]})
            return task, curves
    return None, []  # nothing stored (yet): no cache entry, so a later report tries again

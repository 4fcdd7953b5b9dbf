"""Benchmark: the whole dims x precisions grid vs encoding alone, and leafbench's search vs BEIR's exact search.

Goal: grid time <= 1.10x encoding time (the grid is arithmetic on stored embeddings), and search at least as fast
as BEIR's DenseRetrievalExactSearch on the same embeddings.

    python benchmarks/grid.py [--model sentence-transformers/all-MiniLM-L6-v2] [--docs 2225] [--queries 500]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

os.environ.setdefault("HF_HUB_OFFLINE", "1")


class _Precomputed:
    """A BEIR 'model' that returns fixed embeddings, so BEIR's search is timed alone on the same vectors."""

    def __init__(self, q: np.ndarray, d: np.ndarray):
        self.q, self.d = torch.from_numpy(q), torch.from_numpy(d)
        self.offset = 0

    def encode_queries(self, queries, batch_size, **kwargs):  # noqa: ANN001 - BEIR's duck-typed interface
        return self.q

    def encode_corpus(self, corpus, batch_size, **kwargs):  # noqa: ANN001
        part = self.d[self.offset:self.offset + len(corpus)]
        self.offset += len(corpus)
        return part


def beir_search_seconds(q: np.ndarray, d: np.ndarray, data, k: int) -> float:  # noqa: ANN001
    from beir.retrieval.search.dense import DenseRetrievalExactSearch

    dids = sorted(data.corpus)
    model = _Precomputed(q, d)
    search = DenseRetrievalExactSearch(model, batch_size=128, corpus_chunk_size=50000)
    # BEIR sorts the corpus by length before encoding; hand it the corpus in that order so rows line up.
    order = sorted(dids, key=lambda i: len(data.corpus[i].get("title", "") + data.corpus[i].get("text", "")),
                   reverse=True)
    model.d = torch.from_numpy(d[[dids.index(i) for i in order]])
    start = time.perf_counter()
    search.search({i: data.corpus[i] for i in dids}, {i: data.queries[i] for i in sorted(data.queries)}, k,
                  "cos_sim")
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="sentence-transformers/all-MiniLM-L6-v2")
    parser.add_argument("--task", default="bbc-news-titles")
    parser.add_argument("--docs", type=int, default=2225)
    parser.add_argument("--queries", type=int, default=500)
    parser.add_argument("--max-seq-length", type=int, default=128)
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as tmp:
        os.environ["LEAFBENCH_CACHE"] = os.environ.get("LEAFBENCH_CACHE") or tmp
        from leafbench.config import parse_suite
        from leafbench.datasets.packaged import load_packaged_task
        from leafbench.embed import EmbeddingService
        from leafbench.evaluate.retrieval import RetrievalGrid
        from leafbench.search import retrieve

        suite = parse_suite({
            "name": "bench-grid", "output": str(Path(tmp) / "results"), "device": "cpu",
            "models": {"m": {"id": args.model, "max_seq_length": args.max_seq_length, "dtype": "auto"}},
            "configs": {"m": {"standard": "m"}},
            "tasks": [{"packaged": args.task, "max_docs": args.docs, "max_queries": args.queries}],
            "dims": ["full", 256, 128, 64], "precisions": ["float32", "int8", "int8-affine", "binary"],
        }, Path("<benchmark>"))

        service = EmbeddingService(suite.models, device="cpu", store_root=Path(tmp) / "emb")
        service.encoder("m")  # load outside the timings: both paths need the model
        grid = RetrievalGrid(suite, service, suite.results_dir)
        start = time.perf_counter()
        records = list(grid.run(suite.tasks[0]))
        total = time.perf_counter() - start
        encode = service.encode_seconds
        parts = {name: sum(r.timings.get(f"{name}_s", 0.0) for r in records)
                 for name in ("search", "metrics", "alignment_search")}
        print(f"grid: {len(records)} cells in {total:.1f} s; encoding alone {encode:.1f} s; "
              f"grid/encoding = {total / encode:.3f} (goal <= 1.10); "
              + ", ".join(f"{name} {secs:.2f} s" for name, secs in parts.items())
              + f"; load average {os.getloadavg()[0]:.2f}")

        data = load_packaged_task(args.task, max_docs=args.docs, max_queries=args.queries)
        q = service.embed("m", "query", [data.queries[i] for i in sorted(data.queries)])
        d = service.embed("m", "document", data.doc_texts(sorted(data.corpus)))
        q /= np.linalg.norm(q, axis=1, keepdims=True)
        d /= np.linalg.norm(d, axis=1, keepdims=True)
        k = min(1000, len(d))
        start = time.perf_counter()
        retrieve(q, d, "float32", k)
        ours = time.perf_counter() - start
        theirs = beir_search_seconds(q, d, data, k)
        print(f"search float32 full dim, {len(q)} queries x {len(d)} docs, top {k}: leafbench {ours * 1000:.1f} ms, "
              f"BEIR DenseRetrievalExactSearch {theirs * 1000:.1f} ms ({theirs / ours:.1f}x)")


if __name__ == "__main__":
    main()

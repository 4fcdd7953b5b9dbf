"""Benchmark: one encoder process on 2 torch threads vs two 1-thread worker processes on the same texts.

The question is whether the teacher's encodes (the largest share of a first quickstart run) would gain from a
process pool: a 2-core CPU rarely scales a BERT forward pass 2x over threads. Wall clock, so run it on an idle
machine (it prints the load average). Each worker loads its own model once and encodes every other text; both
start at a barrier and the pool's time is the slower worker's; the two setups alternate over several trials.
Prints texts/s for both and the lowest cosine between their embeddings (other threading, other reduction order).
docs/performance.md records the result.

    python benchmarks/encode_workers.py [--model sentence-transformers/all-mpnet-base-v2] [--queries 400]
                                        [--docs 128] [--dtype auto] [--max-seq-length 64] [--trials 5]
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import time
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


_WORKER: dict[str, Any] = {}


def _encoder(args: argparse.Namespace) -> Any:
    from leafbench.config import ModelSpec
    from leafbench.encoders import Encoder

    spec = ModelSpec(id=args.model, max_seq_length=args.max_seq_length, dtype=args.dtype, batch_size=32)
    return Encoder("m", spec, "cpu")


def _load(args: argparse.Namespace) -> None:
    """Pool initializer: each worker holds its own model on one torch thread for the whole benchmark."""
    import torch

    torch.set_num_threads(1)
    _WORKER["enc"] = _encoder(args)


def _encode(job: tuple[list[str], str, Any]) -> tuple[float, Any]:
    """One timed pass over this worker's share, started together with the other worker's (a barrier)."""
    texts, role, start = job
    start.wait()
    began = time.perf_counter()
    out = _WORKER["enc"].encode(texts, role)
    return time.perf_counter() - began, out


def main() -> None:
    import numpy as np
    import torch

    from leafbench.datasets.packaged import load_packaged_task

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="sentence-transformers/all-mpnet-base-v2")
    parser.add_argument("--queries", type=int, default=400)
    parser.add_argument("--docs", type=int, default=128)
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--max-seq-length", type=int, default=64)
    parser.add_argument("--trials", type=int, default=5)
    args = parser.parse_args()
    data = load_packaged_task("bbc-news-titles", max_docs=max(500, args.docs), max_queries=args.queries)
    queries = [data.queries[q] for q in sorted(data.queries)][:args.queries]
    docs = data.doc_texts(sorted(data.corpus))[:args.docs]
    torch.set_num_threads(2)
    enc = _encoder(args)
    ctx = mp.get_context("spawn")
    with ctx.Manager() as manager, ctx.Pool(2, initializer=_load, initargs=(args,)) as pool:
        start = manager.Barrier(3)

        def pooled(texts: list[str], role: str) -> tuple[float, Any]:
            pending = pool.map_async(_encode, [(texts[0::2], role, start), (texts[1::2], role, start)],
                                     chunksize=1)
            start.wait()  # both workers hold their share: the passes start together
            (t0, e0), (t1, e1) = pending.get()
            out = np.empty((len(texts), e0.shape[1]), dtype=e0.dtype)
            out[0::2], out[1::2] = e0, e1
            return max(t0, t1), out

        def single(texts: list[str], role: str) -> tuple[float, Any]:
            began = time.perf_counter()
            out = enc.encode(texts, role)
            return time.perf_counter() - began, out

        print(f"{args.model} dtype {enc.dtype}, max_seq_length {args.max_seq_length}, {args.trials} alternating "
              f"trials after a warm-up, median; load {os.getloadavg()[0]:.1f}")
        for name, texts, role in (("queries", queries, "query"), ("docs", docs, "document")):
            single(texts[:64], role)  # warm-up, both setups
            pooled(texts[:64], role)
            times: dict[str, list[float]] = {"single": [], "pooled": []}
            embs: dict[str, Any] = {}
            for trial in range(args.trials):
                order = (("single", single), ("pooled", pooled))
                for kind, fn in order if trial % 2 == 0 else order[::-1]:
                    seconds, embs[kind] = fn(texts, role)
                    times[kind].append(seconds)
            a, b = embs["single"], embs["pooled"]
            cos = np.sum(a * b, 1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)
            one, two = float(np.median(times["single"])), float(np.median(times["pooled"]))
            print(f"{name} ({len(texts)}): 1 process x 2 threads {len(texts) / one:.1f}/s, "
                  f"2 processes x 1 thread {len(texts) / two:.1f}/s ({one / two:.2f}x; per-trial ratios "
                  f"{', '.join(f'{s / p:.2f}' for s, p in zip(times['single'], times['pooled']))}), "
                  f"min cosine between them {cos.min():.7f}")


if __name__ == "__main__":
    main()

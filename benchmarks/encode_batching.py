"""Benchmark: short texts (queries) encoded at the suite's batch size vs larger batches (a token budget).

Single torch thread, CPU time per pass (`time.process_time`: a shared machine's load barely moves it), one warm-up
pass, then alternating trials; prints texts per CPU-second and the lowest cosine to the first batch size's
embeddings. docs/performance.md records the result (larger batches of short texts were slower: not kept).

    python benchmarks/encode_batching.py [--model sentence-transformers/all-MiniLM-L6-v2] [--batches 32,128,256]
                                         [--texts 300] [--dtype auto] [--trials 3]
"""

from __future__ import annotations

import argparse
import os
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def main() -> None:
    import numpy as np
    import torch

    from leafbench.config import ModelSpec
    from leafbench.datasets.packaged import load_packaged_task
    from leafbench.encoders import Encoder

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="sentence-transformers/all-MiniLM-L6-v2")
    parser.add_argument("--batches", default="32,128,256")
    parser.add_argument("--texts", type=int, default=300, help="queries, half from each packaged task")
    parser.add_argument("--dtype", default="auto")
    parser.add_argument("--trials", type=int, default=3)
    args = parser.parse_args()
    batches = [int(b) for b in args.batches.split(",")]
    torch.set_num_threads(1)
    texts: list[str] = []
    for task in ("bbc-news-titles", "wiki-sections"):
        data = load_packaged_task(task, max_docs=600, max_queries=300)
        texts += [data.queries[q] for q in sorted(data.queries)][:args.texts // 2]
    enc = Encoder("m", ModelSpec(id=args.model, max_seq_length=128, dtype=args.dtype, batch_size=batches[0]), "cpu")
    rates: dict[int, list[float]] = {b: [] for b in batches}
    embs: dict[int, np.ndarray] = {}

    def run(batch: int) -> float:
        enc.spec = enc.spec.model_copy(update={"batch_size": batch})
        start = time.process_time()
        embs[batch] = enc.encode(texts, "query")
        return len(texts) / (time.process_time() - start)

    run(batches[0])  # warm-up
    for trial in range(args.trials):
        for b in batches if trial % 2 == 0 else batches[::-1]:
            rates[b].append(run(b))
    base, ref = embs[batches[0]], float(np.median(rates[batches[0]]))
    print(f"{args.model} dtype {enc.dtype}, {len(texts)} texts, 1 thread, load {os.getloadavg()[0]:.1f}")
    for b in batches:
        e = embs[b]
        cos = np.sum(e * base, 1) / np.linalg.norm(e, axis=1) / np.linalg.norm(base, axis=1)
        print(f"batch {b}: {np.median(rates[b]):.1f} texts/CPU-s ({np.median(rates[b]) / ref:.2f}x), "
              f"min cosine to batch {batches[0]} {cos.min():.7f}")


if __name__ == "__main__":
    main()

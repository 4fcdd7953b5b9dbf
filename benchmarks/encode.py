"""Benchmark: leafbench's encode path against a raw sentence-transformers encode of the same texts.

leafbench's Encoder.encode adds role prompts, autocast, its own length sort, chunking (for progress) and a NaN check
around SentenceTransformer.encode; this measures what that costs. Both sides use the same loaded model, texts,
batch size and dtype, and alternate trial by trial (ABBA) so a load change on the machine hits both alike.

Goal: leafbench docs/s >= 0.95x the raw loop's (within 5%). Also printed: the whole cache-miss path
(EmbeddingService.embed into an empty embedding store: hashing, encoding, writing), for information.

    python benchmarks/encode.py [--model sentence-transformers/all-MiniLM-L6-v2] [--docs 256] [--batch-size 32]
                                [--max-seq-length 128] [--dtype fp32] [--trials 6] [--threads N]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="sentence-transformers/all-MiniLM-L6-v2")
    parser.add_argument("--task", default="bbc-news-titles", help="packaged task whose documents are encoded")
    parser.add_argument("--docs", type=int, default=256)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--max-seq-length", type=int, default=128)
    parser.add_argument("--dtype", choices=["fp32", "bf16"], default="fp32")
    parser.add_argument("--trials", type=int, default=6)
    parser.add_argument("--threads", type=int, help="torch intra-op threads (default: torch's)")
    args = parser.parse_args()

    import torch

    from leafbench.config import ModelSpec
    from leafbench.cpu import load_average
    from leafbench.datasets.packaged import load_packaged_task
    from leafbench.embed import EmbeddingService
    from leafbench.store import EmbeddingStore

    if args.threads:
        torch.set_num_threads(args.threads)
    spec = ModelSpec(id=args.model, max_seq_length=args.max_seq_length, dtype=args.dtype, batch_size=args.batch_size)
    data = load_packaged_task(args.task, max_docs=args.docs)
    texts = data.doc_texts(sorted(data.corpus))[:args.docs]
    with tempfile.TemporaryDirectory() as tmp:
        service = EmbeddingService({"m": spec}, device="cpu", store_root=Path(tmp) / "emb0")
        enc = service.encoder("m")
        raw = enc.model

        def autocast() -> contextlib.AbstractContextManager:
            return torch.autocast("cpu", dtype=torch.bfloat16) if args.dtype == "bf16" else contextlib.nullcontext()

        def leafbench_path() -> None:
            enc.encode(texts, "document")

        def raw_loop() -> None:
            with autocast():
                raw.encode(texts, batch_size=args.batch_size)

        trial = iter(range(10**6))

        def store_path() -> None:  # a fresh, empty store each time: the full cache-miss cost
            service.store = EmbeddingStore(Path(tmp) / f"emb{next(trial) + 1}")
            service.embed("m", "document", texts)

        def timed(fn) -> float:  # noqa: ANN001
            start = time.perf_counter()
            fn()
            return time.perf_counter() - start

        leafbench_path(), raw_loop()  # warm-up: first-call kernel selection and allocations
        ours, theirs = [], []
        for i in range(args.trials):
            pair = (leafbench_path, raw_loop) if i % 2 == 0 else (raw_loop, leafbench_path)
            seconds = {fn: timed(fn) for fn in pair}
            ours.append(seconds[leafbench_path])
            theirs.append(seconds[raw_loop])
        store = [timed(store_path) for _ in range(max(2, args.trials // 2))]

    ratios = [t / o for o, t in zip(ours, theirs)]  # leafbench speed relative to raw, trial by trial
    n = len(texts)
    print(f"{args.model} ({args.dtype}, batch {args.batch_size}, max_seq_length {args.max_seq_length}, "
          f"{torch.get_num_threads()} threads), {n} {args.task} documents, {args.trials} alternating trials; "
          f"load average {load_average()}")
    print(f"  raw SentenceTransformer.encode: {n / statistics.median(theirs):8.1f} docs/s (median; "
          f"{n / max(theirs):.1f}-{n / min(theirs):.1f})")
    print(f"  leafbench Encoder.encode:       {n / statistics.median(ours):8.1f} docs/s (median; "
          f"{n / max(ours):.1f}-{n / min(ours):.1f})")
    print(f"  leafbench cache-miss path:      {n / statistics.median(store):8.1f} docs/s (embedding store, "
          f"{len(store)} trials)")
    median = statistics.median(ratios)
    verdict = "ok" if median >= 0.95 else "SLOWER than the goal"
    print(f"leafbench/raw speed = {median:.3f} (paired trials {min(ratios):.3f}-{max(ratios):.3f}); "
          f"goal >= 0.95: {verdict}")
    return 0 if median >= 0.95 else 1


if __name__ == "__main__":
    raise SystemExit(main())

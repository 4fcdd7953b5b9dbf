"""Benchmark: fp32 against bf16 autocast on this machine's CPU, and whether `dtype: auto` picks the faster.

`dtype: auto` picks bf16 where `leafbench.hardware.native_bf16` says the CPU has bf16 instructions. oneDNN accepts
bf16 on any AVX-512 CPU and emulates it where the instructions are missing, which is several times slower than fp32,
so this is the check to run on a CPU kind leafbench has not seen: it encodes the same queries (short titles) and
documents (article bodies) of the packaged BBC task in both dtypes, alternating trial by trial so a load change
hits both alike, and prints each rate, the bf16/fp32 ratio, the smallest cosine between the two embeddings, and
what `auto` chose. Exit status 1 when `auto` chose the slower dtype on every row.

    python benchmarks/dtype.py [--models sentence-transformers/all-mpnet-base-v2 ...] [--queries 192] [--docs 64]
                               [--max-seq-length 64] [--batch-size 32] [--trials 3]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import statistics
import time

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")


def main() -> int:
    import numpy as np
    import torch

    from leafbench.cpu import cpu_model
    from leafbench.datasets.packaged import load_packaged_task
    from leafbench.encoders import load_sentence_transformer
    from leafbench.hardware import resolve_dtype

    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+",
                        default=["sentence-transformers/all-mpnet-base-v2", "sentence-transformers/all-MiniLM-L6-v2"])
    parser.add_argument("--queries", type=int, default=192)
    parser.add_argument("--docs", type=int, default=64)
    parser.add_argument("--max-seq-length", type=int, default=64)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--trials", type=int, default=3)
    args = parser.parse_args()
    data = load_packaged_task("bbc-news-titles", max_docs=max(500, args.docs), max_queries=args.queries)
    sets = {"queries": [data.queries[q] for q in sorted(data.queries)][:args.queries],
            "docs": data.doc_texts(sorted(data.corpus))[:args.docs]}
    auto = resolve_dtype("auto", "cpu")
    print(f"{cpu_model()}, {torch.get_num_threads()} threads, torch {torch.__version__}, "
          f"kernels {torch.backends.cpu.get_cpu_capability()}: dtype auto -> {auto}")
    auto_faster = []
    for model_id in args.models:
        model = load_sentence_transformer(model_id, "cpu")
        model.max_seq_length = args.max_seq_length

        def encode(texts: list[str], dtype: str) -> tuple[float, np.ndarray]:
            autocast = (torch.autocast("cpu", dtype=torch.bfloat16) if dtype == "bf16"
                        else contextlib.nullcontext())
            start = time.perf_counter()
            with autocast, torch.inference_mode():
                out = model.encode(texts, batch_size=args.batch_size, convert_to_numpy=True)
            return time.perf_counter() - start, out

        for dtype in ("fp32", "bf16"):  # untimed: first-call kernel selection
            encode(sets["queries"][:args.batch_size], dtype)
        for role, texts in sets.items():
            rates: dict[str, list[float]] = {"fp32": [], "bf16": []}
            embedded: dict[str, np.ndarray] = {}
            for trial in range(args.trials):
                for dtype in ("fp32", "bf16") if trial % 2 == 0 else ("bf16", "fp32"):
                    seconds, embedded[dtype] = encode(texts, dtype)
                    rates[dtype].append(len(texts) / seconds)
            a, b = embedded["fp32"], embedded["bf16"]
            cosine = float(((a * b).sum(1) / np.linalg.norm(a, axis=1) / np.linalg.norm(b, axis=1)).min())
            fp32, bf16 = statistics.median(rates["fp32"]), statistics.median(rates["bf16"])
            auto_faster.append((bf16 > fp32) == (auto == "bf16"))
            print(f"{model_id.split('/')[-1]:>20} {role:>7}: fp32 {fp32:7.1f}/s  bf16 {bf16:7.1f}/s  "
                  f"bf16/fp32 {bf16 / fp32:4.2f}x  min cosine {cosine:.5f}", flush=True)
    print(f"auto ({auto}) is the faster dtype on {sum(auto_faster)} of {len(auto_faster)} rows")
    return 0 if any(auto_faster) else 1


if __name__ == "__main__":
    raise SystemExit(main())

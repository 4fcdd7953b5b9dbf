"""Benchmark: opening a large embedding store and reading it chunk by chunk, vs what leafbench 0.1 did at start-up.

Writes N random rows (768-d float32, `--shard-rows` per shard) into a temporary store, then, in fresh store objects:
- open: the start-up check and key index (`refresh`: sizes, headers, first/last blocks, keys) vs a full sha256 of
  every shard (what every process start did before; `leafbench cache verify` still does it on request);
- view: looking up N texts (hashing them included) and walking the RowView in chunks, with the growth of the
  process's anonymous memory (RssAnon, sampled while each chunk is alive; memory-mapped shard pages are not in it).

    python benchmarks/store.py [--rows 1000000] [--dim 768] [--shard-rows 8192] [--chunk 65536]
"""

from __future__ import annotations

import argparse
import hashlib
import tempfile
import time
from pathlib import Path

import numpy as np

from leafbench.store import EmbeddingStore


def rss_anon_mib() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rows", type=int, default=1_000_000)
    ap.add_argument("--dim", type=int, default=768)
    ap.add_argument("--shard-rows", type=int, default=8192)
    ap.add_argument("--chunk", type=int, default=65536)
    args = ap.parse_args()
    ns = {"fingerprint": "bench", "role": "document", "prompt": "", "max_seq_length": 256, "dtype": "fp32"}
    texts = [f"doc {i}" for i in range(args.rows)]
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory(dir=".") as tmp:
        root = Path(tmp)
        start = time.perf_counter()
        writer = EmbeddingStore(root)
        for lo in range(0, args.rows, args.shard_rows):
            part = texts[lo:lo + args.shard_rows]
            writer.put(ns, part, rng.standard_normal((len(part), args.dim), dtype=np.float32))
        wrote = time.perf_counter() - start
        gib = args.rows * args.dim * 4 / 2**30
        print(f"wrote {args.rows:,} x {args.dim} ({gib:.2f} GiB, {len(list(root.rglob('*.manifest.json')))} shards) "
              f"in {wrote:.1f} s")

        start = time.perf_counter()
        store = EmbeddingStore(root)
        store.refresh(ns)
        opened = time.perf_counter() - start
        start = time.perf_counter()
        for path in sorted(root.rglob("*.npy")):
            h = hashlib.sha256()
            with open(path, "rb") as f:
                for block in iter(lambda: f.read(1 << 22), b""):
                    h.update(block)
        hashed = time.perf_counter() - start
        print(f"open (cheap check + key index): {opened:.2f} s; full sha256 of every shard: {hashed:.2f} s "
              f"({hashed / opened:.0f}x)")

        order = rng.permutation(args.rows)
        asked = [texts[i] for i in order]
        base = rss_anon_mib()
        start = time.perf_counter()
        view = store.view(ns, asked)
        looked = time.perf_counter() - start
        start, peak, total = time.perf_counter(), base, 0.0
        for lo in range(0, len(view), args.chunk):
            chunk = view[lo:lo + args.chunk]
            peak = max(peak, rss_anon_mib())
            total += float(chunk[:, 0].sum())
        walked = time.perf_counter() - start
        print(f"view of {args.rows:,} texts in random order: lookup {looked:.2f} s, walk in chunks of {args.chunk:,}: "
              f"{walked:.2f} s ({gib / walked:.2f} GiB/s); anonymous memory +{peak - base:.0f} MiB over the walk "
              f"(the whole matrix: {gib * 1024:.0f} MiB)")


if __name__ == "__main__":
    main()

"""Search at scale, side by side in one run: leafbench's exact scans (float32, int8, binary) and FAISS flat / HNSW /
IVF / binary flat, batch-1 latency and a batch of queries.

    nice -n 10 python benchmarks/scale.py [--sizes 100k 300k 1M 3M] [--queries 1000] [--out results/bench/scale.json]

Synthetic clustered 768-d embeddings (2,000 cluster centres + a shared 32-d latent + small isotropic noise,
L2-normalised: a low intrinsic dimension like real embeddings) are written once as memory-mapped .npy shards (the
smaller sizes are prefixes of the larger), read through a row source, never loaded whole. Each (size, backend) runs
in a fresh subprocess that reports: the median time of one query searched alone (--single queries, k=10, after one
untimed search: what a user's request pays), the time to search the batch of --queries queries at once, index build
time (for the quantized exact scans: packing the codes), the process's own peak anonymous memory (RssAnon sampled
from /proc/self/status every 20 ms: the memory-mapped embeddings and memory-mapped code stores are file pages and
do not count), and recall@10 against the exact scan of the same precision. Then a growth exponent of batch search
time vs N is fitted per backend (slope of log time vs log N). FAISS float backends hold the vectors in memory, so
they are skipped above --faiss-max-gib. Results go to --out as JSON (written after every measurement) and a Markdown
table; speed-ups are against the float32 exact scan of the same size in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np

DIM = 768
SHARD = 1 << 17  # rows per shard; the scan's chunk divides it, so a chunk is a zero-copy memmap view
CHUNK = 32768
CLUSTERS, LATENT = 2000, 32
QUERY_CHUNK = 256  # score block 256 x 32768: the scan's own memory, whatever N
HNSW_SWEEP = (64, 128, 256, 512, 1024)  # efSearch values also measured on the built HNSW index
BACKENDS = ("exact", "int8-scan", "binary-scan", "faiss-flat", "hnsw", "ivf", "faiss-binary-flat")
REFERENCE = {"exact": "exact", "faiss-flat": "exact", "hnsw": "exact", "ivf": "exact", "int8-scan": "int8-scan",
             "binary-scan": "binary-scan", "faiss-binary-flat": "binary-scan"}
SCANS = {"exact": "float32", "int8-scan": "int8", "binary-scan": "binary"}  # leafbench's exact scans
FLOAT_FAISS = ("faiss-flat", "hnsw", "ivf")
HNSW = {"backend": "hnsw", "hnsw_m": 32, "ef_construction": 64, "ef_search": 128}
IVF = {"backend": "ivf", "nlist": 1024, "nprobe": 32}


def parse_size(text: str) -> int:
    scale = {"k": 1_000, "m": 1_000_000}.get(text[-1].lower(), 1)
    return int(float(text[:-1] if scale > 1 else text) * scale)


# --------------------------------------------------------------------------------------------- the data


def _generator(seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = rng.standard_normal((CLUSTERS, DIM)).astype(np.float32) / np.sqrt(DIM)
    basis = rng.standard_normal((LATENT, DIM)).astype(np.float32) / np.sqrt(DIM)
    return centres, basis


def synthetic(n: int, stream: int, seed: int = 0) -> np.ndarray:
    """n clustered, L2-normalised rows of random stream `stream` (deterministic)."""
    centres, basis = _generator(seed)
    rng = np.random.default_rng([seed, stream])
    x = centres[rng.integers(0, CLUSTERS, n)]
    x += 0.6 / np.sqrt(LATENT) * (rng.standard_normal((n, LATENT), dtype=np.float32) @ basis)
    x += 0.1 * rng.standard_normal((n, DIM), dtype=np.float32) / np.sqrt(DIM)
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    return x.astype(np.float32, copy=False)  # the centres are float64: so were the rows, until this cast


def _is_float32(path: Path) -> bool:
    """Whether a shard exists as float32 (earlier versions wrote float64 rows, which made the "float32" scan a
    float64 one reading twice the bytes: such shards are written again)."""
    return path.exists() and np.load(path, mmap_mode="r").dtype == np.float32


def ensure_data(folder: Path, n: int, n_queries: int) -> None:
    """Write the missing shards (and the queries) atomically; existing float32 ones are kept."""
    folder.mkdir(parents=True, exist_ok=True)
    for shard in range((n + SHARD - 1) // SHARD):
        path = folder / f"docs-{shard:05d}.npy"
        if not _is_float32(path):
            tmp = path.with_suffix(f".{os.getpid()}.tmp.npy")
            np.save(tmp, synthetic(SHARD, stream=1 + shard))
            os.replace(tmp, path)
    qpath = folder / f"queries-{n_queries}.npy"
    if not _is_float32(qpath):
        np.save(qpath, synthetic(n_queries, stream=0))


class ShardedRows:
    """The first n rows of the memory-mapped shards as a row source (slices within a shard are views)."""

    def __init__(self, folder: Path, n: int):
        self.shards = [np.load(folder / f"docs-{i:05d}.npy", mmap_mode="r") for i in range((n + SHARD - 1) // SHARD)]
        self.n, self.dtype = n, np.dtype(np.float32)
        self.fingerprint = f"scale-bench:{n}"

    @property
    def shape(self) -> tuple[int, int]:
        return (self.n, DIM)

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, key: Any) -> np.ndarray:
        if isinstance(key, slice):
            start, stop, _ = key.indices(self.n)
            parts = [self.shards[s][max(start - s * SHARD, 0):min(stop - s * SHARD, SHARD)]
                     for s in range(start // SHARD, (stop - 1) // SHARD + 1)] if stop > start else []
            return parts[0] if len(parts) == 1 else np.concatenate(parts) if parts else np.empty((0, DIM), np.float32)
        idx = np.asarray(key, dtype=np.int64)
        out = np.empty((len(idx), DIM), np.float32)
        for s in np.unique(idx // SHARD):
            sel = idx // SHARD == s
            out[sel] = self.shards[s][idx[sel] - s * SHARD]
        return out


# --------------------------------------------------------------------------------------------- one measurement


class AnonPeak:
    """Peak RssAnon of this process, sampled every 20 ms (file-backed memmap pages are not anonymous memory)."""

    def __init__(self) -> None:
        self.peak, self._stop = 0, threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    @staticmethod
    def now() -> int:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("RssAnon:"):
                return int(line.split()[1]) * 1024
        return 0

    def _run(self) -> None:
        while not self._stop.is_set():
            self.peak = max(self.peak, self.now())
            time.sleep(0.02)

    def __enter__(self) -> "AnonPeak":
        self.baseline = self.now()
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, self.now())


def worker(folder: Path, n: int, backend: str, n_queries: int, n_single: int) -> dict[str, Any]:
    from leafbench.precisions import get
    from leafbench.search import SearchSpec, build_index
    from leafbench.search.exact import ExactScan

    queries = np.load(folder / f"queries-{n_queries}.npy")
    rows = ShardedRows(folder, n)
    with AnonPeak() as mem:
        t0 = time.perf_counter()
        if backend in SCANS:
            index: Any = ExactScan(rows, get(SCANS[backend]), QUERY_CHUNK, CHUNK)
        else:
            spec = {"faiss-flat": {"backend": "flat"}, "hnsw": HNSW, "ivf": IVF,
                    "faiss-binary-flat": {"backend": "flat"}}[backend]
            index = build_index(rows, "binary" if "binary" in backend else "float32", SearchSpec(**spec),
                                doc_chunk=CHUNK, docs_key=rows.fingerprint)
        build_s = time.perf_counter() - t0
        index.search(queries[:1], 10)  # untimed: first touch of the pages
        single = []
        for q in queries[1:1 + n_single]:
            t1 = time.perf_counter()
            index.search(q[None, :], 10)
            single.append(time.perf_counter() - t1)
        t1 = time.perf_counter()
        _, idx = index.search(queries, 10)
        search_s = time.perf_counter() - t1
    out = folder / "results" / f"{backend}-{n}.npy"
    np.save(out.with_suffix(f".{os.getpid()}.tmp.npy"), idx)
    os.replace(out.with_suffix(f".{os.getpid()}.tmp.npy"), out)
    ref_path = folder / "results" / f"{REFERENCE[backend]}-{n}.npy"
    ref = np.load(ref_path) if ref_path.exists() else None

    def recall_of(found: np.ndarray) -> float | None:
        return None if ref is None else float(np.mean([len(np.intersect1d(a, b)) / 10 for a, b in zip(found, ref)]))

    sweep = []
    if backend == "hnsw":
        for ef in HNSW_SWEEP:
            index.spec = SearchSpec(**{**HNSW, "ef_search": ef})
            t = time.perf_counter()
            _, found = index.search(queries, 10)
            sweep.append({"ef_search": ef, "search_s": round(time.perf_counter() - t, 3),
                          "recall_at_10": recall_of(found)})
    recall = recall_of(idx)
    return {"sweep": sweep, "n": n, "backend": backend, **({"hnsw": HNSW} if backend == "hnsw" else {}),
            "queries": n_queries, "search_s": round(search_s, 3),
            "single_ms": round(1000 * float(np.median(single)), 3), "single_queries": len(single),
            "build_s": round(build_s, 3), "index_loaded": bool(getattr(index, "stats", {}).get("index_loaded")),
            "peak_anon_gib": round(mem.peak / 2**30, 3), "baseline_anon_gib": round(mem.baseline / 2**30, 3),
            "recall_at_10": recall, "equal_to_reference": bool(ref is not None and np.array_equal(idx, ref))}


# --------------------------------------------------------------------------------------------- the driver


def growth_exponents(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Slope of log(search time) vs log(N) per backend (1.0 = linear)."""
    out = {}
    for backend in BACKENDS:
        pts = [(r["n"], r["search_s"]) for r in rows if r["backend"] == backend and r.get("search_s")]
        if len({n for n, _ in pts}) >= 2:
            out[backend] = round(float(np.polyfit(np.log([n for n, _ in pts]), np.log([t for _, t in pts]), 1)[0]), 3)
    return out


def table(result: dict[str, Any]) -> str:
    nq = result["queries"]
    lines = [f"| N | backend | 1 query (ms, median) | search {nq:,} q (s) | build (s) | peak anon (GiB) | "
             f"recall@10 vs exact | 1 q speed-up vs float32 | {nq:,} q speed-up vs float32 |",
             "|---:|---|---:|---:|---:|---:|---:|---:|---:|"]
    by = {(r["n"], r["backend"]): r for r in result["rows"]}

    def speed(r: dict[str, Any], key: str) -> str:
        base = by.get((r["n"], "exact"), {}).get(key)
        return f"{base / r[key]:.1f}x" if base and r.get(key) else "–"

    for r in result["rows"]:
        recall = "–" if r["recall_at_10"] is None else f"{r['recall_at_10']:.4f}"
        single = f"{r['single_ms']:.1f}" if r.get("single_ms") is not None else "–"
        lines.append(f"| {r['n']:,} | {r['backend']} | {single} | {r['search_s']:.2f} | {r['build_s']:.1f} | "
                     f"{r['peak_anon_gib']:.2f} | {recall} | {speed(r, 'single_ms')} | {speed(r, 'search_s')} |")
    exps = ", ".join(f"{b} {e}" for b, e in result["growth_exponent"].items())
    return "\n".join(lines) + f"\n\nGrowth exponent of batch search time vs N: {exps}"


def _record(path: Path, result: dict[str, Any], row: dict[str, Any]) -> dict[str, Any]:
    """Merge one measurement into the JSON file (under a lock, so two runs with different backends can share it)."""
    import fcntl

    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path.with_suffix(".lock"), "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        rows = json.loads(path.read_text())["rows"] if path.exists() else []
        merged = {(r["n"], r["backend"]): r for r in rows}
        merged[(row["n"], row["backend"])] = row
        result = {**result, "rows": sorted(merged.values(), key=lambda r: (r["n"], list(BACKENDS).index(r["backend"])))}
        result["growth_exponent"] = growth_exponents(result["rows"])
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        tmp.write_text(json.dumps(result, indent=2))
        os.replace(tmp, path)
    return result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", nargs="+", default=["100k", "300k", "1M", "3M"])
    ap.add_argument("--backends", nargs="+", default=list(BACKENDS), choices=BACKENDS)
    ap.add_argument("--queries", type=int, default=1000, help="the batch searched at once")
    ap.add_argument("--single", type=int, default=20, help="queries searched one at a time (median reported)")
    ap.add_argument("--threads", type=int, default=None,
                    help="BLAS / OpenMP / torch threads per worker (default: the libraries' own); 1 on a shared box, "
                         "where multi-threaded BLAS waits on descheduled threads")
    ap.add_argument("--data", type=Path, default=None, help="shard folder (default <leafbench cache>/bench/scale)")
    ap.add_argument("--out", type=Path, default=Path("results/bench/scale.json"))
    ap.add_argument("--faiss-max-gib", type=float, default=4.0, help="skip FAISS float indexes larger than this")
    ap.add_argument("--hnsw-m", type=int, default=HNSW["hnsw_m"], help="HNSW graph degree")
    ap.add_argument("--hnsw-efc", type=int, default=HNSW["ef_construction"], help="HNSW efConstruction")
    ap.add_argument("--prepare-only", action="store_true", help="write the shards and queries, measure nothing")
    ap.add_argument("--table", action="store_true", help="print the Markdown table of --out and exit")
    ap.add_argument("--worker", nargs=2, metavar=("N", "BACKEND"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    from leafbench.assets import cache_dir
    from leafbench.cpu import cpu_model

    if args.table:
        print(table(json.loads(args.out.read_text())))
        return
    folder = args.data or cache_dir() / "bench" / "scale"
    HNSW.update(hnsw_m=args.hnsw_m, ef_construction=args.hnsw_efc)
    if args.worker:
        print(json.dumps(worker(folder, int(args.worker[0]), args.worker[1], args.queries, args.single)))
        return
    sizes = sorted(parse_size(s) for s in args.sizes)
    ensure_data(folder, sizes[-1], args.queries)
    if args.prepare_only:
        return
    (folder / "results").mkdir(exist_ok=True)
    cpu = cpu_model()
    commit = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True,
                            cwd=Path(__file__).parent).stdout.strip() or None
    result: dict[str, Any] = {"dim": DIM, "queries": args.queries, "k": 10, "cpu": cpu, "cores": os.cpu_count(),
                              "commit": commit, "threads": args.threads,
                              "hnsw": HNSW, "ivf": IVF, "rows": [], "growth_exponent": {}}
    order = sorted(args.backends, key=lambda b: REFERENCE[b] != b)
    for n in sizes:
        for backend in order:  # references first, so the others can report recall against them
            if backend in FLOAT_FAISS and n * DIM * 4 / 2**30 > args.faiss_max_gib:
                print(f"skip {backend} at N={n:,}: its index would exceed --faiss-max-gib", flush=True)
                continue
            env = {**os.environ, "LEAFBENCH_CACHE": str(folder / "cache"), "PYTHONPATH": str(Path(__file__).parents[1])}
            if args.threads:
                env.update({v: str(args.threads) for v in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS",
                                                           "MKL_NUM_THREADS")})
            load = os.getloadavg()[0]
            proc = subprocess.run([sys.executable, __file__, "--worker", str(n), backend, "--queries",
                                   str(args.queries), "--single", str(args.single), "--data", str(folder),
                                   "--hnsw-m", str(args.hnsw_m), "--hnsw-efc", str(args.hnsw_efc)], capture_output=True, text=True, env=env)
            if proc.returncode:
                print(f"{backend} at N={n:,} failed:\n{proc.stderr[-2000:]}", flush=True)
                continue
            row = {**json.loads(proc.stdout.strip().splitlines()[-1]), "load_avg_before": round(load, 1),
                   "load_avg_after": round(os.getloadavg()[0], 1)}
            result = _record(args.out, result, row)
            print(json.dumps(row), flush=True)
    print(table(result))


if __name__ == "__main__":
    main()

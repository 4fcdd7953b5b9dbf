"""Timing: the units a model is measured on (warm-up, then timed trials), their ABBA interleaving across the models
of one setup, and the record figures (Spreads over trials, latency percentiles) built from the seconds they took.

Each figure goes through `Encoder.encode`, the path `leafbench run` encodes with (role prompt, autocast, length
sorting, tokenization included); the embedding store is bypassed, because a cache hit is not a measurement.
"""

from __future__ import annotations

import contextlib
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch

from leafbench.distill.model import capped, token_cap
from leafbench.encoders import Encoder
from leafbench.roles import Role
from leafbench.cpu import load_average
from leafbench.hardware import device_info, matmul_peak
from leafbench.progress import progress_bar
from leafbench.st_compat import is_static
from leafbench.stage_specs import ThroughputSpec
from leafbench.throughput.flops import FlopModel
from leafbench.throughput.record import SCHEMA
from leafbench.throughput.sampling import TextSample, padded_tokens, synthetic_texts, token_counts


LATENCY_TRIAL_S = 0.01  # a batch-1 latency trial times at least this long (consecutive calls, averaged)
LATENCY_MAX_CALLS = 200


def spread(values: list[float], digits: int = 4) -> dict[str, Any]:
    """Median and spread (min, max, quartiles, IQR) of per-trial figures, with the trials themselves."""
    arr = np.asarray(values, dtype=np.float64)
    q1, med, q3 = np.percentile(arr, [25, 50, 75])
    r = lambda x: round(float(x), digits)  # noqa: E731
    return {"median": r(med), "min": r(arr.min()), "max": r(arr.max()), "q1": r(q1), "q3": r(q3),
            "iqr": r(r(q3) - r(q1)), "trials": [r(v) for v in arr]}


@dataclass(frozen=True)
class Setup:
    backend: str
    dtype: str
    device: str

    @property
    def label(self) -> str:
        return f"{self.backend}-{self.dtype}-{self.device.replace(':', '')}"


@dataclass
class Unit:
    """One timed measurement of one model: an untimed warm-up, then `trials` calls each returning seconds."""

    trials: int
    warmup: Callable[[], None]
    trial: Callable[[int], float]


def _timed(fn: Callable[[], Any]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


class ModelRun:
    """One model on one setup: the units it is timed on, the seconds they took, and the record built from them."""

    def __init__(self, enc: Encoder, flops: FlopModel | None, positions: int | None, sample: TextSample,
                 tp: ThroughputSpec, setup: Setup, batch_sizes: list[int], parameters: dict[str, int]):
        self.enc, self.flops, self.positions, self.sample = enc, flops, positions, sample
        self.tp, self.setup, self.batch_sizes, self.parameters = tp, setup, batch_sizes, parameters
        self.calls_per_trial = 1  # batch-1 latency: calls timed together per trial (set by the warm-up)
        self.texts: dict[Role, list[str]] = {"document": sample.docs, "query": sample.queries}
        self.counts = {role: token_counts(enc, texts, role) for role, texts in self.texts.items()}
        self.seconds: dict[tuple[Any, ...], list[float]] = {}
        self.units = self._plan()

    @contextlib.contextmanager
    def _settings(self, batch_size: int, max_seq_length: int | None = None) -> Iterator[None]:
        """This setup's dtype and a batch size (and a max_seq_length) for one call; the suite's are restored."""
        spec = self.enc.spec
        self.enc.spec = spec.model_copy(update={"dtype": self.setup.dtype, "batch_size": batch_size})
        try:
            with capped(self.enc.model, max_seq_length):
                yield
        finally:
            self.enc.spec = spec

    def _encode(self, texts: list[str], role: Role, batch_size: int, max_seq_length: int | None = None) -> None:
        with self._settings(batch_size, max_seq_length):
            self.enc.encode(texts, role)

    def _batch_unit(self, texts: list[str], role: Role, batch_size: int, max_seq_length: int | None = None) -> Unit:
        """Full passes over `texts`, after a warm-up pass over the first `warmup` batches."""
        warm = texts[:self.tp.warmup * batch_size]

        def warmup() -> None:
            if warm:
                self._encode(warm, role, batch_size, max_seq_length)

        def trial(_: int) -> float:
            return _timed(lambda: self._encode(texts, role, batch_size, max_seq_length))

        return Unit(self.tp.trials, warmup, trial)

    def _latency_unit(self, queries: list[str]) -> Unit:
        """One query per call, cycling through the sample. A trial is one call, or for a model whose call takes
        well under LATENCY_TRIAL_S (a static model: ~0.3 ms) the mean of as many consecutive calls as fill it, so
        timer and scheduler noise do not dominate; the tokenizer runs inside every call."""

        def call(q: str) -> None:
            self.enc.encode([q], "query")

        def warmup() -> None:
            with self._settings(1):
                seconds = [_timed(lambda q=q: call(q)) for q in queries[:max(3, self.tp.warmup)]]
            self.calls_per_trial = max(1, min(LATENCY_MAX_CALLS, int(LATENCY_TRIAL_S / max(min(seconds), 1e-9))))

        def trial(i: int) -> float:
            n = self.calls_per_trial
            batch = [queries[(i * n + j) % len(queries)] for j in range(n)]
            with self._settings(1):  # set once per trial: applying the setup is not part of a query's cost
                return _timed(lambda: [call(q) for q in batch]) / n

        return Unit(self.tp.latency_queries, warmup, trial)

    def _plan(self) -> dict[tuple[Any, ...], Unit]:
        units: dict[tuple[Any, ...], Unit] = {}
        if self.sample.docs:
            for role, texts in self.texts.items():
                for b in self.batch_sizes:
                    units[(role, b)] = self._batch_unit(texts, role, b)
        if self.tp.latency_queries and self.sample.queries:
            units[("latency",)] = self._latency_unit(self.sample.queries)
        for n in self.tp.synthetic_lengths:  # exactly n tokens: max_seq_length n on texts longer than n
            if self.positions is None or n <= self.positions:
                texts = synthetic_texts(self.enc, self.tp.synthetic_texts, n, self.tp.seed)
                if is_static(self.enc.model):  # no truncation: exactly n whole-word tokens
                    texts = [" ".join(t.split()[:n]) for t in texts]
                units[("synthetic", n)] = self._batch_unit(texts, "document", self.batch_sizes[0], n)
        return units

    def _rates(self, key: tuple[Any, ...], texts: int, tokens: float, flops: float | None,
               peak: float) -> dict[str, Any]:
        seconds = self.seconds[key]
        return {"texts_per_s": spread([texts / s for s in seconds], 3),
                "tokens_per_s": spread([tokens / s for s in seconds], 1),
                "peak_fraction": spread([flops / s / peak for s in seconds]) if flops else None}

    def _role(self, role: Role, peak: float) -> dict[str, Any] | None:
        texts, counts = self.texts[role], self.counts[role]
        if not texts:
            return None
        flops = float(self.flops.per_text(counts).sum()) if self.flops else None
        return {"texts": len(texts), "sources": self.sample.sources, "tokens_mean": round(float(counts.mean()), 2),
                "tokens_max": int(counts.max()),
                "padding_ratio": round(padded_tokens(texts, counts, self.batch_sizes[0]) / int(counts.sum()), 4),
                "flops_per_text": round(flops / len(texts)) if flops else None,
                "by_batch_size": {str(b): self._rates((role, b), len(texts), float(counts.sum()), flops, peak)
                                  for b in self.batch_sizes}}

    def _latency(self) -> dict[str, Any] | None:
        if ("latency",) not in self.seconds:
            return None
        ms = np.asarray(self.seconds[("latency",)]) * 1000
        p50, p95, p99 = np.percentile(ms, [50, 95, 99])
        r = lambda x: round(float(x), 3)  # noqa: E731
        return {"p50": r(p50), "p95": r(p95), "p99": r(p99), "mean": r(ms.mean()), "min": r(ms.min()),
                "max": r(ms.max()), "n": len(ms), "batch_size": 1, "calls_per_trial": self.calls_per_trial}

    def _synthetic(self, peak: float) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for n in self.tp.synthetic_lengths:
            if ("synthetic", n) not in self.seconds:
                out.append({"tokens": n, "skipped": f"longer than the model's {self.positions} positions"})
                continue
            texts = self.tp.synthetic_texts
            per_text = float(self.flops.per_text(n)) if self.flops else None
            out.append({"tokens": n, "batch_size": self.batch_sizes[0], "texts": texts,
                        "flops_per_text": round(per_text) if per_text else None,
                        **self._rates(("synthetic", n), texts, float(texts * n), texts * per_text if per_text
                                      else None, peak)})
        return out

    def record(self, peak_info: dict[str, Any], info: dict[str, Any]) -> dict[str, Any]:
        peak = peak_info["gflops"] * 1e9
        documents, queries = self._role("document", peak), self._role("query", peak)
        head = str(self.batch_sizes[0])

        def headline(section: dict[str, Any] | None, key: str) -> dict[str, Any] | None:
            return section["by_batch_size"][head][key] if section else None

        enc = self.enc
        return {
            "schema": SCHEMA,
            "model": {"name": enc.name, "id": enc.spec.id, "fingerprint": enc.fingerprint,
                      "max_seq_length": token_cap(enc.model), "query_prompt": enc.prompt("query"),
                      "document_prompt": enc.prompt("document")},
            **self.parameters, "embedding_dim": enc.dim,
            "backend": self.setup.backend, "dtype": self.setup.dtype, "device": self.setup.device,
            "device_name": info["device_name"], "device_info": info,
            "batch_size": self.batch_sizes[0], "batch_sizes": self.batch_sizes,
            "docs_per_s": headline(documents, "texts_per_s"), "queries_per_s": headline(queries, "texts_per_s"),
            "doc_tokens_per_s": headline(documents, "tokens_per_s"),
            "query_tokens_per_s": headline(queries, "tokens_per_s"),
            "latency_ms": self._latency(), "documents": documents, "queries": queries,
            "synthetic": self._synthetic(peak), "flops": self.flops.describe() if self.flops else None,
            "matmul_peak": peak_info,
        }


def interleave(runs: list[ModelRun], advance: Callable[[int], None]) -> None:
    """Time every unit of every run, alternating the models trial by trial (ABBA order).

    On a shared machine the load drifts within minutes; alternating puts teacher and student trials side by side, so
    each pair saw the same load and their ratio is far steadier than two separately measured medians.
    """
    keys = list(dict.fromkeys(key for run in runs for key in run.units))
    for key in keys:
        part = [run for run in runs if key in run.units]
        for run in part:
            run.units[key].warmup()
        for t in range(part[0].units[key].trials):
            for run in part if t % 2 == 0 else part[::-1]:
                run.seconds.setdefault(key, []).append(run.units[key].trial(t))
        advance(1)


@contextlib.contextmanager
def torch_threads(n: int | None) -> Iterator[None]:
    """Measure with `n` intra-op threads (None: leave torch's setting), restored afterwards."""
    previous = torch.get_num_threads()
    if n is not None:
        torch.set_num_threads(n)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def measure_setup(runs: list[ModelRun], setup: Setup) -> list[dict[str, Any]]:
    """Records for every model of one setup, measured interleaved; all share a run_id (pairs ratios trial by trial)."""
    with torch_threads(runs[0].tp.threads):
        peaks = [matmul_peak(setup.device, setup.dtype)]
        steps = len({key for run in runs for key in run.units})
        before = load_average()
        names = " ".join(run.enc.name for run in runs)
        with progress_bar(f"throughput {names} {setup.label}", steps, unit="steps") as advance:
            interleave(runs, advance)
        peaks.append(matmul_peak(setup.device, setup.dtype))
        info = device_info(setup.device)
    # the better of a peak measured before and one after the models: a busy moment understates either
    peak_info = {**max(peaks, key=lambda p: p["gflops"]), "gflops_before": peaks[0]["gflops"],
                 "gflops_after": peaks[1]["gflops"]}
    if setup.backend == "onnx":  # ONNX Runtime gets the same intra-op thread count as torch (see onnx_encoder)
        info["onnxruntime_threads"] = info["torch_threads"]
    run_id = uuid.uuid4().hex[:12]
    load = {"before": before, "after": load_average()}
    return [{**run.record(peak_info, info), "load_average": load, "run_id": run_id,
             "interleaved_with": [other.enc.name for other in runs if other is not run]} for run in runs]



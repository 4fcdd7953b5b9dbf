"""Throughput: documents/s, queries/s, tokens/s and batch-1 query latency per model, and student/teacher ratios.

The LEAF paper's headline is a speed-up (leaf-ir: 4.7x fewer parameters, documents 6.5x and queries 7.3x faster on a
2-vCPU CPU), so leafbench measures speed the way a user pays for it: through `Encoder.encode`, the path `leafbench
run` encodes with (role prompt, autocast, length sorting, tokenization included), on real texts sampled from the
suite's tasks, and on synthetic inputs of exactly 32/128/256/512 tokens. Each figure is a warm-up, then `trials`
timed passes over the same texts; records keep every trial and summarise it as a Spread. The embedding store is
bypassed: a cache hit is not a measurement.

Records (schema `leafbench.throughput/1`), one JSON per model and setup, written atomically to
`<results_dir>/throughput/<model>-<backend>-<dtype>-<device>.json`:
  schema, suite, created, measure_hash (a re-run reuses a record whose hash is unchanged), environment, settings
  model            {name, id, fingerprint, max_seq_length, query_prompt, document_prompt}
  n_parameters, embedding_dim
  backend          "torch" | "onnx" (sentence-transformers backend="onnx": ONNX Runtime, fp32, the same number of
                   intra-op threads as torch, recorded as device_info.onnxruntime_threads)
  dtype            "fp32" | "bf16" (torch autocast)
  device, device_name, device_info {device_name, cpu_model, cpu_count, torch_threads, torch_interop_threads,
                   torch_version, cuda_version, mkldnn[, gpu_memory_gb, cudnn_version]}
  load_average     {before, after}: 1/5/15-minute load; above the core count, figures are slow and noisy
  batch_size       the headline batch size (first of batch_sizes); batch_sizes: all measured
  docs_per_s, queries_per_s, doc_tokens_per_s, query_tokens_per_s: Spread at `batch_size`
  latency_ms       {p50, p95, p99, mean, min, max, n, batch_size: 1}: one query per encode call
  documents, queries  {texts, sources (task names), tokens_mean, tokens_max, padding_ratio (padded/real tokens
                   with length-sorted batches), flops_per_text, by_batch_size {"<b>": {texts_per_s, tokens_per_s,
                   peak_fraction}}}
  run_id, interleaved_with   the measurement run and the models timed alternately with this one
  synthetic        [{tokens, batch_size, texts, texts_per_s, tokens_per_s, flops_per_text, peak_fraction}
                    | {tokens, skipped}]
  flops            {formula, layers, hidden, intermediate} or null for an architecture it cannot estimate
  matmul_peak      {gflops, gflops_by_size, dtype, device, method, load_average, gflops_before, gflops_after}:
                   measured before and after the setup's timings, the better one kept (see leafbench.hardware);
                   a peak_fraction above 1 means the machine was busier while the peak was measured

`threads` (torch intra-op threads) matters on a shared machine: when other processes hold the cores, every
parallel region waits for its slowest thread, and a 2-thread encode of a short query can take 100x longer than a
1-thread one; the load average beside each record says whether that happened.

Spread = {median, min, max, q1, q3, iqr, trials}: over trials, each a full pass over the texts. tokens count real
(non-padding) tokens after the prompt and truncation; peak_fraction = estimated FLOPs of those tokens per second
over the measured matmul peak in the same dtype.

The models of one setup are measured together, alternating trial by trial (ABBA), so a teacher trial and a student
trial always ran side by side under the same machine load; such records share a `run_id` (and list each other in
`interleaved_with`), and their ratios are paired trial by trial.

`<results_dir>/throughput/ratios.json` (schema `leafbench.throughput-ratios/1`): {teacher, created, comparisons:
[{model, teacher, device, device_name, backend, dtype, batch_size, teacher_batch_size, params, docs_per_s,
queries_per_s, doc_tokens_per_s, latency_p50, latency_p95}]}. Every ratio reads "times better than the teacher":
params is teacher/model, the rates model/teacher, the latencies teacher/model. Rate ratios are {median, low, high,
paired}: median is the ratio of the medians; paired, low/high are the smallest and largest trial-by-trial ratio;
unpaired (records from different runs), low = model min / teacher max and high = model max / teacher min.
"""

from __future__ import annotations

import argparse
import contextlib
import copy
import os
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from rich.console import Group
from rich.markup import escape
from rich.table import Table

from leafbench.assets import cache_dir, resolve_model
from leafbench.config import Suite, ThroughputSpec, spec_hash
from leafbench.embed import EmbeddingService
from leafbench.encoders import Encoder, Role, resolve_device
from leafbench.hardware import cpu_model, device_info, load_average, matmul_peak, resolve_dtype
from leafbench.progress import progress_bar, stderr
from leafbench.results import environment, now, read_json, write_json_atomic

SCHEMA = "leafbench.throughput/1"
RATIOS_SCHEMA = "leafbench.throughput-ratios/1"
FLOPS_FORMULA = ("layers * (2*n*(4*h^2 + 2*h*i) + 4*n^2*h) for n tokens: Q/K/V/output projections and the two "
                 "feed-forward matmuls, plus attention scores and the weighted sum; embeddings, norms, softmax and "
                 "pooling are left out (under 1% at these sizes)")
_POSITION_OFFSET_MODELS = {"roberta", "xlm-roberta", "camembert", "mpnet", "longformer"}  # positions start past pad


# ------------------------------------------------------------------------------------------------ small pieces


def spread(values: list[float], digits: int = 4) -> dict[str, Any]:
    """Median and spread (min, max, quartiles, IQR) of per-trial figures, with the trials themselves."""
    arr = np.asarray(values, dtype=np.float64)
    q1, med, q3 = np.percentile(arr, [25, 50, 75])
    r = lambda x: round(float(x), digits)  # noqa: E731
    return {"median": r(med), "min": r(arr.min()), "max": r(arr.max()), "q1": r(q1), "q3": r(q3),
            "iqr": r(r(q3) - r(q1)), "trials": [r(v) for v in arr]}


@dataclass(frozen=True)
class FlopModel:
    """Forward FLOPs of a BERT-style encoder as a function of tokens (see FLOPS_FORMULA)."""

    layers: int
    hidden: int
    intermediate: int

    @classmethod
    def from_config(cls, config: Any) -> "FlopModel | None":
        try:
            return cls(int(config.num_hidden_layers), int(config.hidden_size), int(config.intermediate_size))
        except (AttributeError, TypeError, ValueError):
            return None

    def per_text(self, tokens: int | np.ndarray) -> np.ndarray:
        n = np.asarray(tokens, dtype=np.float64)
        h, i = self.hidden, self.intermediate
        return self.layers * (2 * n * (4 * h * h + 2 * h * i) + 4 * n * n * h)

    def describe(self) -> dict[str, Any]:
        return {"formula": FLOPS_FORMULA, "layers": self.layers, "hidden": self.hidden,
                "intermediate": self.intermediate}


def _hf_config(enc: Encoder) -> Any:
    auto_model = getattr(enc.model[0], "auto_model", None)
    return getattr(auto_model, "config", None)


def max_positions(config: Any) -> int | None:
    """Longest input the position embeddings allow (RoBERTa-style models spend pad_token_id + 1 slots)."""
    positions = getattr(config, "max_position_embeddings", None)
    if positions is None:
        return None
    if getattr(config, "model_type", "") in _POSITION_OFFSET_MODELS:
        positions -= int(getattr(config, "pad_token_id", 1) or 0) + 1
    return int(positions)


def token_counts(enc: Encoder, texts: list[str], role: Role) -> np.ndarray:
    """Real tokens per text as the model sees it: role prompt prepended, truncated at its max_seq_length."""
    prompt = enc.prompt(role) or None
    out = []
    for start in range(0, len(texts), 256):
        features = enc.model.preprocess(texts[start:start + 256], prompt=prompt)
        out.append(features["attention_mask"].sum(dim=1).cpu().numpy())
    return np.concatenate(out) if out else np.zeros(0, dtype=np.int64)


def padded_tokens(texts: list[str], counts: np.ndarray, batch_size: int) -> int:
    """Tokens actually computed when batches are formed by length (longest first, as the encoder does)."""
    order = np.argsort([-len(t) for t in texts], kind="stable")
    total = 0
    for start in range(0, len(order), batch_size):
        batch = counts[order[start:start + batch_size]]
        total += int(batch.max()) * len(batch)
    return total


def synthetic_texts(enc: Encoder, count: int, length: int, seed: int) -> list[str]:
    """`count` texts of random whole-word vocabulary entries, each longer than `length` tokens.

    Truncated at max_seq_length = `length`, every one is exactly `length` tokens, for any model's tokenizer.
    """
    vocab = enc.model.tokenizer.get_vocab()
    words = sorted({w.lstrip("\u2581\u0120") for w in vocab} - {""})
    words = [w for w in words if w.isascii() and w.isalpha() and len(w) >= 3] or sorted(vocab)
    rng = np.random.default_rng(seed + length)
    return [" ".join(rng.choice(words, size=length + 16)) for _ in range(count)]


@dataclass
class TextSample:
    """Real texts shared by every model of a run: the same documents and queries for teacher and student."""

    docs: list[str]
    queries: list[str]
    sources: list[str]


def sample_texts(suite: Suite, n_docs: int, n_queries: int, seed: int) -> TextSample:
    """A seeded sample of document and query texts pooled over the suite's tasks."""
    from leafbench.datasets.tasks import load_task

    docs: list[str] = []
    queries: list[str] = []
    for spec in suite.tasks:
        data = load_task(spec)
        docs.extend(data.doc_texts(sorted(data.corpus)))
        queries.extend(data.queries[q] for q in sorted(data.queries))
    rng = np.random.default_rng(seed)

    def pick(pool: list[str], n: int) -> list[str]:
        idx = rng.choice(len(pool), size=min(n, len(pool)), replace=False) if pool else []
        return [pool[i] for i in sorted(idx)]

    return TextSample(pick(docs, n_docs), pick(queries, n_queries), [t.task_name for t in suite.tasks])


# ------------------------------------------------------------------------------------------------ timing


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
                 tp: ThroughputSpec, setup: Setup, batch_sizes: list[int], n_parameters: int):
        self.enc, self.flops, self.positions, self.sample = enc, flops, positions, sample
        self.tp, self.setup, self.batch_sizes, self.n_parameters = tp, setup, batch_sizes, n_parameters
        self.texts: dict[Role, list[str]] = {"document": sample.docs, "query": sample.queries}
        self.counts = {role: token_counts(enc, texts, role) for role, texts in self.texts.items()}
        self.seconds: dict[tuple[Any, ...], list[float]] = {}
        self.units = self._plan()

    @contextlib.contextmanager
    def _settings(self, batch_size: int, max_seq_length: int | None = None) -> Iterator[None]:
        """This setup's dtype and a batch size (and a max_seq_length) for one call; the suite's are restored."""
        spec, configured = self.enc.spec, self.enc.model.max_seq_length
        self.enc.spec = spec.model_copy(update={"dtype": self.setup.dtype, "batch_size": batch_size})
        if max_seq_length is not None:
            self.enc.model.max_seq_length = max_seq_length
        try:
            yield
        finally:
            self.enc.spec, self.enc.model.max_seq_length = spec, configured

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
        """One query per call, cycling through the sample; each call is one trial."""

        def warmup() -> None:
            for q in queries[:max(1, self.tp.warmup)]:
                self._encode([q], "query", 1)

        def trial(i: int) -> float:
            return _timed(lambda: self._encode([queries[i % len(queries)]], "query", 1))

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
                "max": r(ms.max()), "n": len(ms), "batch_size": 1}

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
                      "max_seq_length": enc.model.max_seq_length, "query_prompt": enc.prompt("query"),
                      "document_prompt": enc.prompt("document")},
            "n_parameters": self.n_parameters, "embedding_dim": enc.dim,
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


def record_path(results_dir: Path, model: str, setup: Setup) -> Path:
    return results_dir / "throughput" / f"{model}-{setup.label}.json"


def _device_name(device: str) -> str:
    return torch.cuda.get_device_name(torch.device(device)) if device.startswith("cuda") else cpu_model()


def measure_hash(suite: Suite, tp: ThroughputSpec, model: str, setup: Setup, batch_sizes: list[int]) -> str:
    """Everything that determines a record except the clock: model settings, texts, protocol, setup, hardware."""
    settings = tp.model_dump(exclude={"models", "teacher", "batch_sizes", "backends", "dtypes", "devices"})
    return spec_hash({"schema": SCHEMA, "model": suite.models[model].model_dump(), "settings": settings,
                      "batch_sizes": batch_sizes, "tasks": [t.model_dump() for t in suite.tasks],
                      "setup": setup.label, "device_name": _device_name(setup.device)})


# ------------------------------------------------------------------------------------------------ backends


def onnx_unavailable() -> str | None:
    """Why sentence-transformers' ONNX backend cannot run here, or None when it can."""
    try:
        import onnxruntime  # noqa: F401
        from optimum.onnxruntime import ORTModelForFeatureExtraction  # noqa: F401
    except Exception as e:  # noqa: BLE001 - missing, or installed against an incompatible transformers
        reason = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
        return f"{reason} (needs the onnx extra: optimum-onnx and onnxruntime)"
    return None


def onnx_encoder(enc: Encoder, threads: int) -> Encoder:
    """The same model on ONNX Runtime with `threads` intra-op threads (as torch gets), its export cached per weight
    fingerprint in the cache directory."""
    import onnxruntime
    from sentence_transformers import SentenceTransformer

    target = cache_dir() / "onnx" / enc.fingerprint
    if not (target / "modules.json").exists():
        exported = SentenceTransformer(resolve_model(enc.spec.id), device="cpu", backend="onnx")
        staged = target.with_name(f".{target.name}.{uuid.uuid4().hex}")
        exported.save(str(staged))
        if not target.exists():
            os.replace(staged, target)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    onnx = copy.copy(enc)
    onnx.model = SentenceTransformer(str(target), device=enc.device, backend="onnx",
                                     model_kwargs={"session_options": options})
    onnx.model.max_seq_length = enc.model.max_seq_length
    return onnx


# ------------------------------------------------------------------------------------------------ the stage


@dataclass
class ThroughputOutcome:
    records: list[dict[str, Any]] = field(default_factory=list)
    ratios: dict[str, Any] | None = None
    skipped: list[str] = field(default_factory=list)
    measured: int = 0
    reused: int = 0


def _skip(outcome: ThroughputOutcome, line: str) -> None:
    outcome.skipped.append(line)
    stderr.log(f"throughput: {line}", markup=False)


def _devices(suite: Suite, tp: ThroughputSpec, outcome: ThroughputOutcome) -> list[str]:
    out = []
    for requested in tp.devices or [suite.device]:
        if requested.startswith("cuda") and not torch.cuda.is_available():
            _skip(outcome, f"device {requested} skipped: no CUDA device is visible")
            continue
        device = resolve_device(requested)
        if device not in out:
            out.append(device)
    return out


def _plan_setups(suite: Suite, tp: ThroughputSpec, outcome: ThroughputOutcome) -> dict[Setup, list[str]]:
    """Which models each (backend, dtype, device) measures; unavailable backends/devices become one-line skips."""
    onnx_reason = onnx_unavailable() if "onnx" in tp.backends else None
    if onnx_reason:
        _skip(outcome, f"backend onnx skipped: {onnx_reason}")
    names = tp.models or list(suite.models)
    for name in [n for n in names if suite.distill and n in suite.distill.output_names()]:
        if not Path(suite.models[name].id).exists():
            _skip(outcome, f"model {name} skipped: the distill stage has not produced it yet (leafbench distill)")
            names = [n for n in names if n != name]
    plans: dict[Setup, list[str]] = {}
    for device in _devices(suite, tp, outcome):
        for backend in tp.backends:
            if backend == "onnx" and onnx_reason:
                continue
            for name in names:
                for dtype in (resolve_dtype(d, device) for d in tp.dtypes or [suite.models[name].dtype]):
                    if backend == "onnx" and dtype != "fp32":
                        _skip(outcome, f"{name} onnx {dtype} skipped: the ONNX backend runs fp32 only")
                        continue
                    plans.setdefault(Setup(backend, dtype, device), []).append(name)
    return plans


def run_throughput(suite: Suite, force: bool = False, service: EmbeddingService | None = None) -> ThroughputOutcome:
    """Measure every (model, backend, dtype, device) of the suite's throughput section into its results folder.

    The models of one setup are measured together, interleaved. `service` lends `leafbench run`'s already loaded
    encoders (on its device); finished records whose measure_hash is unchanged are reused unless `force`.
    """
    tp = suite.throughput or ThroughputSpec()
    outcome = ThroughputOutcome()
    loaded: dict[tuple[str, str], Encoder] = {}

    def encoder(name: str, device: str) -> Encoder:
        if (name, device) not in loaded:
            shared = service is not None and resolve_device(service.device) == device
            loaded[(name, device)] = service.encoder(name) if shared else Encoder(name, suite.models[name], device)
        return loaded[(name, device)]

    sample: TextSample | None = None
    for setup, names in _plan_setups(suite, tp, outcome).items():
        todo: list[tuple[str, str, list[int]]] = []
        for name in names:
            batch_sizes = tp.batch_sizes or [suite.models[name].batch_size]
            mhash = measure_hash(suite, tp, name, setup, batch_sizes)
            rec = None if force else read_json(record_path(suite.results_dir, name, setup))
            if rec and rec.get("schema") == SCHEMA and rec.get("measure_hash") == mhash:
                outcome.records.append(rec)
                outcome.reused += 1
            else:
                todo.append((name, mhash, batch_sizes))
        if not todo:
            continue
        if sample is None:
            sample = sample_texts(suite, tp.docs, tp.queries, tp.seed)
            if not sample.docs:
                _skip(outcome, "no tasks in the suite: real-text docs/s, queries/s and latency skipped, "
                               "synthetic lengths only")
        runs = []
        for name, _, batch_sizes in todo:
            enc = encoder(name, setup.device)
            config = _hf_config(enc)
            runner = onnx_encoder(enc, tp.threads or torch.get_num_threads()) if setup.backend == "onnx" else enc
            runs.append(ModelRun(runner, FlopModel.from_config(config), max_positions(config), sample, tp, setup,
                                 batch_sizes, sum(p.numel() for p in enc.model.parameters())))
        for (name, mhash, _), rec in zip(todo, measure_setup(runs, setup)):
            rec.update({"suite": suite.name, "measure_hash": mhash, "created": now(), "settings": tp.model_dump(),
                        "environment": environment()})
            write_json_atomic(record_path(suite.results_dir, name, setup), rec)
            outcome.records.append(rec)
            outcome.measured += 1
    if outcome.records:
        outcome.ratios = ratios(outcome.records, tp.teacher)
        write_json_atomic(suite.results_dir / "throughput" / "ratios.json", outcome.ratios)
    return outcome


# ------------------------------------------------------------------------------------------------ ratios


def _rate_ratio(model: dict[str, Any] | None, teacher: dict[str, Any] | None, paired: bool) -> dict[str, Any] | None:
    """model/teacher for a rate Spread: the ratio of medians, and a range over the trials.

    Paired (both measured interleaved in one run): low/high are the extremes of the trial-by-trial ratios, each
    taken under the same load. Unpaired: low = model min / teacher max, high = model max / teacher min.
    """
    if not model or not teacher or not teacher["median"] or not teacher["min"]:
        return None
    if paired and len(model["trials"]) == len(teacher["trials"]):
        each = [m / t for m, t in zip(model["trials"], teacher["trials"])]
        low, high = min(each), max(each)
    else:
        paired, low, high = False, model["min"] / teacher["max"], model["max"] / teacher["min"]
    return {"median": round(model["median"] / teacher["median"], 3), "low": round(low, 3), "high": round(high, 3),
            "paired": paired}


def _latency_ratio(model: dict[str, Any] | None, teacher: dict[str, Any] | None, key: str) -> float | None:
    if not model or not teacher or not model.get(key):
        return None
    return round(teacher[key] / model[key], 3)


def choose_teacher(records: list[dict[str, Any]], requested: str | None) -> str | None:
    names = [r["model"]["name"] for r in records]
    if requested:
        return requested
    if "teacher" in names:
        return "teacher"
    return max(records, key=lambda r: r.get("n_parameters") or 0)["model"]["name"] if records else None


def ratios(records: list[dict[str, Any]], teacher: str | None = None) -> dict[str, Any]:
    """Every non-teacher record against the teacher's record on the same device, backend and dtype."""
    chosen = choose_teacher(records, teacher)
    key = lambda r: (r["device"], r["backend"], r["dtype"])  # noqa: E731
    teachers = {key(r): r for r in records if r["model"]["name"] == chosen}
    comparisons = []
    for r in records:
        t = teachers.get(key(r))
        if t is None or r is t:
            continue
        lat, tlat = r.get("latency_ms"), t.get("latency_ms")
        paired = bool(r.get("run_id")) and r.get("run_id") == t.get("run_id")
        comparisons.append({
            "model": r["model"]["name"], "teacher": chosen, "device": r["device"], "device_name": r.get("device_name"),
            "backend": r["backend"], "dtype": r["dtype"], "batch_size": r["batch_size"],
            "teacher_batch_size": t["batch_size"],
            "params": round(t["n_parameters"] / r["n_parameters"], 3) if r.get("n_parameters") else None,
            "docs_per_s": _rate_ratio(r.get("docs_per_s"), t.get("docs_per_s"), paired),
            "queries_per_s": _rate_ratio(r.get("queries_per_s"), t.get("queries_per_s"), paired),
            "doc_tokens_per_s": _rate_ratio(r.get("doc_tokens_per_s"), t.get("doc_tokens_per_s"), paired),
            "latency_p50": _latency_ratio(lat, tlat, "p50"), "latency_p95": _latency_ratio(lat, tlat, "p95"),
        })
    return {"schema": RATIOS_SCHEMA, "teacher": chosen, "created": now(), "comparisons": comparisons}


# ------------------------------------------------------------------------------------------------ console


def _fmt_spread(s: dict[str, Any] | None, digits: int = 1) -> str:
    if not s:
        return "-"
    return escape(f"{s['median']:,.{digits}f} [{s['min']:,.{digits}f}-{s['max']:,.{digits}f}]")


def _fmt_ratio(r: dict[str, Any] | float | None) -> str:
    if r is None:
        return "-"
    if isinstance(r, dict):
        return escape(f"{r['median']:.2f}x [{r['low']:.2f}-{r['high']:.2f}]")
    return f"{r:.2f}x"


def throughput_table(outcome: ThroughputOutcome) -> Group:
    """Two small tables: medians [min-max over trials] per model and setup, then the speed-ups vs the teacher."""
    figures = Table(title=escape("Throughput (median [min-max] over trials)"))
    for col in ("model", "setup", "params", "docs/s", "queries/s", "p50/p95 ms", "peak"):
        figures.add_column(col, justify="left" if col in ("model", "setup") else "right")
    for r in outcome.records:
        lat = r.get("latency_ms")
        docs = r.get("documents") or {}
        peak = ((docs.get("by_batch_size") or {}).get(str(r["batch_size"])) or {}).get("peak_fraction")
        figures.add_row(r["model"]["name"], f"{r['backend']} {r['dtype']} {r['device']} b{r['batch_size']}",
                        f"{r['n_parameters'] / 1e6:.1f}M", _fmt_spread(r.get("docs_per_s")),
                        _fmt_spread(r.get("queries_per_s")), f"{lat['p50']:.1f}/{lat['p95']:.1f}" if lat else "-",
                        f"{peak['median']:.0%}" if peak else "-")
    comparisons = (outcome.ratios or {}).get("comparisons") or []
    if not comparisons:
        return Group(figures)
    speedups = Table(title=escape(f"Speed-up vs teacher '{outcome.ratios['teacher']}' (x; [range over trials])"))
    for col in ("model", "setup", "params", "docs/s", "queries/s", "latency p50"):
        speedups.add_column(col, justify="left" if col in ("model", "setup") else "right")
    for c in comparisons:
        speedups.add_row(c["model"], f"{c['backend']} {c['dtype']} {c['device']}", _fmt_ratio(c["params"]),
                         _fmt_ratio(c["docs_per_s"]), _fmt_ratio(c["queries_per_s"]), _fmt_ratio(c["latency_p50"]))
    return Group(figures, speedups)


def load_note(outcome: ThroughputOutcome) -> str | None:
    """A warning when the machine was busier than its cores during a measurement: figures are then noisy."""
    loads = [x for r in outcome.records for x in ((r.get("load_average") or {}).get("before") or [])[:1]]
    cores = os.cpu_count() or 1
    if loads and max(loads) > cores:
        return (f"note: 1-minute load average up to {max(loads):.1f} on {cores} cores during measurement: other "
                f"processes shared the CPU, so these figures are slower and noisier than on an idle machine")
    return None


def throughput_command(args: argparse.Namespace, console: Any) -> int:
    """`leafbench throughput SUITE`: the suite's throughput section (defaults when it has none), then the table."""
    from leafbench.config import load_suite

    suite = load_suite(args.suite, {"output": args.output, "device": args.device})
    outcome = run_throughput(suite, force=args.force)
    if outcome.records:
        console.print(throughput_table(outcome))
    note = load_note(outcome)
    if note:
        console.print(note)
    console.print(f"{outcome.measured} throughput records measured, {outcome.reused} reused -> "
                  f"{suite.results_dir / 'throughput'}")
    return 0

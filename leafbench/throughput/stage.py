"""The throughput stage: which (model, backend, dtype, device) setups a suite asks for, reuse of finished records,
and the measurement of the rest into `<results_dir>/throughput/`.

The LEAF paper's headline is a speed-up (leaf-ir: 4.7x fewer parameters, documents 6.5x and queries 7.3x faster on a
2-vCPU CPU), so leafbench measures speed the way a user pays for it: on real texts sampled from the suite's tasks
and on synthetic inputs of exactly 32/128/256/512 tokens, a warm-up and then `trials` timed passes per figure. The
models of one setup are measured together, alternating trial by trial (ABBA), so their ratios pair trial by trial.

`threads` (torch intra-op threads) matters on a shared machine: when other processes hold the cores, every
parallel region waits for its slowest thread, and a 2-thread encode of a short query can take 100x longer than a
1-thread one; the load average beside each record says whether that happened.

Record layout: `leafbench.throughput.record.ThroughputRecord`; ratios: `leafbench.throughput.compare`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import torch

from leafbench.config import Suite, spec_hash
from leafbench.embed import EmbeddingService
from leafbench.encoders import Encoder
from leafbench.cpu import cpu_model
from leafbench.hardware import resolve_device, resolve_dtype
from leafbench.progress import stderr
from leafbench.results import environment, now, read_json, write_json_atomic
from leafbench.stage_specs import ThroughputSpec
from leafbench.throughput.params import parameter_counts
from leafbench.throughput.flops import FlopModel, hf_config, max_positions
from leafbench.throughput.measure import ModelRun, Setup, measure_setup
from leafbench.throughput.onnx import onnx_encoder, onnx_unavailable
from leafbench.throughput.compare import ratios
from leafbench.throughput.record import SCHEMA, RatiosRecord, ThroughputRecord
from leafbench.throughput.sampling import TextSample, sample_texts


def record_path(results_dir: Path, model: str, setup: Setup) -> Path:
    return results_dir / "throughput" / f"{model}-{setup.label}.json"


def _read_record(path: Path) -> ThroughputRecord | None:
    """A finished record of this schema, or None (missing, unreadable or another version: measured again)."""
    raw = read_json(path)
    if not raw or raw.get("schema") != SCHEMA:
        return None
    try:
        return ThroughputRecord.model_validate(raw)
    except ValueError:
        return None


def _device_name(device: str) -> str:
    return torch.cuda.get_device_name(torch.device(device)) if device.startswith("cuda") else cpu_model()


def measure_hash(suite: Suite, tp: ThroughputSpec, model: str, setup: Setup, batch_sizes: list[int]) -> str:
    """Everything that determines a record except the clock: model settings, texts, protocol, setup, hardware."""
    settings = tp.model_dump(exclude={"models", "teacher", "batch_sizes", "backends", "dtypes", "devices"})
    return spec_hash({"schema": SCHEMA, "model": suite.models[model].model_dump(), "settings": settings,
                      "batch_sizes": batch_sizes, "tasks": [t.model_dump() for t in suite.tasks],
                      "setup": setup.label, "device_name": _device_name(setup.device)})


@dataclass
class ThroughputOutcome:
    records: list[ThroughputRecord] = field(default_factory=list)
    ratios: RatiosRecord | None = None
    skipped: list[str] = field(default_factory=list)
    measured: int = 0
    reused: int = 0
    paths: list[Path] = field(default_factory=list)  # every record file of the outcome, for the run manifest


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
    for name in [n for n in names if n in suite.distill_outputs()]:
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
            rec = None if force else _read_record(record_path(suite.results_dir, name, setup))
            if rec is not None and rec.measure_hash == mhash:
                outcome.records.append(rec)
                outcome.paths.append(record_path(suite.results_dir, name, setup))
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
            config = hf_config(enc.model)
            runner = onnx_encoder(enc, tp.threads or torch.get_num_threads()) if setup.backend == "onnx" else enc
            runs.append(ModelRun(runner, FlopModel.from_config(config), max_positions(config), sample, tp, setup,
                                 batch_sizes, parameter_counts(enc.model)))
        for (name, mhash, _), measured in zip(todo, measure_setup(runs, setup)):
            rec = ThroughputRecord.model_validate({**measured, "suite": suite.name, "measure_hash": mhash,
                                                   "created": now(), "settings": tp.model_dump(),
                                                   "environment": environment()})
            write_json_atomic(record_path(suite.results_dir, name, setup), rec.dump())
            outcome.records.append(rec)
            outcome.paths.append(record_path(suite.results_dir, name, setup))
            outcome.measured += 1
    if outcome.records:
        outcome.ratios = ratios(outcome.records, tp.teacher)
        write_json_atomic(suite.results_dir / "throughput" / "ratios.json", outcome.ratios.dump())
        outcome.paths.append(suite.results_dir / "throughput" / "ratios.json")
    return outcome



"""Throughput plumbing on tiny random models: every figure present, shaped and sane; no timing thresholds.

One 1-thread measurement of two tiny models (a 'teacher' with hidden 128 and a 'student' with hidden 64) is shared
by the tests (module fixture); one thread because a 2-thread torch on a busy 2-core machine stalls short encodes.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
import yaml

from conftest import build_tiny_model
from leafbench.config import ModelSpec, parse_suite
from leafbench.encoders import Encoder
from leafbench.errors import UserError
from leafbench.hardware import device_info, matmul_peak
from leafbench.report.throughput_cli import throughput_table
from leafbench.throughput import (RATIOS_SCHEMA, SCHEMA, FlopModel, ThroughputOutcome, ThroughputRecord, padded_tokens,
                                  ratios, run_throughput, spread, synthetic_texts, token_counts)
from leafbench.throughput.onnx import onnx_unavailable

PEAK = "leafbench.throughput.measure.matmul_peak"  # where the stage looks it up

SETTINGS = {"docs": 12, "queries": 8, "synthetic_lengths": [16, 48, 600], "synthetic_texts": 4, "trials": 2,
            "warmup": 1, "latency_queries": 6, "batch_sizes": [4, 8], "threads": 1}


@pytest.fixture(scope="module")
def models(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("tp-models")
    return {"teacher": build_tiny_model(root / "t", seed=0, hidden=128),
            "student": build_tiny_model(root / "s", seed=1, hidden=64)}


def suite_dict(models: dict[str, Path], beir: Path, out: Path, **throughput: Any) -> dict[str, Any]:
    return {"name": "tp", "output": str(out), "device": "cpu",
            "models": {k: {"id": str(v), "batch_size": 4} for k, v in models.items()},
            "configs": {k: {"standard": k} for k in models}, "tasks": [{"path": str(beir)}],
            "throughput": {**SETTINGS, **throughput}}


@pytest.fixture(scope="module")
def measured(models: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> tuple[Any, ThroughputOutcome]:
    from conftest import TOPICS, write_beir_folder

    root = tmp_path_factory.mktemp("tp-run")
    corpus = {f"{t}-{i}": {"title": t, "text": text} for t, texts in TOPICS.items() for i, text in enumerate(texts)}
    queries = {f"q-{t}": texts[1] for t, texts in TOPICS.items()}
    beir = write_beir_folder(root / "beir", corpus, queries, {q: {f"{q[2:]}-1": 1} for q in queries})
    suite = parse_suite(suite_dict(models, beir, root / "out", backends=["torch", "onnx"], devices=["cpu", "cuda"]),
                        Path("tp.yaml"))
    with pytest.MonkeyPatch.context() as mp:  # small matrices: the peak's method, not its cost, is under test
        mp.setattr(PEAK, lambda device, dtype: matmul_peak(device, dtype, (128, 256)))
        return suite, run_throughput(suite)


def assert_spread(s: dict[str, Any], n: int) -> None:
    assert len(s["trials"]) == n and all(math.isfinite(v) and v > 0 for v in s["trials"])
    assert s["min"] <= s["q1"] <= s["median"] <= s["q3"] <= s["max"]
    assert s["iqr"] == pytest.approx(s["q3"] - s["q1"], rel=1e-3, abs=1e-3)


def expected_setups() -> list[tuple[str, str]]:
    """(backend, device) pairs the module's suite can measure here: torch always, ONNX and CUDA where present."""
    backends = ["torch"] + (["onnx"] if onnx_unavailable() is None else [])
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    return [(b, d) for d in devices for b in backends]


def test_records_have_every_figure(measured: tuple[Any, ThroughputOutcome]) -> None:
    suite, outcome = measured
    assert outcome.measured == 2 * len(expected_setups()) and outcome.reused == 0
    assert sorted((r.backend, r.device) for r in outcome.records) == sorted(expected_setups() * 2)
    for typed in outcome.records:
        rec = typed.dump()
        path = suite.results_dir / "throughput" / f"{rec['model']['name']}-{rec['backend']}-fp32-{rec['device']}.json"
        on_disk = json.loads(path.read_text())
        assert on_disk == rec and ThroughputRecord.model_validate(on_disk) == typed
        assert rec["schema"] == SCHEMA and rec["model"]["fingerprint"] and rec["model"]["id"]
        assert rec["n_parameters"] > 0 and rec["embedding_dim"] in (64, 128)
        assert rec["device_info"]["torch_threads"] == 1 and rec["device_info"]["cpu_model"]
        assert rec["batch_sizes"] == [4, 8] and rec["batch_size"] == 4
        for role, n in (("documents", 12), ("queries", 4)):  # 4 queries exist, so the sample is all of them
            section = rec[role]
            assert section["texts"] == n and section["sources"] == ["beir"]
            assert 1 <= section["tokens_mean"] <= section["tokens_max"] <= 64 and section["padding_ratio"] >= 1
            for b in ("4", "8"):
                fig = section["by_batch_size"][b]
                for key in ("texts_per_s", "tokens_per_s", "peak_fraction"):
                    assert_spread(fig[key], 2)
                # tokens/s is texts/s times the mean tokens per text, trial by trial
                for tps, xps in zip(fig["tokens_per_s"]["trials"], fig["texts_per_s"]["trials"]):
                    assert tps == pytest.approx(xps * section["tokens_mean"], rel=2e-3)
        assert rec["docs_per_s"] == rec["documents"]["by_batch_size"]["4"]["texts_per_s"]
        assert rec["queries_per_s"] == rec["queries"]["by_batch_size"]["4"]["texts_per_s"]
        lat = rec["latency_ms"]
        assert lat["n"] == 6 and lat["batch_size"] == 1
        assert 0 < lat["min"] <= lat["p50"] <= lat["p95"] <= lat["p99"] <= lat["max"]
        synthetic = {s["tokens"]: s for s in rec["synthetic"]}
        assert "512 positions" in synthetic[600]["skipped"]
        for n in (16, 48):
            s = synthetic[n]
            assert s["texts"] == 4 and s["flops_per_text"] == pytest.approx(FlopModel(2, rec["embedding_dim"],
                                                                            2 * rec["embedding_dim"]).per_text(n))
            for tps, xps in zip(s["tokens_per_s"]["trials"], s["texts_per_s"]["trials"]):
                assert tps == pytest.approx(xps * n, rel=2e-3)
        peak = rec["matmul_peak"]
        assert peak["gflops"] == max(peak["gflops_before"], peak["gflops_after"]) > 0
        assert "torch.matmul" in peak["method"]
        assert len(rec["load_average"]["before"]) == 3


def test_unavailable_backend_and_device_are_one_line_skips(measured: tuple[Any, ThroughputOutcome]) -> None:
    _, outcome = measured
    reason = onnx_unavailable()  # decided independently of the stage: None when the onnx extra imports
    onnx_lines = [line for line in outcome.skipped if line.startswith("backend onnx skipped")]
    onnx_records = [r for r in outcome.records if r.backend == "onnx"]
    if reason is None:
        assert onnx_lines == [] and len(onnx_records) == 2 * (1 + torch.cuda.is_available())
    else:
        assert onnx_lines == [f"backend onnx skipped: {reason}"] and onnx_records == []
    cuda_lines = [line for line in outcome.skipped if line.startswith("device cuda")]
    assert len(cuda_lines) == (0 if torch.cuda.is_available() else 1)
    assert all("\n" not in line for line in outcome.skipped)


def test_ratios_against_the_teacher(measured: tuple[Any, ThroughputOutcome]) -> None:
    suite, outcome = measured
    saved = json.loads((suite.results_dir / "throughput" / "ratios.json").read_text())
    assert saved["schema"] == RATIOS_SCHEMA and saved["teacher"] == "teacher"
    (c,) = [c for c in saved["comparisons"] if c["backend"] == "torch" and c["device"] == "cpu"]
    typed = {n: next(r for r in outcome.records if r.model.name == n and r.backend == "torch" and r.device == "cpu")
             for n in ("teacher", "student")}
    t, s = typed["teacher"].dump(), typed["student"].dump()
    assert c["model"] == "student" and c["params"] == pytest.approx(t["n_parameters"] / s["n_parameters"], rel=1e-3)
    assert c["params"] > 1  # the hidden-128 model is the larger one
    # measured interleaved in one run, so the ratios pair trial by trial
    assert s["run_id"] == t["run_id"] and s["interleaved_with"] == ["teacher"] and t["interleaved_with"] == ["student"]
    for key in ("docs_per_s", "queries_per_s", "doc_tokens_per_s"):
        r = c[key]
        each = [a / b for a, b in zip(s[key]["trials"], t[key]["trials"])]
        assert r["paired"] and r["low"] == pytest.approx(min(each), abs=2e-3)
        assert r["high"] == pytest.approx(max(each), abs=2e-3)
        assert r["median"] == pytest.approx(s[key]["median"] / t[key]["median"], rel=1e-2)
    unpaired = ratios([typed["teacher"].model_copy(update={"run_id": "a"}),
                       typed["student"].model_copy(update={"run_id": "b"})]).comparisons[0].docs_per_s
    assert unpaired is not None and not unpaired.paired
    assert unpaired.low == pytest.approx(s["docs_per_s"]["min"] / t["docs_per_s"]["max"], abs=2e-3)
    assert c["latency_p50"] == pytest.approx(t["latency_ms"]["p50"] / s["latency_ms"]["p50"], rel=1e-2)
    rendered = throughput_table(outcome)
    assert len(rendered.renderables) == 2  # figures and speed-ups


def test_rerun_reuses_and_force_remeasures(models: dict[str, Path], measured: tuple[Any, ThroughputOutcome],
                                           monkeypatch: pytest.MonkeyPatch) -> None:
    suite, first = measured
    again = run_throughput(suite)
    assert again.measured == 0 and again.reused == 2 * len(expected_setups())
    assert [r.created for r in again.records] == [r.created for r in first.records]
    # a changed protocol is a new measurement; --force re-measures only what the suite asks for
    data = suite.model_dump(mode="json")
    data["throughput"].update(trials=1, models=["student"], batch_sizes=[4], synthetic_lengths=[16],
                              latency_queries=2)
    changed = parse_suite(data, Path("tp.yaml"))
    monkeypatch.setattr(PEAK, lambda device, dtype: matmul_peak(device, dtype, (128,)))
    out = run_throughput(changed)
    assert out.measured == len(expected_setups()) and out.records[0].settings["trials"] == 1
    assert out.ratios is not None and out.ratios.comparisons == []  # the teacher was not measured in this run
    assert run_throughput(changed, force=True).measured == len(expected_setups())


def test_flop_formula_matches_torch_counter_on_linear_layers(models: dict[str, Path]) -> None:
    """The formula's projection/feed-forward term against torch's own FLOP counter (which skips CPU attention)."""
    from torch.utils.flop_counter import FlopCounterMode

    enc = Encoder("t", ModelSpec(id=str(models["teacher"])), "cpu")
    flops = FlopModel.from_config(enc.model[0].auto_model.config)
    assert flops == FlopModel(layers=2, hidden=128, intermediate=256)
    for n in (16, 40):
        enc.model.max_seq_length = n
        features = enc.model.preprocess(synthetic_texts(enc, 1, n, seed=0))
        assert int(features["attention_mask"].sum()) == n  # synthetic texts are exactly n tokens
        with torch.inference_mode(), FlopCounterMode(display=False) as counter:
            enc.model(features)
        attention = flops.layers * 4 * n * n * flops.hidden
        assert float(flops.per_text(n)) - attention == pytest.approx(counter.get_total_flops(), rel=0.02)


def test_token_counts_and_padding(models: dict[str, Path]) -> None:
    enc = Encoder("t", ModelSpec(id=str(models["student"]), max_seq_length=8, query_prompt="query: "), "cpu")
    texts = ["one", "two words here", "a b c d e f g h i j k l m n o p"]
    docs, queries = token_counts(enc, texts, "document"), token_counts(enc, texts, "query")
    assert docs.tolist()[:2] == [3, 5] and docs[2] == 8  # [CLS] ... [SEP], truncated at max_seq_length
    assert (queries >= docs).all() and queries[0] == docs[0] + 2  # "query :" adds two tokens
    counts = np.array([3, 5, 8])
    assert padded_tokens(texts, counts, batch_size=2) == 8 * 2 + 3  # longest two together, then the short one
    assert padded_tokens(texts, counts, batch_size=1) == counts.sum()


def test_spread_and_hardware() -> None:
    s = spread([3.0, 1.0, 2.0, 10.0])
    assert s["median"] == 2.5 and s["min"] == 1 and s["max"] == 10 and s["trials"] == [3, 1, 2, 10]
    assert s["q1"] == 1.75 and s["q3"] == 4.75 and s["iqr"] == 3
    info = device_info("cpu")
    assert info["device"] == "cpu" and info["cpu_count"] >= 1 and info["torch_threads"] >= 1
    assert isinstance(info["cpu_capability"], str) and info["cpu_capability"]  # AVX2, AVX512, DEFAULT, ...
    assert isinstance(info["native_bf16"], bool)
    peak = matmul_peak("cpu", "fp32", (64, 128))
    assert peak["gflops"] == max(peak["gflops_by_size"].values()) > 0 and list(peak["gflops_by_size"]) == ["64", "128"]
    assert "n = 64, 128" in peak["method"] and peak["dtype"] == "fp32"


def test_ratios_without_teacher_pairing() -> None:
    rec = {"model": {"name": "a", "id": "a"}, "device": "cpu", "device_name": "x", "backend": "torch", "dtype": "fp32",
           "batch_size": 4, "n_parameters": 10}
    out = ratios([ThroughputRecord.model_validate(r) for r in (rec, {**rec, "model": {"name": "b", "id": "b"},
                                                                      "n_parameters": 40})])
    assert out.teacher == "b" and out.comparisons[0].params == 4.0  # largest model is the teacher
    assert out.comparisons[0].docs_per_s is None  # nothing measured, nothing invented


def test_a_model_in_its_own_dtype_meets_the_teacher_as_it_ran_and_a_sweep_pairs_like_with_like() -> None:
    """A static leaf runs fp32 beside a bf16 teacher: compared with the teacher's one record; when the teacher was
    measured in both dtypes (a sweep), each dtype meets its own."""
    def rec(name: str, dtype: str, q: float) -> ThroughputRecord:
        return ThroughputRecord.model_validate({
            "model": {"name": name, "id": name}, "device": "cpu", "backend": "torch", "dtype": dtype,
            "batch_size": 16, "n_parameters": 10, "queries_per_s": spread([q, q])})

    own = ratios([rec("teacher", "bf16", 200.0), rec("static", "fp32", 20000.0)], "teacher").comparisons
    assert [(c.model, c.dtype, c.teacher_dtype, c.queries_per_s.median) for c in own] == \
        [("static", "fp32", "bf16", 100.0)]
    sweep = ratios([rec("teacher", "bf16", 200.0), rec("teacher", "fp32", 100.0), rec("static", "fp32", 20000.0),
                    rec("static", "bf16", 10000.0)], "teacher").comparisons
    assert sorted((c.dtype, c.teacher_dtype, c.queries_per_s.median) for c in sweep) == \
        [("bf16", "bf16", 50.0), ("fp32", "fp32", 200.0)]


def test_suite_validation(models: dict[str, Path], tmp_path: Path) -> None:
    base = suite_dict(models, tmp_path, tmp_path)
    for bad, message in (({"models": ["nope"]}, "throughput.models: unknown model 'nope'"),
                         ({"models": ["student"], "teacher": "teacher"}, "not among throughput.models"),
                         ({"trials": 0}, "throughput.trials"), ({"backends": ["tensorrt"]}, "throughput.backends"),
                         ({"synthetic_lengths": [2]}, "throughput.synthetic_lengths")):
        with pytest.raises(UserError, match=message):
            parse_suite({**base, "throughput": {**base["throughput"], **bad}}, Path("s.yaml"))


def test_cli_throughput_and_run_stage(models: dict[str, Path], small_beir: Path, tmp_path: Path,
                                      monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture) -> None:
    from leafbench.cli import main

    monkeypatch.setattr(PEAK, lambda device, dtype: matmul_peak(device, dtype, (128,)))
    monkeypatch.setattr("leafbench.report.commands.report_after_run", lambda *args, **kwargs: None)  # not under test
    suite = tmp_path / "s.yaml"
    data = suite_dict(models, small_beir, tmp_path / "out", synthetic_lengths=[16], batch_sizes=[4])
    data["configs"] = {"student": {"standard": "student"}}
    suite.write_text(yaml.safe_dump(data))
    assert main(["run", str(suite)]) == 0  # throughput is the run's last stage, its tables end the output
    printed = capsys.readouterr().out
    assert printed.index("NDCG@10") < printed.index("Throughput") < printed.index("Speed-up vs teacher 'teacher'")
    folder = tmp_path / "out" / "tp" / "throughput"
    assert sorted(p.name for p in folder.glob("*.json")) == ["ratios.json", "student-torch-fp32-cpu.json",
                                                           "teacher-torch-fp32-cpu.json"]
    manifest = json.loads((tmp_path / "out" / "tp" / "run.json").read_text())
    assert manifest["command"] == "run" and set(manifest["timings"]["stages"]) >= {"grid", "throughput", "report"}
    assert printed.index("Speed-up vs teacher") < printed.index("time: ")  # the stage summary ends the run
    assert main(["throughput", str(suite)]) == 0  # reuses the run's records
    # recorded like a run: its records listed, the run's cells kept, its own timings
    after = json.loads((tmp_path / "out" / "tp" / "run.json").read_text())
    assert after["command"] == "throughput" and after["status"] == "complete"
    assert after["cells"] == manifest["cells"] and "throughput/ratios.json" in after["files"]
    assert set(after["timings"]["stages"]) == {"throughput"}
    from leafbench.results import results_lock

    capsys.readouterr()
    with results_lock(tmp_path / "out" / "tp", "distill") as lock:  # another writer holds the folder
        assert main(["throughput", str(suite)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(lock) in err[0] and "another `leafbench distill`" in err[0], err
    # the report reads these records beside the quality results (its throughput table and quality-vs-speed figure)
    from leafbench.resultset import load_results
    from leafbench.report.throughput import throughput_rows

    (row,) = throughput_rows(load_results([tmp_path / "out" / "tp"]))
    student = json.loads((folder / "student-torch-fp32-cpu.json").read_text())
    assert row.config == "student" and row.params == student["n_parameters"]
    assert row.docs_per_s == student["docs_per_s"]["median"] and row.latency_p50_ms == student["latency_ms"]["p50"]
    assert main(["throughput", str(tmp_path / "missing.yaml")]) == 2

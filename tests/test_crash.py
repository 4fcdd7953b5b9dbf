"""kill -9 anywhere loses nothing: `leafbench run` (retrieval grid, MTEB stage, distill stage) SIGKILLed at several
points, then re-run, ends with exactly the cells of an uninterrupted run, the same scores, and no unreadable or temp
file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from leafbench.config import load_suite
from leafbench.records import RUN_MANIFEST
from leafbench.runner import run_suite


def write_suite(tmp_path: Path, output: Path, a: Path, b: Path, beir: Path) -> Path:
    data = {"name": "crash", "output": str(output), "device": "cpu",
            "models": {"a": {"id": str(a)}, "b": {"id": str(b)}},
            "configs": {"a": {"standard": "a"}, "asym": {"asymmetric": {"query": "b", "document": "a"}}},
            "tasks": [{"path": str(beir)}], "dims": ["full", 64], "precisions": ["float32", "int8", "binary"],
            "k_values": [1, 10],
            "mteb": {"tasks": ["LeeDocumentSimilaritySTS"], "configs": ["a"], "dims": ["full"],
                     "precisions": ["float32", "binary"]}}
    path = tmp_path / f"{output.name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def cell_files(results: Path) -> list[Path]:
    return sorted(p for sub in ("retrieval", "mteb/cells") for p in (results / sub).rglob("[!.]*.json"))


def kill_after(suite: Path, results: Path, cells: int, timeout: float = 120) -> None:
    """Start `leafbench run` and SIGKILL it once `cells` cell records exist (or let it end, if it gets there first)."""
    proc = subprocess.Popen([sys.executable, "-m", "leafbench.cli", "run", str(suite)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=os.environ.copy())
    deadline = time.monotonic() + timeout
    while proc.poll() is None and time.monotonic() < deadline:
        if len(cell_files(results)) >= cells:
            proc.send_signal(signal.SIGKILL)
            break
        time.sleep(0.02)
    proc.wait(timeout=30)


def scores(outcome) -> dict:
    return {**{("r", r.task, r.config, r.dim, r.precision): r.scores for r in outcome.records},
            **{("m", r.task, r.config, r.dim, r.precision): r.main_score for r in outcome.mteb_records}}


def test_sigkill_at_several_points_then_rerun_equals_an_uninterrupted_run(tmp_path: Path, tiny_model: Path,
                                                                          tiny_model_b: Path,
                                                                          small_beir: Path) -> None:
    reference = run_suite(load_suite(write_suite(tmp_path, tmp_path / "ref", tiny_model, tiny_model_b, small_beir)))
    expected = scores(reference)
    assert len(expected) == 12 + 2

    path = write_suite(tmp_path, tmp_path / "crash", tiny_model, tiny_model_b, small_beir)
    results = load_suite(path).results_dir
    kill_after(path, results, 3)  # inside the retrieval grid
    kill_after(path, results, 13)  # inside the MTEB stage
    assert len(cell_files(results)) < 14, "no run was interrupted: the test would prove nothing"

    resumed = run_suite(load_suite(path))
    assert resumed.computed > 0 and resumed.computed + resumed.reused == 14
    assert scores(resumed) == expected
    ref_dir = tmp_path / "ref" / "crash"
    assert [p.relative_to(results) for p in cell_files(results)] == [p.relative_to(ref_dir)
                                                                     for p in cell_files(ref_dir)]
    assert not [p for p in results.rglob("*") if p.name.endswith(".tmp")]
    for file in results.rglob("*.json"):
        json.loads(file.read_text())  # every file readable
    manifest = json.loads((results / RUN_MANIFEST).read_text())
    assert manifest["status"] == "complete" and len(manifest["cells"]) == 14


def write_distill_suite(tmp_path: Path, output: Path, teacher: Path, student: Path, beir: Path, texts: Path) -> Path:
    data = {"name": "crash-distill", "output": str(output), "device": "cpu",
            "models": {"teacher": {"id": str(teacher)}, "student": {"id": str(student)}},
            "configs": {"teacher": {"standard": "teacher"}, "leaf": {"standard": "leaf"},
                        "asym": {"asymmetric": {"query": "leaf", "document": "teacher"}}},
            "tasks": [{"path": str(beir), "name": "beir"}], "dims": ["full"], "precisions": ["float32", "int8"],
            "k_values": [1, 10],
            "distill": {"teacher": "teacher", "student": "student",
                        "data": {"sources": [{"file": str(texts)}, {"task": "beir"}], "validation": 8},
                        "training": {"epochs": 3, "batch_size": 8, "lr": 5e-4, "checkpoint_every": 2}}}
    path = tmp_path / f"{output.name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def kill_at_checkpoint(suite: Path, results: Path, timeout: float = 120) -> bool:
    """Start `leafbench run` and SIGKILL it as soon as the distill stage has written a checkpoint; True if it did."""
    proc = subprocess.Popen([sys.executable, "-m", "leafbench.cli", "run", str(suite)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL, env=os.environ.copy())
    deadline, killed = time.monotonic() + timeout, False
    while proc.poll() is None and time.monotonic() < deadline:
        if any((results / "distill").glob("run-*/checkpoints/step-*/state.json")):
            proc.send_signal(signal.SIGKILL)
            killed = True
            break
        time.sleep(0.02)
    proc.wait(timeout=30)
    return killed


def test_sigkill_in_the_distill_stage_then_rerun_gives_the_cells_of_an_uninterrupted_run(
        tmp_path: Path, tiny_model: Path, small_beir: Path) -> None:
    from conftest import build_tiny_model

    student = build_tiny_model(tmp_path / "student64", seed=1, hidden=64)
    words = " ".join(json.loads(line)["text"] for line in (small_beir / "corpus.jsonl").read_text().splitlines())
    texts = tmp_path / "texts.txt"
    texts.write_text("\n".join(" ".join(words.split()[i:i + 7]) for i in range(0, 400, 5)) + "\n")
    reference = run_suite(load_suite(write_distill_suite(tmp_path, tmp_path / "ref", tiny_model, student, small_beir,
                                                         texts)))
    path = write_distill_suite(tmp_path, tmp_path / "crash", tiny_model, student, small_beir, texts)
    results = load_suite(path).results_dir
    assert kill_at_checkpoint(path, results), "the distill stage was never interrupted: the test would prove nothing"
    assert not cell_files(results)

    resumed = run_suite(load_suite(path))
    assert resumed.distills and resumed.computed == len(reference.records) == 6
    assert resumed.distills[0].training.resumed_from, "the re-run trained from scratch instead of resuming"
    want, got = scores(reference), scores(resumed)
    assert got.keys() == want.keys()
    for cell, values in want.items():  # resumed training equals uninterrupted training to float32 precision
        assert got[cell] == pytest.approx(values, abs=1e-4), cell
    assert not [p for p in results.rglob("*") if p.name.endswith(".tmp")]
    for file in results.rglob("*.json"):
        json.loads(file.read_text())

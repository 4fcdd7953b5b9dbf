"""kill -9 anywhere loses nothing: `leafbench run` (retrieval grid + MTEB stage) SIGKILLed at several points, then
re-run, ends with exactly the cells of an uninterrupted run, the same scores, and no unreadable or temp file."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

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

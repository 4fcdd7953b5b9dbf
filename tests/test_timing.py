"""Stage timings: one helper nests by where it runs, and a run writes them into run.json and its summary."""

from __future__ import annotations

import io
import json
import time
from pathlib import Path

import pytest

from rich.console import Console

from leafbench.timing import StageTimer, count_encoded, timed


@timed("decorated")
def _work() -> None:
    time.sleep(0.01)


def test_timed_nests_sums_and_counts_encodes() -> None:
    with timed("outside") as lap:  # no active timer: measures, records nothing
        time.sleep(0.01)
    assert lap.seconds >= 0.01
    timer = StageTimer()
    with timer.active():
        with timed("grid") as grid:
            for _ in range(2):
                with timed("search"):
                    time.sleep(0.01)
                _work()
            count_encoded("m", "query", 10, 0.5)
        with timed("grid"):
            with timed("embeddings"):
                count_encoded("m", "query", 5, 0.5)
    out = timer.as_dict()
    stages = out["stages"]
    assert list(stages) == ["grid"] and stages["grid"]["calls"] == 2
    assert set(stages["grid"]["stages"]) == {"search", "decorated", "embeddings"}
    assert stages["grid"]["stages"]["search"]["calls"] == 2 and stages["grid"]["stages"]["search"]["seconds"] >= 0.02
    assert stages["grid"]["seconds"] >= round(grid.seconds, 3) >= 0.04  # both grid blocks >= the first
    assert out["encoded"] == [
        {"stage": "grid", "model": "m", "role": "query", "texts": 10, "seconds": 0.5, "texts_per_s": 20.0},
        {"stage": "grid/embeddings", "model": "m", "role": "query", "texts": 5, "seconds": 0.5, "texts_per_s": 10.0}]
    assert out["total_s"] >= stages["grid"]["seconds"]


def test_a_run_records_its_stage_timings_and_ends_with_their_summary(tmp_path: Path, tiny_model: Path,
                                                                     small_beir: Path,
                                                                     monkeypatch: pytest.MonkeyPatch) -> None:
    from leafbench.config import parse_suite

    # a store of its own: other tests of the session embed the same tiny model and folder, and this one times encoding
    monkeypatch.setenv("LEAFBENCH_CACHE", str(tmp_path / "cache"))
    from leafbench.hardware import machine_line
    from leafbench.runner import run_suite
    from leafbench.summary import timings_table

    suite = parse_suite({"name": "t", "output": str(tmp_path / "out"), "device": "cpu",
                         "models": {"m": {"id": str(tiny_model)}}, "configs": {"m": {"standard": "m"}},
                         "tasks": [{"path": str(small_beir), "name": "beir"}], "dims": ["full", 64],
                         "precisions": ["float32", "int8"]}, Path("s.yaml"))
    reported = []
    outcome = run_suite(suite, report=lambda o: reported.append(o.computed))
    assert reported == [4]
    timings = json.loads((suite.results_dir / "run.json").read_text())["timings"]
    assert timings["stages"].keys() == outcome.timings["stages"].keys()
    grid = timings["stages"]["grid"]
    assert set(grid["stages"]) >= {"embeddings", "search", "metrics", "alignment"}
    assert grid["stages"]["search"]["calls"] == 4 and "encode" in grid["stages"]["embeddings"]["stages"]
    assert {"report"} <= set(timings["stages"])
    encoded = {(e["stage"], e["role"]): e["texts"] for e in timings["encoded"]}
    assert encoded == {("grid/embeddings", "query"): 8, ("grid/embeddings", "document"): 16}
    assert all(e["texts_per_s"] > 0 for e in timings["encoded"])
    machine = json.loads((suite.results_dir / "run.json").read_text())["machine"]  # what the times were taken on
    assert machine == outcome.machine and machine["device"] == "cpu" and machine["cpu_capability"]
    assert isinstance(machine["native_bf16"], bool) and machine["torch_threads"] >= 1
    console = Console(file=io.StringIO(), width=160)
    console.print(timings_table(timings, machine=machine_line(machine)))
    shown = console.file.getvalue()
    assert "grid" in shown and "  search" in shown and "encode m document" in shown
    assert f"on {machine['device_name']}, " in shown and machine["cpu_capability"] in shown
    again = run_suite(suite)  # a rerun: every cell reused, nothing encoded, still timed
    assert again.computed == 0 and again.timings["encoded"] == []

"""run.json while cells stream in: saves are throttled (one per cell was quadratic), yet nothing a reader or a failed
run needs is held back."""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

import leafbench.results as results
from leafbench.records import RUN_MANIFEST
from leafbench.results import recorded_run


def cell(i: int) -> SimpleNamespace:
    return SimpleNamespace(task="t", config="c", dim=8, precision="float32", cell_hash=f"h{i}")


def listed(folder: Path) -> list[str]:
    return [c["cell_hash"] for c in json.loads((folder / RUN_MANIFEST).read_text())["cells"]]


def test_cells_added_within_a_second_are_one_write_and_a_flush_writes_them(tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    writes: list[Path] = []
    real = results.write_json_atomic
    monkeypatch.setattr(results, "write_json_atomic", lambda path, obj: (writes.append(path), real(path, obj)))
    monkeypatch.setattr(results, "SAVE_EVERY_S", 3600.0)  # every save after the first falls inside the window
    with recorded_run(tmp_path, "s", "run", carry=None) as log:
        for i in range(50):
            log.add("retrieval", cell(i), tmp_path / f"c{i}.json")
        assert len(writes) == 1 and listed(tmp_path) == ["h0"]  # the first cell is saved at once
        log.flush()
        assert len(writes) == 2 and len(listed(tmp_path)) == 50
        log.flush()  # nothing pending: no write
        assert len(writes) == 2
    manifest = json.loads((tmp_path / RUN_MANIFEST).read_text())
    assert manifest["status"] == "complete" and len(manifest["cells"]) == 50


def test_a_failing_run_leaves_every_cell_it_finished_listed(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(results, "SAVE_EVERY_S", 3600.0)
    with pytest.raises(RuntimeError), recorded_run(tmp_path, "s", "run", carry=None) as log:
        for i in range(5):
            log.add("retrieval", cell(i), tmp_path / f"c{i}.json")
        raise RuntimeError("a stage failed")
    manifest = json.loads((tmp_path / RUN_MANIFEST).read_text())
    assert manifest["status"] == "running" and listed(tmp_path) == [f"h{i}" for i in range(5)]

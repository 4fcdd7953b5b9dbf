"""The command line as a user meets it: exit codes and one-line errors, never a traceback."""

import subprocess
import sys
from pathlib import Path

import yaml


def leafbench(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "leafbench.cli", *args], capture_output=True, text=True, cwd=cwd,
                          timeout=300)


def test_bad_suite_is_exit_2_and_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\nmodels: {a: {id: m, colour: red}}\nconfigs: {a: {standard: a}}\n")
    proc = leafbench("validate", str(bad))
    assert proc.returncode == 2
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and "bad.yaml: models.a.colour: unknown field" in lines[0], proc.stderr
    assert "Traceback" not in proc.stderr


def test_validate_ok_and_run_end_to_end(tmp_path: Path, tiny_model: Path, small_beir: Path) -> None:
    suite = tmp_path / "s.yaml"
    suite.write_text(yaml.safe_dump({
        "name": "cli", "output": str(tmp_path / "out"), "device": "cpu",
        "models": {"m": {"id": str(tiny_model)}}, "configs": {"m": {"standard": "m"}},
        "tasks": [{"path": str(small_beir)}], "precisions": ["float32", "binary"]}))
    proc = leafbench("validate", str(suite))
    assert proc.returncode == 0 and "ok" in proc.stdout
    proc = leafbench("run", str(suite))
    assert proc.returncode == 0, proc.stderr
    assert "NDCG@10" in proc.stdout and "2 cells computed" in proc.stdout
    proc = leafbench("run", str(suite), "--only", "missing-task")
    assert proc.returncode == 2 and "no such task" in proc.stderr


def test_unknown_model_is_exit_2(tmp_path: Path, small_beir: Path) -> None:
    suite = tmp_path / "s.yaml"
    suite.write_text(yaml.safe_dump({
        "name": "cli", "output": str(tmp_path / "out"), "device": "cpu",
        "models": {"m": {"id": "no-such-org/no-such-model-xyz"}}, "configs": {"m": {"standard": "m"}},
        "tasks": [{"path": str(small_beir)}]}))
    proc = leafbench("run", str(suite))
    assert proc.returncode == 2 and "models.m.id: cannot load model 'no-such-org/no-such-model-xyz'" in proc.stderr
    assert "Traceback" not in proc.stderr

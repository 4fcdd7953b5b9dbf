"""The command line as a user meets it: exit codes and one-line errors, never a traceback."""

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from leafbench.cli import main


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


def test_unknown_model_is_exit_2(tmp_path: Path, small_beir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    # in-process: `main` is the handler a subprocess would run; the interpreter's ~5-9 s of imports is not under test
    suite = tmp_path / "s.yaml"
    suite.write_text(yaml.safe_dump({
        "name": "cli", "output": str(tmp_path / "out"), "device": "cpu",
        "models": {"m": {"id": "no-such-org/no-such-model-xyz"}}, "configs": {"m": {"standard": "m"}},
        "tasks": [{"path": str(small_beir)}]}))
    assert main(["run", str(suite)]) == 2
    stderr = capsys.readouterr().err
    assert "models.m.id: cannot load model 'no-such-org/no-such-model-xyz'" in stderr and "Traceback" not in stderr


def _suite_file(tmp_path: Path, **fields: object) -> Path:
    data = {"name": "bad", "output": str(tmp_path / "out"), "device": "cpu", "models": {"m": {"id": "x/y"}},
            "configs": {"m": {"standard": "m"}}, **fields}
    path = tmp_path / "s.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def _one_line_exit_2(proc: subprocess.CompletedProcess, *needles: str) -> None:
    lines = proc.stderr.strip().splitlines()
    assert proc.returncode == 2 and len(lines) == 1, proc.stderr
    assert all(n in lines[0] for n in needles) and "Traceback" not in proc.stderr, proc.stderr


def test_missing_local_model_folder_is_rejected_by_validate_and_run(tmp_path: Path, small_beir: Path) -> None:
    import pytest

    from leafbench.config import load_suite
    from leafbench.errors import UserError

    for model_id in ("./no-such-model", str(tmp_path / "gone"), "~/no/such/model", "models/student/v2"):
        path = _suite_file(tmp_path, models={"m": {"id": model_id}}, tasks=[{"path": str(small_beir)}])
        with pytest.raises(UserError, match=r"s.yaml: models.m.id: local folder '.+' does not exist"):
            load_suite(path)
    path = _suite_file(tmp_path, models={"m": {"id": "./no-such-model"}}, tasks=[{"path": str(small_beir)}])
    for command in ("validate", "run"):
        _one_line_exit_2(leafbench(command, str(path), cwd=tmp_path), "s.yaml: models.m.id: local folder",
                         "does not exist")
    assert not (tmp_path / "out").exists()
    assert load_suite(_suite_file(tmp_path, models={"m": {"id": "org/hub-model"}}, tasks=[{"path": str(small_beir)}]))


def test_a_suite_with_nothing_to_run_is_an_error_naming_tasks(tmp_path: Path) -> None:
    path = _suite_file(tmp_path)
    for command in ("validate", "run"):
        _one_line_exit_2(leafbench(command, str(path)), "s.yaml: tasks: the suite has nothing to run")
    assert not (tmp_path / "out").exists()


def test_a_second_run_on_the_same_results_folder_stops_naming_the_lock(tmp_path: Path, tiny_model: Path,
                                                                       small_beir: Path) -> None:
    from leafbench.config import load_suite
    from leafbench.results import results_lock

    path = _suite_file(tmp_path, models={"m": {"id": str(tiny_model)}}, tasks=[{"path": str(small_beir)}],
                       precisions=["float32"])
    suite = load_suite(path)
    with results_lock(suite.results_dir) as lock:  # a run in progress
        _one_line_exit_2(leafbench("run", str(path)), str(lock), "another `leafbench run`")
        assert not list(suite.results_dir.rglob("*.json"))
    from leafbench.runner import run_suite

    assert run_suite(suite).computed == 1  # released with its holder: the next run proceeds


def test_report_on_retrieval_results_imports_no_mteb(tmp_path: Path) -> None:
    from fixtures.report_results import make_results

    folder = make_results(tmp_path / "results")
    code = ("import sys; from leafbench.report import build_report; "
            f"build_report([{str(folder)!r}], {str(tmp_path / 'report')!r}); "
            "print(sorted(m for m in sys.modules if m == 'mteb' or m.startswith('mteb.')))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip().splitlines()[-1] == "[]"
    assert (tmp_path / "report" / "tables.md").is_file()

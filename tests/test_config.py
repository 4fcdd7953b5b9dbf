"""Suite loading: good suites validate; every malformed one fails with one line naming file and field."""

from pathlib import Path

import pytest

from leafbench.config import load_suite
from leafbench.errors import UserError

GOOD = """
name: t
models:
  teacher: {id: some/teacher}
  student: {id: some/student, dtype: bf16, max_seq_length: 64}
configs:
  teacher: {standard: teacher}
  asym: {asymmetric: {query: student, document: teacher}}
tasks:
  - path: data/scifact
  - packaged: bbc-news-titles
    max_docs: 100
dims: [full, 256]
precisions: [float32, binary]
"""


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "suite.yaml"
    path.write_text(text)
    return path


def test_good_suite_loads_and_derives_names(tmp_path: Path) -> None:
    suite = load_suite(write(tmp_path, GOOD))
    assert [t.task_name for t in suite.tasks] == ["scifact", "bbc-news-titles-d100"]
    assert suite.configs["asym"].query_model == "student" and suite.configs["asym"].document_model == "teacher"
    assert suite.k_values == [1, 3, 5, 10, 100, 1000]
    assert suite.results_dir == Path("results/t")


def test_overrides_replace_fields(tmp_path: Path) -> None:
    suite = load_suite(write(tmp_path, GOOD), {"output": str(tmp_path / "out"), "device": "cpu"})
    assert suite.results_dir == tmp_path / "out" / "t" and suite.device == "cpu"


@pytest.mark.parametrize("layers,expected", [
    ("0", "student_layers: 0 layers; expected a positive count"),
    ("[]", "student_layers: []; expected distinct layer indices"),
    ("[0, 0, 11]", "student_layers: [0, 0, 11]; expected distinct layer indices"),
    ("[-1, 11]", "student_layers: [-1, 11]; expected distinct layer indices"),
])
def test_bad_student_layers_are_one_line(tmp_path: Path, layers: str, expected: str) -> None:
    distill = "distill:\n  teacher: teacher\n  student: teacher\n  data: {sources: [{packaged: vocabulary}]}\n"
    path = write(tmp_path, GOOD + distill + f"  student_layers: {layers}\n")
    with pytest.raises(UserError) as e:
        load_suite(path)
    message = str(e.value)
    assert "\n" not in message and message.startswith(str(path)) and expected in message, message


@pytest.mark.parametrize("old,new,expected", [
    ("precisions: [float32, binary]", "precisions: [float16]", "precisions.0: Input should be"),
    ("  student: {id: some/student, dtype: bf16, max_seq_length: 64}",
     "  student: {id: some/student, dtyp: bf16}", "models.student.dtyp: unknown field"),
    ("  teacher: {standard: teacher}", "  teacher: {standard: nobody}", "configs.teacher.standard: unknown model 'nobody'"),
    ("  teacher: {standard: teacher}", "  teacher: {}", "configs.teacher: give exactly one of"),
    ("  - path: data/scifact", "  - path: data/scifact\n    beir: scifact", "tasks.0: give exactly one of"),
    ("dims: [full, 256]", "dims: [0]", "dims: a non-empty list"),
    ("name: t", "name: a/b", "name: a non-empty name without slashes"),
])
def test_field_errors_are_one_line(tmp_path: Path, old: str, new: str, expected: str) -> None:
    assert old in GOOD
    path = write(tmp_path, GOOD.replace(old, new))
    with pytest.raises(UserError) as e:
        load_suite(path)
    message = str(e.value)
    assert "\n" not in message and message.startswith(str(path)) and expected in message, message


def test_yaml_syntax_error_names_line(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"suite.yaml:\d+:\d+: invalid YAML"):
        load_suite(write(tmp_path, "name: t\nmodels: {a: 1\nconfigs: x\n"))


def test_missing_file_and_non_mapping(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="suite file not found"):
        load_suite(tmp_path / "nope.yaml")
    with pytest.raises(UserError, match="expected a YAML mapping"):
        load_suite(write(tmp_path, "- just a list\n"))


def test_shipped_suites_validate() -> None:
    for path in sorted(Path(__file__).parents[1].joinpath("suites").glob("*.yaml")):
        load_suite(path)

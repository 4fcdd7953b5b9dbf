"""Broken BEIR folders (#20 item 5): five breakages BEIR reads silently into other data end in exit 2 with one line
naming the file and line, or with `strict: false` in one counted warning and BEIR's own reading; for `path:` and
`beir:` tasks alike. Before, each ran to a scored result with exit 0 and no word."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest
import yaml

from leafbench.assets import cache_dir
from leafbench.cli import main
from leafbench.config import TaskSpec
from leafbench.datasets.beir import DOWNLOAD_MARKER, load_beir_folder
from leafbench.datasets.tasks import load_task
from leafbench.errors import UserError

CORPUS = [{"_id": f"d{i}", "title": "", "text": f"document number {i}"} for i in range(6)]
QUERIES = [{"_id": f"q{i}", "text": f"query number {i}"} for i in range(3)]
QRELS = ["q0\td0\t1", "q1\td1\t2", "q2\td2\t1", "q2\td3\t0"]


def _write(folder: Path, corpus: list[dict] = CORPUS, queries: list[dict] = QUERIES, qrels: list[str] = QRELS,
           header: bool = True) -> Path:
    (folder / "qrels").mkdir(parents=True, exist_ok=True)
    (folder / "corpus.jsonl").write_text("".join(json.dumps(d) + "\n" for d in corpus))
    (folder / "queries.jsonl").write_text("".join(json.dumps(q) + "\n" for q in queries))
    (folder / "qrels" / "test.tsv").write_text(("query-id\tcorpus-id\tscore\n" if header else "")
                                               + "".join(line + "\n" for line in qrels))
    return folder


# name -> (writes the broken folder, the file at fault, its line, words of the message, what strict: false reads)
Case = tuple[Callable[[Path], Path], str, int, str, Callable[[object], bool]]
CASES: dict[str, Case] = {
    "duplicate corpus _id with other text": (
        lambda f: _write(f, corpus=CORPUS + [{"_id": "d1", "title": "", "text": "another text"}]),
        "corpus.jsonl", 7, "duplicate corpus _id", lambda d: d.corpus["d1"]["text"] == "another text"),
    "duplicate query _id": (
        lambda f: _write(f, queries=QUERIES + [{"_id": "q0", "text": "another query"}]),
        "queries.jsonl", 4, "duplicate query _id", lambda d: d.queries["q0"] == "another query"),
    "qrels line repeated with another score": (
        lambda f: _write(f, qrels=QRELS + ["q0\td0\t2"]),
        "qrels/test.tsv", 6, "qrels pair repeated with another score", lambda d: d.qrels["q0"] == {"d0": 2}),
    "non-integer score on the first qrels line": (
        lambda f: _write(f, qrels=["q0\td0\t1.5"] + QRELS[1:], header=False),
        "qrels/test.tsv", 1, "non-integer score", lambda d: "q0" not in d.qrels),
    "corpus line without text": (
        lambda f: _write(f, corpus=CORPUS[:2] + [{"_id": "d2", "title": "no body"}] + CORPUS[3:]),
        "corpus.jsonl", 3, "without a \"text\" field", lambda d: d.corpus["d2"]["text"] == ""),
}


@pytest.mark.parametrize("case", list(CASES))
def test_each_breakage_names_its_file_and_line(tmp_path: Path, case: str) -> None:
    write, rel, line, words, _ = CASES[case]
    folder = write(tmp_path / "broken")
    with pytest.raises(UserError) as err:
        load_beir_folder(folder)
    message = str(err.value)
    assert message.startswith(f"{folder / rel}:{line}: ") and words in message and "strict: false" in message
    assert "\n" not in message


@pytest.mark.parametrize("case", list(CASES))
def test_strict_false_reads_as_beir_with_a_counted_warning(tmp_path: Path, case: str,
                                                           capsys: pytest.CaptureFixture[str]) -> None:
    write, rel, line, words, reads_as_beir = CASES[case]
    data = load_beir_folder(write(tmp_path / "broken"), strict=False)
    assert reads_as_beir(data)
    assert sum(data.meta["format_issues"].values()) == 1  # type: ignore[union-attr]
    warning = " ".join(capsys.readouterr().err.split())  # rich may wrap the line
    assert warning.startswith("warning: ") and words in warning and f": 1 line(s), first at line {line}" in warning


def test_clean_folders_and_identical_repeats_give_no_issue(tmp_path: Path) -> None:
    """A repeat of the same document, query or judgment changes nothing, so it is not an error; a header is a
    header (its ids name no query or document)."""
    folder = _write(tmp_path / "ok", corpus=CORPUS + [CORPUS[0]], queries=QUERIES + [QUERIES[0]],
                    qrels=QRELS + [QRELS[0]])
    data = load_beir_folder(folder)
    assert data.meta["format_issues"] == {} and data.qrels["q0"] == {"d0": 1}


def _cached_download(name: str, write: Callable[[Path], Path]) -> Path:
    """A `beir:` dataset as download_beir leaves it in the cache (with its marker), so nothing is fetched."""
    folder = write(cache_dir() / "beir" / name)
    (folder / DOWNLOAD_MARKER).write_text(json.dumps({"url": "https://example.invalid/x.zip", "md5": None}))
    return folder


@pytest.mark.parametrize("case", list(CASES))
def test_beir_tasks_are_checked_too(case: str) -> None:
    write, rel, line, words, reads_as_beir = CASES[case]
    name = "broken-" + case.split()[0] + str(abs(hash(case)) % 1000)
    folder = _cached_download(name, write)
    with pytest.raises(UserError, match=rf"^{folder / rel}:{line}: .*{words}"):
        load_task(TaskSpec(beir=name))
    assert reads_as_beir(load_task(TaskSpec(beir=name, strict=False)))


def test_beir_downloads_stay_lenient_about_dangling_judgments() -> None:
    """BEIR's own ArguAna zip judges a missing document: a download keeps such lines (as BEIR) unless the suite
    says `strict: true`."""
    folder = _cached_download("dangling", lambda f: _write(f, qrels=QRELS + ["q0\tghost\t1"]))
    assert load_task(TaskSpec(beir="dangling")).meta["dangling_judgments"] == 1
    with pytest.raises(UserError, match=rf"^{folder / 'qrels' / 'test.tsv'}:6: corpus-id 'ghost'"):
        load_task(TaskSpec(beir="dangling", strict=True))


def _run_cli(tmp_path: Path, model: Path, task: dict, capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    """`leafbench run` in-process (`main` is the handler a subprocess would run, minus ~5-9 s of imports): code, stderr."""
    suite = tmp_path / "s.yaml"
    suite.write_text(yaml.safe_dump({"name": "broken", "output": str(tmp_path / "out"), "device": "cpu",
                                     "models": {"m": {"id": str(model)}}, "configs": {"m": {"standard": "m"}},
                                     "tasks": [task], "dims": ["full"], "precisions": ["float32"]}))
    code = main(["run", str(suite)])
    return code, capsys.readouterr().err


@pytest.mark.parametrize("kind", ["path", "beir"])
def test_cli_exit_2_with_one_line(tmp_path: Path, tiny_model: Path, kind: str,
                                  capsys: pytest.CaptureFixture[str]) -> None:
    write, rel, line, words, _ = CASES["qrels line repeated with another score"]
    if kind == "path":
        folder = write(tmp_path / "broken")
        task = {"path": str(folder)}
    else:
        folder = _cached_download("broken-cli", write)
        task = {"beir": "broken-cli"}
    code, stderr = _run_cli(tmp_path, tiny_model, task, capsys)
    errors = [x for x in stderr.splitlines() if str(folder) in x]  # besides the runner's progress lines
    assert code == 2 and len(errors) == 1 and "Traceback" not in stderr, stderr
    assert errors[0].startswith(f"error: {folder / rel}:{line}: ") and words in errors[0], stderr

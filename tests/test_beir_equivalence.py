"""End to end on a real packaged model and real packaged data: leafbench's scores equal BEIR's and
sentence-transformers' own evaluators (float32, full dim) to 1e-4."""

from pathlib import Path

import pytest
import yaml

from leafbench.assets import MINILM_ID, resolve_model
from leafbench.config import load_suite
from leafbench.datasets.beir import load_beir_folder
from leafbench.datasets.packaged import build_packaged_task
from leafbench.runner import run_suite

K_VALUES = [1, 3, 5, 10, 100]


@pytest.fixture(scope="module")
def bbc_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_packaged_task("bbc-news-titles", max_docs=120, max_queries=40)


def test_scores_equal_beir_and_sentence_transformers(tmp_path: Path, bbc_folder: Path) -> None:
    from beir.retrieval import models
    from beir.retrieval.evaluation import EvaluateRetrieval
    from beir.retrieval.search.dense import DenseRetrievalExactSearch
    from sentence_transformers.evaluation import InformationRetrievalEvaluator

    suite_path = tmp_path / "s.yaml"
    suite_path.write_text(yaml.safe_dump({
        "name": "equiv", "output": str(tmp_path / "out"), "device": "cpu",
        "models": {"minilm": {"id": MINILM_ID, "max_seq_length": 128}},
        "configs": {"minilm": {"standard": "minilm"}},
        "tasks": [{"path": str(bbc_folder), "name": "bbc"}], "k_values": K_VALUES}))
    ours = run_suite(load_suite(suite_path)).records[0].scores

    data = load_beir_folder(bbc_folder)
    beir_model = models.SentenceBERT(resolve_model(MINILM_ID))
    beir_model.q_model.max_seq_length = beir_model.doc_model.max_seq_length = 128
    retriever = EvaluateRetrieval(DenseRetrievalExactSearch(beir_model, batch_size=32), score_function="cos_sim",
                                  k_values=K_VALUES)
    results = retriever.retrieve(data.corpus, data.queries)
    ndcg, _map, recall, _p = retriever.evaluate(data.qrels, results, K_VALUES)
    for metric, expected in (("NDCG@10", ndcg), ("MAP@100", _map), ("Recall@100", recall)):
        assert ours[metric] == pytest.approx(expected[metric], abs=1e-4), metric

    evaluator = InformationRetrievalEvaluator(
        queries=data.queries, corpus=dict(zip(sorted(data.corpus), data.doc_texts(sorted(data.corpus)))),
        relevant_docs={q: {d for d, g in rels.items() if g > 0} for q, rels in data.qrels.items()},
        ndcg_at_k=[10], map_at_k=[100], accuracy_at_k=[1], precision_recall_at_k=[100], mrr_at_k=[10], name="bbc")
    st = evaluator(beir_model.q_model)
    assert ours["NDCG@10"] == pytest.approx(st["bbc_cosine_ndcg@10"], abs=1e-4)
    assert ours["MAP@100"] == pytest.approx(st["bbc_cosine_map@100"], abs=1e-4)
    assert ours["Recall@100"] == pytest.approx(st["bbc_cosine_recall@100"], abs=1e-4)
    assert ours["MRR@10"] == pytest.approx(st["bbc_cosine_mrr@10"], abs=1e-4)

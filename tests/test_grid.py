"""The grid evaluator on tiny models: every cell from one encoding pass, resume, force, and its errors."""

from pathlib import Path

import numpy as np
import pytest
import yaml

from leafbench.config import load_suite
from leafbench.datasets.beir import load_beir_folder
from leafbench.errors import UserError
from leafbench.metrics import evaluate_run
from leafbench.results import iter_records
from leafbench.runner import run_suite


def make_suite(tmp_path: Path, teacher: Path, student: Path, beir: Path, **extra: object) -> Path:
    data = {
        "name": "grid",
        "output": str(tmp_path / "results"),
        "device": "cpu",
        "models": {"teacher": {"id": str(teacher)}, "student": {"id": str(student), "query_prompt": "q: "}},
        "configs": {"teacher": {"standard": "teacher"}, "student": {"standard": "student"},
                    "asym": {"asymmetric": {"query": "student", "document": "teacher"}}},
        "tasks": [{"path": str(beir)}],
        "dims": ["full", 64],
        "precisions": ["float32", "int8", "binary"],
        "k_values": [1, 10, 100],
        **extra,
    }
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_grid_encodes_once_and_resumes(tmp_path: Path, tiny_model: Path, tiny_model_b: Path,
                                       small_beir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEAFBENCH_CACHE", str(tmp_path / "cache"))  # count encodings from an empty store
    suite = load_suite(make_suite(tmp_path, tiny_model, tiny_model_b, small_beir))
    first = run_suite(suite)
    assert first.computed == 3 * 2 * 3 and first.reused == 0
    # distinct (model, role, text): teacher docs 16 + queries 8 (alignment), student docs 16 + queries 8
    assert first.encoded_texts == 48
    files = sorted((suite.results_dir / "retrieval" / "small-beir").rglob("*.json"))
    assert [f.relative_to(suite.results_dir / "retrieval" / "small-beir").as_posix() for f in files][:3] == [
        "asym/dim128-binary.json", "asym/dim128-float32.json", "asym/dim128-int8.json"]
    asym = [r for r in first.records if r.config == "asym"]
    assert all(0.0 <= r.alignment["top10_overlap_with_teacher"] <= 1.0 for r in asym)
    assert all(r.alignment is None for r in first.records if r.config != "asym")
    assert {r.variant.split(":")[0] for r in first.records} == {"float32", "int8", "binary"}

    second = run_suite(suite)
    assert (second.computed, second.reused, second.encoded_texts) == (0, 18, 0)
    assert [r.scores for r in second.records] == [r.scores for r in first.records]

    forced = run_suite(suite, force=True)
    assert (forced.computed, forced.encoded_texts) == (18, 0)


def test_full_dim_float32_equals_brute_force(tmp_path: Path, tiny_model: Path, tiny_model_b: Path,
                                             small_beir: Path) -> None:
    from sentence_transformers import SentenceTransformer

    suite = load_suite(make_suite(tmp_path, tiny_model, tiny_model_b, small_beir, precisions=["float32"]))
    rec = next(r for r in run_suite(suite).records if r.config == "teacher" and r.dim == 128)
    data = load_beir_folder(small_beir)
    qids, dids = sorted(data.queries), sorted(data.corpus)
    model = SentenceTransformer(str(tiny_model), device="cpu")
    q = model.encode([data.queries[i] for i in qids], normalize_embeddings=True)
    d = model.encode(data.doc_texts(dids), normalize_embeddings=True)
    scores = q @ d.T
    run = {qid: {did: float(s) for did, s in zip(dids, row)} for qid, row in zip(qids, scores)}
    expected, _ = evaluate_run(data.qrels, run, [1, 10, 100])
    for metric in ("NDCG@10", "MAP@100", "Recall@100", "MRR@10"):
        assert rec.scores[metric] == pytest.approx(expected[metric], abs=1e-5), metric


def test_dim_larger_than_model_is_an_error(tmp_path: Path, tiny_model: Path, tiny_model_b: Path,
                                           small_beir: Path) -> None:
    suite = load_suite(make_suite(tmp_path, tiny_model, tiny_model_b, small_beir, dims=[768]))
    with pytest.raises(UserError, match=r"^dims: 768 is larger than the 128-d embeddings of config '\w+'"):
        run_suite(suite)


def test_missing_dataset_folder(tmp_path: Path, tiny_model: Path, tiny_model_b: Path) -> None:
    suite = load_suite(make_suite(tmp_path, tiny_model, tiny_model_b, tmp_path / "nowhere"))
    with pytest.raises(UserError, match="nowhere"):
        run_suite(suite)
    assert not list((tmp_path / "results").rglob("*.json"))


def test_only_filters_tasks_and_rejects_unknown(tmp_path: Path, tiny_model: Path, tiny_model_b: Path,
                                                small_beir: Path) -> None:
    suite = load_suite(make_suite(tmp_path, tiny_model, tiny_model_b, small_beir))
    with pytest.raises(UserError, match="--only nope: no such task"):
        run_suite(suite, only=["nope"])
    assert run_suite(suite, only=["small-beir"]).computed == 18
    assert len(iter_records(suite.results_dir)) == 18
    assert np.isfinite([r["scores"]["NDCG@10"] for r in iter_records(suite.results_dir)]).all()

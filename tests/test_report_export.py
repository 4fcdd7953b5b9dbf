"""`leafbench export --format mteb`: the hand-made results folder, loaded back by mteb's own ResultCache."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from fixtures.report_results import HEADLINE, OTHER, make_results
from leafbench.cli import main
from leafbench.report.export import _count_parameters, export_mteb, mteb_scores


def _expected() -> dict[tuple[str, str, int, str], float]:
    full = {"teacher": 768, "student": 384, "leaf-asym": 768}
    out = {(t, c, full[c], "float32"): round(sum(v) / len(v), 6) for (t, c), v in HEADLINE.items()}
    return {**out, **OTHER}


def test_export_round_trips_through_mteb(tmp_path: Path) -> None:
    import mteb

    results = make_results(tmp_path / "results")
    outcome = export_mteb(results, tmp_path / "export")
    assert outcome.out == tmp_path / "export" / "results" and len(outcome.files) == 35
    assert outcome.models == {"sentence-transformers/all-mpnet-base-v2", "sentence-transformers/all-MiniLM-L6-v2",
                              "leafbench/leaf-asym"}

    loaded = mteb.ResultCache(cache_path=tmp_path / "export").load_results(include_remote=False,
                                                                           load_experiments="match_name")
    tasks = {"SciFact": "alpha", "BBCNewsTitleRetrieval": "beta"}
    names = {"sentence-transformers/all-mpnet-base-v2": "teacher", "sentence-transformers/all-MiniLM-L6-v2": "student",
             "leafbench/leaf-asym": "leaf-asym"}
    got = {}
    for model in loaded.model_results:
        meta = model.model_meta
        kwargs = dict(meta.experiment_kwargs or {})
        full = {"teacher": 768, "student": 384, "leaf-asym": 768}[names[model.model_name]]
        dim = kwargs.get("embed_dim", full)
        precision = {None: "float32", "binary": "binary"}.get(kwargs.get("output_dtypes"), "int8")
        assert meta.embed_dim == dim and meta.similarity_fn_name is not None and meta.n_parameters
        for task in model.task_results:
            got[(tasks[task.task_name], names[model.model_name], dim, precision)] = task.get_score()
    assert got == pytest.approx(_expected())

    # identities: the teacher's headline is the revision folder itself; variants are experiments; the asymmetric
    # config is its own model, adapted from its document model, sized by its query model (what runs per request)
    teacher = tmp_path / "export" / "results" / "sentence-transformers__all-mpnet-base-v2" / "fp-teacher"
    head = json.loads((teacher / "model_meta.json").read_text())
    registry = mteb.get_model_meta("sentence-transformers/all-mpnet-base-v2")
    assert head["experiment_kwargs"] is None and head["embed_dim"] == 768 and head["license"] == registry.license
    assert head["n_parameters"] == registry.n_parameters and head["release_date"] == registry.release_date
    assert head["max_tokens"] == registry.max_tokens and head["similarity_fn_name"] == "cosine"
    variant = json.loads((teacher / "experiments" / "embed_dim_256__output_dtypes_binary" / "model_meta.json")
                         .read_text())
    assert variant["embed_dim"] == 256 and variant["output_dtypes"] == ["binary"]
    scifact = json.loads((teacher / "SciFact.json").read_text())
    assert scifact["dataset_revision"] == mteb.get_task("SciFact").metadata.revision
    assert scifact["scores"]["test"][0]["main_score"] == scifact["scores"]["test"][0]["ndcg_at_10"] == 0.916667
    bbc = json.loads((teacher / "BBCNewsTitleRetrieval.json").read_text())
    assert bbc["dataset_revision"].endswith("-d100-q12-s0")
    asym = next((tmp_path / "export" / "results" / "leafbench__leaf-asym").glob(
        "*/experiments/symmetric_side_query/model_meta.json"))
    asym_meta = json.loads(asym.read_text())
    assert asym_meta["adapted_from"] == "sentence-transformers/all-mpnet-base-v2"
    assert asym_meta["n_parameters"] == mteb.get_model_meta("sentence-transformers/all-MiniLM-L6-v2").n_parameters
    assert asym_meta["experiment_kwargs"] == {"symmetric_side": "query"}


def test_metric_names_and_parameter_count(tiny_model: Path) -> None:
    from sentence_transformers import SentenceTransformer

    assert mteb_scores({"NDCG@10": 0.5, "P@5": 0.2, "MRR@10": 0.7, "Recall@100": 1.0, "MAP@1000": 0.4}) == {
        "ndcg_at_10": 0.5, "precision_at_5": 0.2, "mrr_at_10": 0.7, "recall_at_100": 1.0, "map_at_1000": 0.4,
        "main_score": 0.5}
    model = SentenceTransformer(str(tiny_model), device="cpu")
    assert _count_parameters(str(tiny_model)) == sum(p.numel() for p in model.parameters())


def test_export_cli_errors(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    assert main(["export", str(tmp_path / "empty"), "--format", "mteb", "--out", str(tmp_path / "x")]) == 2


def test_local_model_card_fills_what_no_registry_knows(tmp_path: Path) -> None:
    from leafbench.report.export import _local_card

    folder = tmp_path / "leaf"
    folder.mkdir()
    (folder / "modules.json").write_text("[]")
    (folder / "model.safetensors").write_bytes(b"")
    (folder / "README.md").write_text("---\nlicense: apache-2.0\nbase_model: sentence-transformers/all-MiniLM-L6-v2\n"
                                      "---\n# leaf\n")
    card = _local_card(str(folder))
    assert card["license"] == "apache-2.0" and card["adapted_from"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert len(card["release_date"]) == 10  # the day the weights were written, ISO format
    assert _local_card("sentence-transformers/all-MiniLM-L6-v2") == {}  # a hub id: the registry speaks for it

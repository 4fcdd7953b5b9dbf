"""A cell is reused only while everything that made it is unchanged: weights, resolved dtype, task data; and a
finished suite is checked without loading a model. Each "-> recomputed" test here failed before cell identities."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest
import yaml

from leafbench.config import load_suite
from leafbench.runner import run_suite


def write_suite(tmp_path: Path, model: Path, task: dict, **extra: object) -> Path:
    data = {"name": "ident", "output": str(tmp_path / "results"), "device": "cpu",
            "models": {"m": {"id": str(model)}}, "configs": {"m": {"standard": "m"}}, "tasks": [task],
            "dims": ["full", 64], "precisions": ["float32", "binary"], "k_values": [1, 10], **extra}
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


@pytest.fixture
def own_model(tmp_path: Path, tiny_model: Path) -> Path:
    """A private copy of the tiny model: tests edit its files in place."""
    return Path(shutil.copytree(tiny_model, tmp_path / "model"))


def scores(outcome) -> dict:
    return {(r.dim, r.precision): r.scores["NDCG@10"] for r in outcome.records}


def test_rerun_of_a_finished_suite_loads_no_model(tmp_path: Path, own_model: Path, small_beir: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    suite = load_suite(write_suite(tmp_path, own_model, {"path": str(small_beir)},
                                   mteb={"tasks": ["LeeDocumentSimilaritySTS"], "dims": ["full"],
                                         "precisions": ["float32"]}))
    assert run_suite(suite).computed == 4 + 1
    from leafbench import encoders

    def no_loading(*args, **kwargs):
        raise AssertionError("a model was loaded to check finished cells")

    monkeypatch.setattr(encoders.Encoder, "__init__", no_loading)
    again = run_suite(suite)
    assert (again.computed, again.reused) == (0, 4 + 1)


def test_batch_size_and_a_moved_results_folder_do_not_recompute(tmp_path: Path, own_model: Path,
                                                               small_beir: Path) -> None:
    path = write_suite(tmp_path, own_model, {"path": str(small_beir)})
    assert run_suite(load_suite(path)).computed == 4
    shutil.move(tmp_path / "results", tmp_path / "moved")
    raw = yaml.safe_load(path.read_text())
    raw["models"]["m"]["batch_size"] = 3
    raw["output"] = str(tmp_path / "moved")
    path.write_text(yaml.safe_dump(raw))
    again = run_suite(load_suite(path))
    assert (again.computed, again.reused) == (0, 4)


def test_weights_changed_in_place_are_recomputed(tmp_path: Path, own_model: Path, tiny_model_b: Path,
                                                 small_beir: Path) -> None:
    suite = load_suite(write_suite(tmp_path, own_model, {"path": str(small_beir)}))
    first = run_suite(suite)
    shutil.copyfile(tiny_model_b / "model.safetensors", own_model / "model.safetensors")  # same path, new weights
    second = run_suite(suite)
    assert (second.computed, second.reused) == (4, 0)
    assert second.records[0].query_model["fingerprint"] != first.records[0].query_model["fingerprint"]
    assert scores(second) != scores(first)
    assert run_suite(suite).reused == 4  # and the new weights' cells are reused in turn


def test_dtype_auto_resolving_differently_is_recomputed(tmp_path: Path, own_model: Path, small_beir: Path,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    """The same results folder on an fp32-only CPU, then on one with native bf16 (`dtype: auto`)."""
    import leafbench.hardware as hardware

    path = write_suite(tmp_path, own_model, {"path": str(small_beir)})
    raw = yaml.safe_load(path.read_text())
    raw["models"]["m"]["dtype"] = "auto"
    path.write_text(yaml.safe_dump(raw))
    suite = load_suite(path)
    monkeypatch.setattr(hardware, "native_bf16", lambda device: False)
    first = run_suite(suite)
    monkeypatch.setattr(hardware, "native_bf16", lambda device: True)
    second = run_suite(suite)
    assert second.computed == 4
    assert {r.query_model["dtype"] for r in first.records} == {"fp32"}
    assert {r.query_model["dtype"] for r in second.records} == {"bf16"}


def test_packaged_task_version_bump_is_recomputed(tmp_path: Path, own_model: Path,
                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    from leafbench.datasets import packaged

    suite = load_suite(write_suite(tmp_path, own_model, {"packaged": "bbc-news-titles", "max_docs": 30}))
    assert run_suite(suite).computed == 4
    assert run_suite(suite).reused == 4
    task = packaged.PACKAGED_TASKS["bbc-news-titles"]
    monkeypatch.setitem(packaged.PACKAGED_TASKS, "bbc-news-titles", dataclasses.replace(task, version=task.version + 1))
    assert run_suite(suite).computed == 4


def test_local_beir_folder_edits_are_recomputed(tmp_path: Path, own_model: Path, small_beir: Path) -> None:
    suite = load_suite(write_suite(tmp_path, own_model, {"path": str(small_beir)}))
    first = run_suite(suite)
    qrels = small_beir / "qrels" / "test.tsv"
    lines = qrels.read_text().splitlines()
    qrels.write_text("\n".join(line for line in lines if not line.startswith("q-space-a\tspace-2")) + "\n")
    second = run_suite(suite)
    assert second.computed == 4
    assert second.records[0].task_size["qrels"] == first.records[0].task_size["qrels"] - 1
    corpus = small_beir / "corpus.jsonl"
    corpus.write_text(corpus.read_text().replace("rocket launch orbit", "rocket launch orbit delayed"))
    assert run_suite(suite).computed == 4


def test_stale_full_dim_in_an_old_record_does_not_fail_a_valid_suite(tmp_path: Path, own_model: Path,
                                                                     small_beir: Path) -> None:
    """Records once stored the full dim that the finished-cell check trusted: a stale one raised a false dims error."""
    import json

    suite = load_suite(write_suite(tmp_path, own_model, {"path": str(small_beir)}))
    run_suite(suite)
    for cell in (suite.results_dir / "retrieval").rglob("*.json"):
        rec = json.loads(cell.read_text())
        cell.write_text(json.dumps({**rec, "full_dim": 32}))
    again = run_suite(suite)
    assert again.computed + again.reused == 4


def test_report_after_removing_a_dim_shows_no_cell_of_that_dim(tmp_path: Path, own_model: Path,
                                                               small_beir: Path) -> None:
    from leafbench.report import load_results

    path = write_suite(tmp_path, own_model, {"path": str(small_beir)})
    suite = load_suite(path)
    run_suite(suite)
    assert {k[2] for k in load_results([suite.results_dir]).cells} == {128, 64}
    raw = yaml.safe_load(path.read_text())
    raw["dims"] = ["full"]
    path.write_text(yaml.safe_dump(raw))
    assert run_suite(load_suite(path)).reused == 2
    latest = load_results([suite.results_dir])
    assert {k[2] for k in latest.cells} == {128}
    assert any("not in the latest run" in n for n in latest.notes)
    assert {k[2] for k in load_results([suite.results_dir], all_runs=True).cells} == {128, 64}
    assert {k[2] for k in load_results([tmp_path / "results"]).cells} == {128}  # a parent folder: the same rule


def test_run_manifest_lists_the_cells_with_their_identities(tmp_path: Path, own_model: Path,
                                                            small_beir: Path) -> None:
    from leafbench.records import RUN_MANIFEST, RetrievalCell, RunManifest, read_record

    suite = load_suite(write_suite(tmp_path, own_model, {"path": str(small_beir)}))
    out = run_suite(suite)
    manifest = read_record(suite.results_dir / RUN_MANIFEST, RunManifest)
    assert manifest is not None and manifest.status == "complete" and len(manifest.cells) == 4
    for cell, rec in zip(manifest.cells, out.records):
        on_disk = read_record(suite.results_dir / cell.path, RetrievalCell)
        assert on_disk is not None and on_disk.cell_hash == cell.cell_hash == rec.cell_hash
        assert on_disk.identity["dim"] == cell.dim and set(on_disk.embeddings) == {"query", "document"}
        assert on_disk.identity["embeddings"]["query"]["dtype"] == "fp32"


TEXTS = ["the rocket reached orbit", "astronauts train for months", "a galaxy far away", "bread needs yeast",
         "tomato soup recipe", "grilled fish with lemon", "the striker scored twice", "five set tennis final",
         "runners at dawn", "interest rates rise", "stocks fall sharply", "profits beat forecasts"] * 4


def test_distill_retraining_into_the_same_folder_is_recomputed(tmp_path: Path, tiny_model: Path, tiny_model_b: Path,
                                                               small_beir: Path,
                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """The distill stage retrains into the same run folder (here: the evaluation queries it must leave out changed):
    the student has new weights, so the grid scores it again instead of reusing the old student's cells."""
    import leafbench.distill.stage as stage

    (tmp_path / "texts.txt").write_text("\n".join(TEXTS) + "\n")
    path = write_suite(tmp_path, tiny_model, {"path": str(small_beir), "name": "beir"}, precisions=["float32"],
                       dims=["full"])
    raw = yaml.safe_load(path.read_text())
    raw["models"] = {"teacher": {"id": str(tiny_model)}, "student": {"id": str(tiny_model_b)}}
    raw["configs"] = {"leaf": {"standard": "leaf"}}
    raw["distill"] = {"teacher": "teacher", "student": "student",
                      "data": {"sources": [{"file": str(tmp_path / "texts.txt")}], "validation": 8},
                      "training": {"epochs": 1, "batch_size": 8, "checkpoint_every": 100}}
    path.write_text(yaml.safe_dump(raw))
    first = run_suite(load_suite(path))
    assert first.computed == 1
    assert run_suite(load_suite(path)).reused == 1
    monkeypatch.setattr(stage, "_eval_queries", lambda suite: [TEXTS[0]])  # other queries to leave out: retrain
    second = run_suite(load_suite(path))
    assert second.computed == 1
    assert second.records[0].query_model["fingerprint"] != first.records[0].query_model["fingerprint"]
    assert second.records[0].query_model["id"] == first.records[0].query_model["id"]  # the same folder


def _age(folder: Path) -> None:
    """Back-date a folder's files (as any file not written in the last seconds): their digest may be cached."""
    import os
    import time

    old = time.time() - 3600
    for f in folder.rglob("*"):
        os.utime(f, (old, old))


def test_beir_task_is_stamped_from_its_cached_files(tmp_path: Path, own_model: Path, small_beir: Path) -> None:
    """#20 item 5: a `beir:` task's identity came from the md5 written in the suite, not from the cached folder it
    is read from: an edited (or re-downloaded) cached folder reused the old cells."""
    from leafbench.assets import cache_dir
    from leafbench.datasets.beir import DOWNLOAD_MARKER

    cached = Path(shutil.copytree(small_beir, cache_dir() / "beir" / "scifact"))  # as download_beir leaves it
    (cached / DOWNLOAD_MARKER).write_text('{"url": "https://example.invalid/scifact.zip", "md5": null}')
    suite = load_suite(write_suite(tmp_path, own_model, {"beir": "scifact"}))
    first = run_suite(suite)
    assert run_suite(suite).reused == 4
    corpus = cached / "corpus.jsonl"
    corpus.write_text(corpus.read_text().replace("rocket launch orbit", "bread with yeast"))
    second = run_suite(suite)
    assert (second.computed, second.reused) == (4, 0) and scores(second) != scores(first)


def test_folder_digest_is_cached_by_file_stats(tmp_path: Path, small_beir: Path,
                                               monkeypatch: pytest.MonkeyPatch) -> None:
    """A rerun stats the three files instead of reading a (possibly multi-GB) corpus; an edit is digested again,
    and a file written in the last seconds is never trusted from the cache."""
    from leafbench import identity

    _age(small_beir)
    first = identity.beir_folder_digest(small_beir, "test")
    reads: list[int] = []
    real = identity.file_digest
    monkeypatch.setattr(identity, "file_digest", lambda paths: reads.append(1) or real(paths))
    assert identity.beir_folder_digest(small_beir, "test") == first and reads == []
    qrels = small_beir / "qrels" / "test.tsv"
    qrels.write_text(qrels.read_text() + "q-food-a\tfood-3\t1\n")
    edited = identity.beir_folder_digest(small_beir, "test")
    assert edited != first and reads == [1]
    assert identity.beir_folder_digest(small_beir, "test") == edited and reads == [1, 1]  # just written: re-read
    _age(small_beir)
    identity.beir_folder_digest(small_beir, "test")
    assert identity.beir_folder_digest(small_beir, "test") == edited and reads == [1, 1, 1]

"""The MTEB bridge on tiny models and small offline tasks: one encoding pass per (model, role), results mteb loads,
float32/full-dim parity with plain `mteb.evaluate`, int8 calibration on the document side, resume."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from leafbench.config import parse_suite
from leafbench.datasets.mteb_tasks import (BBCNewsTitleRetrieval, BBCNewsTopicClassification,
                                           BBCNewsTopicClustering, LeeDocumentSimilaritySTS, read_lee_corpus)
from leafbench.embed import EmbeddingService
from leafbench.encoders import Encoder
from leafbench.evaluate.mteb.calibration import calibrations_for
from leafbench.evaluate.mteb.encoders import Route, Routing
from leafbench.evaluate.mteb.grid import MtebGrid
from leafbench.evaluate.mteb.results import load_results
from leafbench.transforms import calibrate_int8, truncate

LEE_DOCS = 10  # the bridge's STS path on 45 pairs instead of 1,225: same code, a fraction of plain mteb's encoding


class SmallLee(LeeDocumentSimilaritySTS):
    """The Lee STS task restricted to pairs among its first documents (plain mteb encodes every pair's texts)."""

    def build(self) -> Any:
        keep = set(read_lee_corpus()[0][:LEE_DOCS])
        data = super().build()
        data["test"] = data["test"].filter(lambda row: row["sentence1"] in keep and row["sentence2"] in keep)
        return data


def small_tasks() -> list[Any]:
    return [BBCNewsTitleRetrieval(max_docs=60, max_queries=20), SmallLee()]


CONFIGS = {"a": {"standard": "a"}, "b": {"standard": "b"}, "asym": {"asymmetric": {"query": "b", "document": "a"}}}


def make_suite(tmp_path: Path, a: Path, b: Path, configs: dict[str, Any] = CONFIGS, **mteb: Any) -> Any:
    data = {
        "name": "mteb-bridge", "output": str(tmp_path / "results"), "device": "cpu",
        "models": {"a": {"id": str(a)}, "b": {"id": str(b)}}, "configs": configs,
        "dims": ["full", 64], "precisions": ["float32", "int8", "binary"],
        "mteb": {"tasks": ["LeeDocumentSimilaritySTS"], **mteb},
    }
    return parse_suite(data, tmp_path / "suite.yaml")


def run_grid(suite: Any, tasks: list[Any], force: bool = False) -> tuple[MtebGrid, list[dict[str, Any]]]:
    """The MTEB stage alone, on a store private to the suite's folder (so encoder passes can be counted)."""
    service = EmbeddingService(suite.models, device="cpu", store_root=suite.results_dir / "store")
    grid = MtebGrid(suite, service, suite.results_dir, force=force)
    records = [rec for task in tasks for rec in grid.run(task)]
    grid.write_leaderboard(records)
    return grid, records


@pytest.fixture(scope="module")
def grid_run(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path, tiny_model_b: Path) -> dict[str, Any]:
    """Three configs x 2 dims x 3 precisions over a retrieval and an STS task, counting encoder passes."""
    tmp = tmp_path_factory.mktemp("mteb-grid")
    suite = make_suite(tmp, tiny_model, tiny_model_b)
    passes: Counter[tuple[str, str]] = Counter()
    original = Encoder.encode

    def counting(self: Encoder, texts: list[str], role: str, progress: Any = None) -> np.ndarray:
        passes[(self.name, role)] += 1
        return original(self, texts, role, progress)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(Encoder, "encode", counting)
        grid, records = run_grid(suite, small_tasks())
        first_passes = Counter(passes)
        again, reused = run_grid(suite, small_tasks())
    return {"suite": suite, "grid": grid, "records": records, "passes": first_passes,
            "again": again, "reused": reused, "passes_after_rerun": Counter(passes)}


def test_one_encoding_pass_per_distinct_model_and_role(grid_run: dict[str, Any]) -> None:
    grid, records = grid_run["grid"], grid_run["records"]
    assert grid.computed == len(records) == 2 * 3 * 2 * 3  # tasks x configs x dims x precisions
    # retrieval: a/query, a/document (configs a, asym), b/query (b, asym), b/document (b);
    # STS (no prompt type): the query side of each config -> a/query, b/query
    assert grid_run["passes"] == Counter({("a", "query"): 2, ("a", "document"): 1, ("b", "query"): 2,
                                          ("b", "document"): 1})
    # a re-run reuses every cell and encodes nothing
    assert grid_run["again"].computed == 0 and grid_run["again"].reused == len(records)
    assert grid_run["passes_after_rerun"] == grid_run["passes"]
    assert [r.main_score for r in grid_run["reused"]] == [r.main_score for r in records]


def test_results_are_mteb_layout_and_load_with_mteb(grid_run: dict[str, Any]) -> None:
    from mteb import TaskResult

    root = grid_run["suite"].results_dir / "mteb"
    files = [p for p in (root / "results").rglob("*.json") if p.name != "model_meta.json"]
    assert len(files) == len(grid_run["records"])
    loaded = load_results(root / "results")
    assert sum(len(m.task_results) for m in loaded.model_results) == len(files)
    by_key = {(m.model_name, m.experiment_name, t.task_name): t.get_score()
              for m in loaded.model_results for t in m.task_results}
    for rec in grid_run["records"]:
        assert (root / rec.mteb_file).parent.joinpath("model_meta.json").is_file()
        assert by_key[(rec.model_name, rec.experiment, rec.task)] == pytest.approx(rec.main_score,
                                                                                             abs=1e-6)
        assert TaskResult.from_disk(root / rec.mteb_file).task_name == rec.task
    full = [r for r in grid_run["records"] if r.config == "a" and r.dim == r.full_dim
            and r.precision == "float32"]
    assert {r.experiment for r in full} == {None}  # the model as published: the revision folder itself
    assert all("/experiments/" not in r.mteb_file for r in full)
    variant = next(r for r in grid_run["records"] if r.config == "a" and r.dim == 64
                   and r.precision == "int8")
    assert variant.experiment == "embed_dim_64__int8_scheme_symmetric__output_dtypes_int8"
    asym = [r for r in grid_run["records"] if r.config == "asym"]
    assert {r.model_name for r in asym} == {"leafbench/asym"}
    assert all(r.experiment_kwargs["symmetric_side"] == "query" for r in asym)
    assert {r.symmetric_model["name"] for r in asym} == {"b"}


def test_int8_is_calibrated_on_documents_when_the_task_has_them(grid_run: dict[str, Any]) -> None:
    calib = {(r.task, r.precision): r.calibration for r in grid_run["records"]}
    assert calib[("BBCNewsTitleRetrieval", "int8")] == "document side"
    assert calib[("LeeDocumentSimilaritySTS", "int8")] == "all task texts"
    assert calib[("BBCNewsTitleRetrieval", "float32")] is None

    grid: MtebGrid = grid_run["grid"]
    task = BBCNewsTitleRetrieval(max_docs=60, max_queries=20)
    task.load_data()
    calls = grid._discover(task)
    routing = Routing(Route("b", "query"), Route("a", "document"), Route("b", "query"))
    calibration = calibrations_for(grid.service, calls, routing)
    assert calibration.sources == {"default": "document side"}
    docs = [t for c in calls if c.prompt_type == "document" for t in c.texts]
    doc_emb = grid.service.embed("a", "document", list(dict.fromkeys(docs)))
    expected = calibrate_int8(truncate(doc_emb, 64), "int8")
    np.testing.assert_array_equal(calibration("default", 64, "int8").scale, expected.scale)


def test_leaderboard_rows_per_config_dim_precision(grid_run: dict[str, Any]) -> None:
    import json

    board = json.loads((grid_run["suite"].results_dir / "mteb" / "leaderboard.json").read_text())
    rows = {(r["config"], r["dim"], r["precision"]): r for r in board["rows"]}
    assert len(rows) == 3 * 2 * 3
    row = rows[("a", 128, "float32")]
    assert row["n_tasks"] == 2 and set(row["tasks"]) == {"BBCNewsTitleRetrieval", "LeeDocumentSimilaritySTS"}
    assert row["Mean (Task)"] == pytest.approx(sum(row["tasks"].values()) / 2)
    assert row["Retrieval"] == row["tasks"]["BBCNewsTitleRetrieval"] and row["STS"] == row["tasks"][
        "LeeDocumentSimilaritySTS"]


def test_float32_full_dim_equals_plain_mteb(tmp_path: Path, tiny_model: Path, tiny_model_b: Path) -> None:
    """leafbench's path (store, routing, transforms) scores exactly what mteb scores for the SentenceTransformer.

    Model `b` carries a query prompt of its own, as retrieval models do: mteb uses it for retrieval queries and no
    prompt for STS, and so must the bridge.
    """
    import mteb
    from sentence_transformers import SentenceTransformer
    from threadpoolctl import threadpool_limits

    prompted = SentenceTransformer(str(tiny_model_b), device="cpu")
    prompted.prompts = {"query": "query: ", "document": ""}
    prompted.save(str(tmp_path / "prompted"))

    def tasks(all_types: bool = True) -> list[Any]:
        more = [BBCNewsTopicClassification(max_docs=60), BBCNewsTopicClustering(max_docs=60)] if all_types else []
        return [*more, BBCNewsTitleRetrieval(max_docs=60, max_queries=20), SmallLee()]

    suite = make_suite(tmp_path, tiny_model, tmp_path / "prompted", configs={"a": CONFIGS["a"], "b": CONFIGS["b"]},
                       dims=["full"], precisions=["float32"])
    _, records = run_grid(suite, tasks())
    ours = {(r.config, r.task): r.main_score for r in records}
    sts_b = next(r for r in records if r.config == "b" and r.task == "LeeDocumentSimilaritySTS")
    assert sts_b.symmetric_model == {"name": "b", "role": "document", "prompt": ""}
    for config, path, all_types in (("a", tiny_model, True), ("b", tmp_path / "prompted", False)):
        model = SentenceTransformer(str(path), device="cpu")
        for task in tasks(all_types):
            with threadpool_limits(1):  # as the bridge scores (sklearn spin-waits on a busy CPU); same results
                plain = mteb.evaluate(model, task, cache=None, co2_tracker=False, show_progress_bar=False)
            assert ours[(config, task.metadata.name)] == pytest.approx(plain.task_results[0].get_score(), abs=1e-5), \
                (config, task.metadata.name)


class OtherBBCRetrieval(BBCNewsTitleRetrieval):
    """A second retrieval task (another subset of the same data under another name), to aggregate with the first."""

    metadata = BBCNewsTitleRetrieval.metadata.model_copy(update={"name": "OtherBBCRetrieval"})


def test_aggregate_tasks_combine_their_subtasks_as_mteb_does(tmp_path: Path, tiny_model: Path,
                                                             tiny_model_b: Path) -> None:
    from mteb import TaskResult
    from mteb.abstasks.aggregate_task_metadata import AggregateTaskMetadata
    from mteb.abstasks.aggregated_task import AbsTaskAggregate

    class Aggregate(AbsTaskAggregate):
        metadata = AggregateTaskMetadata(
            name="OfflineRetrievalAggregate", description="Two BBC retrieval subsets, averaged.", type="Retrieval",
            tasks=[BBCNewsTitleRetrieval(max_docs=60, max_queries=20),
                   OtherBBCRetrieval(max_docs=40, max_queries=10, seed=1)],
            main_score="ndcg_at_10", eval_splits=["test"])

    suite = make_suite(tmp_path, tiny_model, tiny_model_b, configs={"a": CONFIGS["a"]}, dims=["full"],
                       precisions=["float32", "int8"])
    grid, records = run_grid(suite, [Aggregate()])
    assert [r.task for r in records] == ["BBCNewsTitleRetrieval"] * 2 + ["OtherBBCRetrieval"] * 2 + [
        "OfflineRetrievalAggregate"] * 2
    for agg in records[-2:]:
        parts = [r for r in records if r.precision == agg.precision and r.task in agg.subtasks]
        assert agg.main_score == pytest.approx(np.mean([r.main_score for r in parts]), abs=1e-6)
        on_disk = TaskResult.from_disk(suite.results_dir / "mteb" / agg.mteb_file)
        assert on_disk.task_name == "OfflineRetrievalAggregate"
        assert Path(agg.mteb_file).parent == Path(parts[0].mteb_file).parent  # beside its sub-tasks
    import json

    rows = json.loads((suite.results_dir / "mteb" / "leaderboard.json").read_text())["rows"]
    assert {tuple(r["tasks"]) for r in rows} == {("OfflineRetrievalAggregate",)}
    assert run_grid(suite, [Aggregate()])[0].reused == len(records)


def test_mteb_retrieval_agrees_with_the_core_grid(tmp_path: Path, tiny_model: Path, tiny_model_b: Path) -> None:
    """The same packaged subset scored by leafbench's own grid and by mteb through the bridge: same nDCG@10 in every
    cell, quantized ones included (same calibration on the corpus, same scoring, pytrec_eval on both sides)."""
    from leafbench.config import TaskSpec
    from leafbench.evaluate.retrieval import RetrievalGrid

    suite = make_suite(tmp_path, tiny_model, tiny_model_b, configs={"a": CONFIGS["a"], "asym": CONFIGS["asym"]})
    suite = suite.model_copy(update={"precisions": ["float32", "int8", "int8-affine", "binary"]})
    service = EmbeddingService(suite.models, device="cpu", store_root=tmp_path / "store")
    spec = TaskSpec(packaged="bbc-news-titles", max_docs=60, max_queries=20)
    core = {(r.config, r.dim, r.precision): r.scores["NDCG@10"]
            for r in RetrievalGrid(suite, service, suite.results_dir).run(spec)}
    grid = MtebGrid(suite, service, suite.results_dir)
    bridged = {(r.config, r.dim, r.precision): r.main_score
               for r in grid.run(BBCNewsTitleRetrieval(max_docs=60, max_queries=20))}
    assert len(core) == 2 * 2 * 4 and bridged.keys() == core.keys()
    for cell, score in core.items():
        assert bridged[cell] == pytest.approx(score, abs=1e-5), cell


def test_retrieval_tasks_are_searched_by_leafbench(grid_run: dict[str, Any]) -> None:
    """MTEB retrieval cells go through leafbench's search (SearchProtocol); its backend and rescoring are in the
    identity, so a change of either recomputes them. Other tasks keep mteb's own scoring."""
    for rec in grid_run["records"]:
        retrieval = rec.task == "BBCNewsTitleRetrieval"
        assert rec.variant.startswith("leafbench search: ") == retrieval, (rec.task, rec.variant)
        assert ("search" in rec.identity) == retrieval
        if retrieval:
            assert rec.identity["search"] == {"backend": {"backend": "exact"}, "rescore": 0}

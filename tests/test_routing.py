"""Router models route each role down its own branch, and an empty prompt is no prompt (#20 item 3).

Before: `Encoder.encode` called `model.encode(prompt=...)` without the role, so a Router model embedded queries
through its default route (the teacher, for leafbench's own exported `-asym` folder) and scored as the teacher; and
`prompt: ""` was handed over as None, which let sentence-transformers apply the model's `default_prompt_name`.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml
from sentence_transformers import SentenceTransformer

from leafbench.config import ModelSpec, load_suite
from leafbench.encoders import Encoder
from leafbench.runner import run_suite

QUERIES = ["how do rockets reach orbit", "bread with yeast", "who won the cup final"]


@pytest.fixture(scope="module")
def router_model(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path, tiny_model_b: Path) -> Path:
    """leafbench's own asymmetric export: queries -> tiny_model_b (the 'student'), documents -> tiny_model."""
    from leafbench.distill.export import save_router

    return save_router(tiny_model_b, str(tiny_model), tmp_path_factory.mktemp("router") / "leaf-asym", {}, "cpu")


def test_router_encodes_each_role_through_its_route(router_model: Path, tiny_model: Path,
                                                    tiny_model_b: Path) -> None:
    router = Encoder("r", ModelSpec(id=str(router_model)), "cpu")
    student = Encoder("s", ModelSpec(id=str(tiny_model_b)), "cpu")
    teacher = Encoder("t", ModelSpec(id=str(tiny_model)), "cpu")
    # the same modules on the same inputs, batched alike: equal up to float32 noise
    np.testing.assert_allclose(router.encode(QUERIES, "query"), student.encode(QUERIES, "query"), atol=1e-5)
    np.testing.assert_allclose(router.encode(QUERIES, "document"), teacher.encode(QUERIES, "document"), atol=1e-5)
    assert not np.allclose(student.encode(QUERIES, "query"), teacher.encode(QUERIES, "query"), atol=1e-3)
    assert router.cache_namespace("query")["route"] == "query"
    assert router.cache_namespace("document")["route"] == "document"
    assert "route" not in student.cache_namespace("query")  # plain models keep their namespace shape


def _suite(tmp_path: Path, models: dict[str, Path], configs: dict, task: dict, **extra: object) -> Path:
    data = {"name": "routing", "output": str(tmp_path / "results"), "device": "cpu",
            "models": {k: {"id": str(v)} for k, v in models.items()}, "configs": configs, "tasks": [task],
            "dims": ["full"], "precisions": ["float32"], "k_values": [1, 10], **extra}
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_exported_router_as_standard_scores_its_asymmetric_pair(tmp_path: Path, router_model: Path,
                                                                tiny_model: Path, tiny_model_b: Path,
                                                                small_beir: Path) -> None:
    configs = {"router": {"standard": "router"}, "pair": {"asymmetric": {"query": "student", "document": "teacher"}},
               "teacher": {"standard": "teacher"}}
    models = {"router": router_model, "student": tiny_model_b, "teacher": tiny_model}
    out = run_suite(load_suite(_suite(tmp_path, models, configs, {"path": str(small_beir)})))
    scores = {r.config: r.scores for r in out.records}
    for metric, value in scores["pair"].items():
        assert scores["router"][metric] == pytest.approx(value, abs=1e-4), metric
    assert scores["router"] != scores["teacher"]  # what the default route scored before


def test_mteb_bridge_routes_a_router_model_the_same_way(tmp_path: Path, router_model: Path, tiny_model: Path,
                                                        tiny_model_b: Path) -> None:
    from leafbench.config import parse_suite
    from leafbench.datasets.mteb_tasks import BBCNewsTitleRetrieval
    from leafbench.embed import EmbeddingService
    from leafbench.evaluate.mteb.grid import MtebGrid

    suite = parse_suite({"name": "routing-mteb", "output": str(tmp_path / "results"), "device": "cpu",
                         "models": {"router": {"id": str(router_model)}, "student": {"id": str(tiny_model_b)},
                                    "teacher": {"id": str(tiny_model)}},
                         "configs": {"router": {"standard": "router"},
                                     "pair": {"asymmetric": {"query": "student", "document": "teacher"}}},
                         "dims": ["full"], "precisions": ["float32"],
                         "mteb": {"tasks": ["BBCNewsTitleRetrieval"]}}, tmp_path / "suite.yaml")
    service = EmbeddingService(suite.models, device="cpu", store_root=tmp_path / "store")
    records = list(MtebGrid(suite, service, suite.results_dir).run(BBCNewsTitleRetrieval(max_docs=60,
                                                                                         max_queries=20)))
    score = {r.config: r.main_score for r in records}
    assert score["router"] == pytest.approx(score["pair"], abs=1e-4)


@pytest.fixture
def default_prompt_model(tmp_path: Path, tiny_model: Path) -> Path:
    """A copy of the tiny model whose saved config names a default prompt (as instruction-tuned models do)."""
    model = SentenceTransformer(str(tiny_model), device="cpu")
    model.prompts = {"query": "", "document": "", "classification": "classify this text please: "}
    model.default_prompt_name = "classification"
    model.save(str(tmp_path / "default-prompt"))
    return tmp_path / "default-prompt"


def test_empty_prompt_is_no_prompt_not_the_default_prompt(default_prompt_model: Path) -> None:
    ref = SentenceTransformer(str(default_prompt_model), device="cpu")
    bare, defaulted = ref.encode(QUERIES, prompt=""), ref.encode(QUERIES)
    assert not np.allclose(bare, defaulted, atol=1e-3)  # the default prompt does change the embedding
    for spec in (ModelSpec(id=str(default_prompt_model), query_prompt="", document_prompt=""),
                 ModelSpec(id=str(default_prompt_model))):  # unset: the model's own "query"/"document" prompt, ""
        enc = Encoder("m", spec, "cpu")
        for role in ("query", "document"):
            np.testing.assert_allclose(enc.encode(QUERIES, role), bare, atol=1e-5)
            assert enc.cache_namespace(role)["prompt"] == ""


def test_distill_embeddings_take_an_empty_prompt_as_no_prompt(default_prompt_model: Path) -> None:
    from leafbench.distill.model import embed

    ref = SentenceTransformer(str(default_prompt_model), device="cpu")
    got = embed(ref, QUERIES, ["query", "document", "query"], {"query": "", "document": ""}, 8, False)
    np.testing.assert_allclose(got, ref.encode(QUERIES, prompt=""), atol=1e-5)


def test_a_router_without_a_route_for_a_role_is_one_line(tmp_path: Path, router_model: Path) -> None:
    import json

    from leafbench.errors import UserError

    bad = Path(shutil.copytree(router_model, tmp_path / "bad"))
    config = json.loads((bad / "router_config.json").read_text())
    config["structure"]["questions"] = config["structure"].pop("query")  # a branch no role is routed to
    config["parameters"].update(default_route=None, allow_empty_key=False)
    (bad / "router_config.json").write_text(json.dumps(config))
    with pytest.raises(UserError, match=r"models\.x\.id: .* Router model without a route"):
        Encoder("x", ModelSpec(id=str(bad)), "cpu")

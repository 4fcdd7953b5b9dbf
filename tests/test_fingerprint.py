"""A model's identity is its weights *and* its settings (#20 item 2): each saved setting edited in place in a local
model folder gives a new fingerprint (so new embeddings and new cells), and where the edit changes what the model
outputs, the embeddings change too. Before, the fingerprint hashed the weights, the vocabulary and module class
names only, and each edit below reused the old embeddings and cells."""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import yaml

from leafbench.config import ModelSpec, load_suite
from leafbench.encoders import Encoder
from leafbench.identity import ModelFacts, model_facts
from leafbench.runner import run_suite

TEXTS = ["The ROCKET reached Orbit", "bread needs yeast " * 40]  # the second one is longer than max_seq_length


def _edit_json(path: Path, change: Callable[[dict], None]) -> None:
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data, indent=2))


@pytest.fixture(scope="module")
def dense_model(tmp_path_factory: pytest.TempPathFactory, tiny_model: Path) -> Path:
    """The tiny model with a Dense(128 -> 64, tanh) before Normalize, as LEAF students and many published models."""
    import torch
    from sentence_transformers import SentenceTransformer

    from leafbench.st_compat import st_modules

    base = SentenceTransformer(str(tiny_model), device="cpu")
    torch.manual_seed(0)
    modules = list(base.children())
    dense = st_modules().Dense(128, 64, bias=True, activation_function=torch.nn.Tanh())
    model = SentenceTransformer(modules=[*modules[:2], dense, modules[2]], device="cpu")
    path = tmp_path_factory.mktemp("dense") / "dense"
    model.save(str(path))
    return path


def _drop_normalize(folder: Path) -> None:
    modules = json.loads((folder / "modules.json").read_text())
    (folder / "modules.json").write_text(json.dumps([m for m in modules if not m["type"].endswith("Normalize")]))


def _tokenizer(change: Callable[[dict], None]) -> Callable[[Path], None]:
    return lambda folder: _edit_json(folder / "tokenizer_config.json", change)


def _st_config(change: Callable[[dict], None]) -> Callable[[Path], None]:
    return lambda folder: _edit_json(folder / "config_sentence_transformers.json", change)


# (edit of the folder, does it change the embeddings leafbench computes?)
EDITS: dict[str, tuple[Callable[[Path], None], bool]] = {
    "pooling mean -> cls": (lambda f: _edit_json(f / "1_Pooling" / "config.json",
                                                 lambda c: c.update(pooling_mode="cls")), True),
    "Normalize removed": (_drop_normalize, True),
    "do_lower_case off": (_tokenizer(lambda c: c.update(do_lower_case=False)), True),
    "truncation side left": (_tokenizer(lambda c: c.update(truncation_side="left")), True),
    "model_max_length 64 -> 16": (_tokenizer(lambda c: c.update(model_max_length=16)), True),
    "special token changed": (_tokenizer(lambda c: c.update(cls_token="[MASK]")), True),
    "hidden_act gelu -> relu": (lambda f: _edit_json(f / "config.json", lambda c: c.update(hidden_act="relu")), True),
    "default_prompt_name set": (_st_config(lambda c: c.update(prompts={**c["prompts"], "x": "instruct: "},
                                                              default_prompt_name="x")), False),
    "similarity_fn_name": (_st_config(lambda c: c.update(similarity_fn_name="dot")), False),
}


def _facts(folder: Path, loads: list[str]) -> ModelFacts:
    """The facts a suite's identity check sees: from the fingerprint cache, loading the model only on a miss."""
    spec = ModelSpec(id=str(folder))

    def load() -> ModelFacts:
        loads.append(str(folder))
        return Encoder("m", spec, "cpu").facts

    return model_facts(spec, load)


def _embed(folder: Path) -> np.ndarray:
    enc = Encoder("m", ModelSpec(id=str(folder)), "cpu")
    return np.concatenate([enc.encode(TEXTS, "query"), enc.encode(TEXTS, "document")])


@pytest.mark.parametrize("edit", list(EDITS))
def test_each_saved_setting_is_in_the_fingerprint(tmp_path: Path, tiny_model: Path, edit: str) -> None:
    folder = Path(shutil.copytree(tiny_model, tmp_path / "model"))
    loads: list[str] = []
    before, emb_before = _facts(folder, loads), _embed(folder)
    assert _facts(folder, loads) == before and len(loads) == 1  # cached: the second check loads nothing
    change, changes_output = EDITS[edit]
    change(folder)
    after = _facts(folder, loads)
    assert len(loads) == 2, "the edited folder must be loaded and fingerprinted again"
    assert after.fingerprint != before.fingerprint, edit
    emb_after = _embed(folder)
    assert (not np.allclose(emb_after, emb_before, atol=1e-4)) == changes_output, edit


@pytest.mark.parametrize("edit", ["Dense activation tanh -> identity", "Dense removed"])
def test_dense_settings_are_in_the_fingerprint(tmp_path: Path, dense_model: Path, edit: str) -> None:
    folder = Path(shutil.copytree(dense_model, tmp_path / "model"))
    before, emb_before = Encoder("m", ModelSpec(id=str(folder)), "cpu").fingerprint, _embed(folder)
    if edit == "Dense removed":
        modules = json.loads((folder / "modules.json").read_text())
        (folder / "modules.json").write_text(json.dumps([m for m in modules if not m["type"].endswith("Dense")]))
    else:
        _edit_json(next(folder.glob("*_Dense")) / "config.json",
                   lambda c: c.update(activation_function="torch.nn.modules.linear.Identity"))
    assert Encoder("m", ModelSpec(id=str(folder)), "cpu").fingerprint != before
    emb_after = _embed(folder)
    assert emb_after.shape != emb_before.shape or not np.allclose(emb_after, emb_before, atol=1e-4)


def test_router_route_map_and_default_route_are_in_the_fingerprint(tmp_path: Path, tiny_model: Path,
                                                                   tiny_model_b: Path) -> None:
    from leafbench.distill.export import save_router

    folder = save_router(tiny_model_b, str(tiny_model), tmp_path / "asym", {}, "cpu")
    enc = Encoder("r", ModelSpec(id=str(folder)), "cpu")
    fingerprints, query = {enc.fingerprint}, enc.encode(TEXTS, "query")
    _edit_json(folder / "router_config.json", lambda c: c["parameters"].update(default_route="query"))
    fingerprints.add(Encoder("r", ModelSpec(id=str(folder)), "cpu").fingerprint)
    _edit_json(folder / "router_config.json", lambda c: c.update(structure={"query": c["structure"]["document"],
                                                                           "document": c["structure"]["query"]}))
    swapped = Encoder("r", ModelSpec(id=str(folder)), "cpu")
    fingerprints.add(swapped.fingerprint)
    assert len(fingerprints) == 3
    assert not np.allclose(swapped.encode(TEXTS, "query"), query, atol=1e-4)  # queries now take the other branch


def test_a_resaved_copy_keeps_its_fingerprint(tmp_path: Path, tiny_model: Path) -> None:
    """Settings come from the loaded model, not file bytes: saving it again (other version stamps, key order, path)
    is the same model, with the same cached embeddings."""
    from sentence_transformers import SentenceTransformer

    SentenceTransformer(str(tiny_model), device="cpu").save(str(tmp_path / "resaved"))
    fingerprints = {Encoder("m", ModelSpec(id=str(p)), "cpu").fingerprint for p in (tiny_model, tmp_path / "resaved")}
    assert len(fingerprints) == 1


def test_an_edited_pooling_config_recomputes_the_cell(tmp_path: Path, tiny_model: Path, small_beir: Path) -> None:
    """End to end: the suite's cell is recomputed (not reused) after the edit, with the new fingerprint."""
    folder = Path(shutil.copytree(tiny_model, tmp_path / "model"))
    path = tmp_path / "suite.yaml"
    path.write_text(yaml.safe_dump({
        "name": "settings", "output": str(tmp_path / "results"), "device": "cpu",
        "models": {"m": {"id": str(folder)}}, "configs": {"m": {"standard": "m"}},
        "tasks": [{"path": str(small_beir)}], "dims": ["full"], "precisions": ["float32"], "k_values": [10]}))
    suite = load_suite(path)
    first = run_suite(suite)
    EDITS["pooling mean -> cls"][0](folder)
    second = run_suite(suite)
    assert (second.computed, second.reused) == (1, 0)
    assert second.records[0].query_model["fingerprint"] != first.records[0].query_model["fingerprint"]
    assert run_suite(suite).reused == 1

"""A trained student is reused only while what trained it is unchanged, and settings that cannot change its weights
never retrain it (#20 item 4). Before: the run was keyed by the suite's ids and paths, so an edited training file
or new teacher weights under the same id reused the old student; and a new curve task, validate_every, output name
or encoding batch size trained a new one from scratch."""

from __future__ import annotations

import shutil
from pathlib import Path
from typing import Any

import pytest
import yaml

from leafbench.config import load_suite
from leafbench.distill.stage import run_distill
from leafbench.distill.trainer import LeafTrainer
from leafbench.embed import EmbeddingService

_TRAIN = LeafTrainer.train

TEXTS = ["the rocket reached orbit", "astronauts train for months", "a galaxy far away", "bread needs yeast",
         "tomato soup recipe", "grilled fish with lemon", "the striker scored twice", "five set tennis final",
         "runners at dawn", "interest rates rise", "stocks fall sharply", "profits beat forecasts"] * 3


@pytest.fixture
def setup(tmp_path: Path, tiny_model: Path, tiny_model_b: Path, small_beir: Path) -> dict[str, Any]:
    teacher = Path(shutil.copytree(tiny_model, tmp_path / "teacher"))  # a private copy: edited in place below
    texts = tmp_path / "texts.txt"
    texts.write_text("\n".join(f"{t} {i // 12}" for i, t in enumerate(TEXTS)) + "\n")
    raw = {"name": "dident", "output": str(tmp_path / "results"), "device": "cpu",
           "models": {"teacher": {"id": str(teacher)}, "student": {"id": str(tiny_model_b)}},
           "configs": {"leaf": {"standard": "leaf"}}, "tasks": [{"path": str(small_beir), "name": "beir"}],
           "dims": ["full"], "precisions": ["float32"],
           "distill": {"teacher": "teacher", "student": "student",
                       "data": {"sources": [{"file": str(texts)}], "validation": 6, "exclude_eval_queries": False},
                       "training": {"epochs": 1, "max_steps": 3, "batch_size": 8}}}
    return {"raw": raw, "path": tmp_path / "suite.yaml", "teacher": teacher, "texts": texts,
            "tiny_b": tiny_model_b}


def distill(setup: dict[str, Any], trainings: list[int], monkeypatch: pytest.MonkeyPatch):
    """Run the distill stage of the suite as written now; `trainings` counts the training loops that ran."""
    setup["path"].write_text(yaml.safe_dump(setup["raw"]))
    suite = load_suite(setup["path"])

    def counted(self: LeafTrainer, *args: Any, **kwargs: Any) -> Any:
        trainings.append(1)
        return _TRAIN(self, *args, **kwargs)

    monkeypatch.setattr(LeafTrainer, "train", counted)
    return suite, run_distill(suite, EmbeddingService(suite.models, device="cpu"))


def test_an_edited_training_file_retrains(setup: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    from leafbench import encoders

    trainings: list[int] = []
    _, first = distill(setup, trainings, monkeypatch)
    with monkeypatch.context() as mp:  # a finished, unchanged run is checked without loading a model

        def no_loading(*args: Any, **kwargs: Any) -> None:
            raise AssertionError("a model was loaded to check a finished distill run")

        mp.setattr(encoders.Encoder, "__init__", no_loading)
        distill(setup, trainings, monkeypatch)
    assert len(trainings) == 1
    setup["texts"].write_text(setup["texts"].read_text().replace("bread needs yeast", "sourdough needs a starter"))
    _, second = distill(setup, trainings, monkeypatch)
    assert len(trainings) == 2
    assert second.inputs["sources"] != first.inputs["sources"] and second.inputs["teacher"] == first.inputs["teacher"]


def test_new_teacher_weights_under_the_same_id_retrain(setup: dict[str, Any],
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    trainings: list[int] = []
    suite, first = distill(setup, trainings, monkeypatch)
    shutil.copyfile(setup["tiny_b"] / "model.safetensors", setup["teacher"] / "model.safetensors")
    again, second = distill(setup, trainings, monkeypatch)
    assert len(trainings) == 2 and again.distill_run_dir == suite.distill_run_dir  # same settings, same folder
    assert second.inputs["teacher"] != first.inputs["teacher"]


def test_settings_that_cannot_change_the_weights_do_not_retrain(setup: dict[str, Any],
                                                                monkeypatch: pytest.MonkeyPatch) -> None:
    trainings: list[int] = []
    suite, first = distill(setup, trainings, monkeypatch)
    raw = setup["raw"]
    raw["distill"]["training"]["validate_every"] = 1
    raw["distill"]["curve_tasks"] = ["beir"]
    raw["distill"]["outputs"] = {"projection": "proj2", "finetuned": "leaf2"}
    raw["models"]["teacher"]["batch_size"] = 4
    raw["configs"] = {"leaf": {"standard": "leaf2"}}
    again, rec = distill(setup, trainings, monkeypatch)
    assert len(trainings) == 1 and again.distill_run_dir == suite.distill_run_dir
    finetuned = Path(rec.outputs["finetuned"])
    assert finetuned.name == "leaf2" and (finetuned / "modules.json").is_file()
    assert (Path(rec.outputs["asymmetric"]) / "modules.json").is_file()
    assert not Path(first.outputs["finetuned"]).exists()  # moved, not copied
    assert set(rec.final.curve) == {"beir"} and set(rec.projection_only.curve) == {"beir"}
    assert rec.final.val_cosine == first.final.val_cosine  # the same weights
    assert again.models["leaf2"].id == rec.outputs["finetuned"]
    distill(setup, trainings, monkeypatch)
    assert len(trainings) == 1


def test_a_copied_results_folder_reuses_its_own_exports_and_leaves_the_original_alone(
        setup: dict[str, Any], monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """`run --output` on a copy of a results folder: its record still names the original's export paths. Before,
    they were moved out of the original (or, both existing, os.replace failed with a stack trace)."""
    trainings: list[int] = []
    suite, first = distill(setup, trainings, monkeypatch)
    shutil.copytree(tmp_path / "results", tmp_path / "copy")
    setup["raw"]["output"] = str(tmp_path / "copy")
    again, rec = distill(setup, trainings, monkeypatch)
    assert len(trainings) == 1
    for variant, path in first.outputs.items():
        if path:
            assert (Path(path) / "modules.json").is_file(), f"the original's {variant} export was moved"
            assert Path(rec.outputs[variant]).is_relative_to(again.distill_run_dir)
            assert (Path(rec.outputs[variant]) / "modules.json").is_file()

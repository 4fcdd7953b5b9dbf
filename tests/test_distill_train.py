"""Distillation on tiny random models: training lowers the loss, exports load with plain sentence-transformers and
reproduce the trained embeddings, the Router export routes, and a SIGKILLed run resumes to the same final loss."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from conftest import TOPICS, build_tiny_model, write_beir_folder
from leafbench.cli import main
from leafbench.config import load_suite
from leafbench.distill.stage import run_distill
from leafbench.embed import EmbeddingService


@pytest.fixture(autouse=True, scope="module")
def _one_thread():
    """Tiny models on a shared 2-core box: one thread is faster, and resumed runs must match bit for bit."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A 128-d tiny teacher, a 64-d tiny student init (so the projection changes the dim), texts and a BEIR task."""
    root = tmp_path_factory.mktemp("distill")
    teacher = build_tiny_model(root / "teacher", seed=0, hidden=128)
    student = build_tiny_model(root / "student", seed=1, hidden=64)
    corpus, queries, qrels = {}, {}, {}
    for topic, texts in TOPICS.items():
        for i, text in enumerate(texts):
            corpus[f"{topic}-{i}"] = {"title": "", "text": text}
        queries[f"q-{topic}"] = f"{topic} news"
        qrels[f"q-{topic}"] = {f"{topic}-0": 1}
    beir = write_beir_folder(root / "beir", corpus, queries, qrels)
    rng = random.Random(0)
    words = " ".join(" ".join(v) for v in TOPICS.values()).split()
    lines = [" ".join(rng.choice(words) for _ in range(rng.randint(2, 24))) for _ in range(130)]
    lines.append("sport news")  # equal to an evaluation query: must be left out
    (root / "texts.txt").write_text("\n".join(lines) + "\n")
    return {"root": root, "teacher": teacher, "student": student, "beir": beir, "texts": root / "texts.txt"}


def write_suite(world: dict[str, Path], folder: Path, training: dict | None = None) -> Path:
    suite = {
        "name": "tiny", "output": str(folder / "results"), "device": "cpu",
        "models": {"teacher": {"id": str(world["teacher"])}, "student": {"id": str(world["student"])}},
        "configs": {"leaf": {"standard": "leaf"}, "asym": {"asymmetric": {"query": "leaf", "document": "teacher"}}},
        "tasks": [{"path": str(world["beir"]), "name": "beir"}],
        "distill": {"teacher": "teacher", "student": "student", "curve_tasks": ["beir"],
                    "data": {"sources": [{"file": str(world["texts"])}, {"task": "beir"}], "validation": 16},
                    "training": {"epochs": 2, "batch_size": 8, "lr": 5e-4, "checkpoint_every": 3,
                                 **(training or {})}},
    }
    path = folder / "suite.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(suite))
    return path


def _run(path: Path, **kwargs) -> dict:
    suite = load_suite(path)
    return run_distill(suite, EmbeddingService(suite.models, device="cpu"), **kwargs).dump()


@pytest.fixture(scope="module")
def trained(world: dict[str, Path]) -> dict:
    return _run(write_suite(world, world["root"] / "plain"))


def _cos(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.mean(np.sum(a * b, 1) / (np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1))))


def test_training_lowers_the_loss_and_records_the_run(trained: dict) -> None:
    hist = trained["history"]
    assert hist[0]["step"] == 0 and hist[-1]["step"] == trained["training"]["steps"] > 10
    assert trained["final"]["val_mse"] < trained["projection_only"]["val_mse"]
    assert hist[-1]["train_loss"] < hist[1]["train_loss"]  # second epoch's mean loss below the first's
    assert trained["data"]["dropped_eval_queries"] == 1 and trained["teacher"]["dim"] == 128
    assert trained["training"]["samples_per_second"] > 0 and "beir" in hist[-1]["curve"]
    assert not (Path(trained["run_dir"]) / "checkpoints").exists()  # finished: checkpoints are removed


def test_exports_load_with_sentence_transformers_and_give_the_trained_embeddings(trained: dict, world) -> None:
    from sentence_transformers import SentenceTransformer

    from leafbench.distill.data import build_texts
    from leafbench.config import load_suite

    suite = load_suite(world["root"] / "plain" / "suite.yaml")
    val = build_texts(suite.distill.data, {t.task_name: t for t in suite.tasks}, ["sport news"] +
                      [f"{t} news" for t in TOPICS]).validation
    texts = [t.text for t in val]
    teacher = SentenceTransformer(str(world["teacher"]), device="cpu").encode(texts)
    leaf = SentenceTransformer(trained["outputs"]["finetuned"], device="cpu").encode(texts)
    proj = SentenceTransformer(trained["outputs"]["projection"], device="cpu").encode(texts)
    assert leaf.shape == (len(texts), 128)
    assert _cos(leaf, teacher) == pytest.approx(trained["final"]["val_cosine"], abs=1e-5)
    assert _cos(proj, teacher) == pytest.approx(trained["projection_only"]["val_cosine"], abs=1e-5)
    assert not np.allclose(leaf, proj, atol=1e-4)
    card = (Path(trained["outputs"]["finetuned"]) / "README.md").read_text()
    assert "held-out" in card.lower() and "excluded" in card


def test_router_export_sends_queries_to_the_student_and_documents_to_the_teacher(trained: dict, world) -> None:
    from sentence_transformers import SentenceTransformer

    texts = ["rocket launch orbit", "the bank raised interest rates again this year"]
    asym = SentenceTransformer(trained["outputs"]["asymmetric"], device="cpu")
    leaf = SentenceTransformer(trained["outputs"]["finetuned"], device="cpu")
    teacher = SentenceTransformer(str(world["teacher"]), device="cpu")
    np.testing.assert_allclose(asym.encode_query(texts), leaf.encode(texts), atol=1e-5)
    np.testing.assert_allclose(asym.encode_document(texts), teacher.encode(texts), atol=1e-5)
    assert not np.allclose(leaf.encode(texts), teacher.encode(texts), atol=1e-3)


def test_finished_run_is_reused_without_training(trained: dict, world) -> None:
    again = _run(world["root"] / "plain" / "suite.yaml")
    assert again["created"] == trained["created"] and again["training"] == trained["training"]


def test_distill_command_holds_the_results_lock_and_records_its_run(trained: dict, world, capsys) -> None:
    """`leafbench distill` alone writes run.json like `leafbench run` (its record listed, its timings), and a
    held lock (a run of the same suite) stops it with one line naming the lock: they never share checkpoints."""
    from leafbench.results import results_lock

    path = world["root"] / "plain" / "suite.yaml"
    suite = load_suite(path)
    assert main(["distill", str(path), "--device", "cpu"]) == 0  # the finished run, reused
    manifest = json.loads((suite.results_dir / "run.json").read_text())
    assert manifest["command"] == "distill" and manifest["status"] == "complete"
    assert manifest["files"] == [(suite.distill_run_dir / "distill.json").relative_to(suite.results_dir).as_posix()]
    assert set(manifest["timings"]["stages"]) == {"distill"}
    capsys.readouterr()
    with results_lock(suite.results_dir, "run") as lock:
        assert main(["distill", str(path), "--device", "cpu"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and str(lock) in err[0] and "another `leafbench run`" in err[0], err


def _killed_at(world, folder: Path, step: int) -> Path:
    """A suite whose distill run was SIGKILLed right after optimizer step `step`."""
    path = write_suite(world, folder)
    script = textwrap.dedent(f"""
        import os, signal, torch
        torch.set_num_threads(1)
        from leafbench.config import load_suite
        from leafbench.distill.stage import run_distill
        from leafbench.embed import EmbeddingService
        suite = load_suite({str(path)!r})
        kill = lambda step: step == {step} and os.kill(os.getpid(), signal.SIGKILL)
        run_distill(suite, EmbeddingService(suite.models, device="cpu"), on_step=kill)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=dict(os.environ),
                          timeout=300)
    assert proc.returncode == -signal.SIGKILL, proc.stderr[-2000:]
    return path


def test_sigkill_mid_epoch_then_resume_ends_with_the_same_loss(trained: dict, world) -> None:
    """A real SIGKILL at step 7 (the last checkpoint is step 6, mid first epoch); the same command resumes it."""
    path = _killed_at(world, world["root"] / "killed", 7)
    run_dir = load_suite(path).distill_run_dir
    assert [p.name for p in (run_dir / "checkpoints").iterdir()] == ["step-0000006"]
    assert not (run_dir / "distill.json").exists()

    assert main(["distill", str(path), "--device", "cpu"]) == 0  # resuming is the default
    resumed = json.loads((run_dir / "distill.json").read_text())
    assert resumed["training"]["resumed_from"] == "step-0000006"
    # Same to float32 precision, not bit-equal: the uninterrupted run ran in this process, whose torch thread
    # count other tests may have changed, and a different thread count changes BLAS reduction order.
    assert resumed["training"]["final_train_loss"] == pytest.approx(trained["training"]["final_train_loss"],
                                                                    rel=1e-6)
    assert [e["step"] for e in resumed["history"]] == [e["step"] for e in trained["history"]]
    assert [e["val_mse"] for e in resumed["history"]] == \
        pytest.approx([e["val_mse"] for e in trained["history"]], rel=1e-6)


def test_restart_discards_the_checkpoints_and_trains_from_step_zero(trained: dict, world) -> None:
    path = _killed_at(world, world["root"] / "restarted", 4)
    run_dir = load_suite(path).distill_run_dir
    assert [p.name for p in (run_dir / "checkpoints").iterdir()] == ["step-0000003"]
    assert main(["distill", str(path), "--restart", "--device", "cpu"]) == 0
    rec = json.loads((run_dir / "distill.json").read_text())
    assert rec["training"]["resumed_from"] is None
    assert rec["training"]["final_train_loss"] == pytest.approx(trained["training"]["final_train_loss"], rel=1e-6)


def test_a_diverging_loss_is_one_line_exit_2_and_leaves_no_export(world, tmp_path: Path, monkeypatch,
                                                                  capsys: pytest.CaptureFixture) -> None:
    import leafbench.distill.trainer as trainer

    real = trainer.embedding_loss
    calls = iter(range(10**6))

    def diverges(out, target, kind):
        loss = real(out, target, kind)
        return loss * float("nan") if next(calls) == 4 else loss

    monkeypatch.setattr(trainer, "embedding_loss", diverges)
    path = write_suite(world, tmp_path)
    assert main(["distill", str(path), "--device", "cpu"]) == 2
    err = capsys.readouterr().err.strip()
    errors = [line for line in err.splitlines() if "error" in line.lower()]  # the rest is the stage's progress log
    assert len(errors) == 1 and "training loss became nan at step 5" in errors[0] and "training.lr" in errors[0]
    assert errors[0] == err.splitlines()[-1] and "Traceback" not in err
    run_dir = load_suite(path).distill_run_dir
    assert not (run_dir / "distill.json").exists() and not (run_dir / "leaf").exists()
    assert not [p for p in run_dir.rglob("*") if p.name.startswith((".tmp", ".old"))]  # no half-written folders


def test_ranking_term_mined_bank_matryoshka_cosine_frozen_and_leaf_architecture_train(world, tmp_path: Path) -> None:
    from sentence_transformers import SentenceTransformer

    rec = _run(write_suite(world, tmp_path, {"loss": "cosine", "rank_weight": 1.0, "rank_bank": 16,
                                             "rank_mined": 4, "matryoshka_dims": [8], "freeze_embeddings": True, "architecture": "leaf",
                                             "query_max_seq_length": 8, "epochs": 1}))
    assert rec["training"]["loss"] == "cosine" and rec["training"]["rank_weight"] == 1.0
    assert rec["training"]["rank_mined"] == 4 and rec["training"]["matryoshka_dims"] == [8]
    assert rec["training"]["frozen_embedding_weights"] > 0 and rec["training"]["query_max_seq_length"] == 8
    leaf = SentenceTransformer(rec["outputs"]["finetuned"], device="cpu")
    proj = SentenceTransformer(rec["outputs"]["projection"], device="cpu")
    assert not np.allclose(leaf.encode(["rocket launch"]), proj.encode(["rocket launch"]), atol=1e-4)  # it trained
    kinds = [type(m).__name__ for m in leaf.children()]
    assert kinds == ["Transformer", "Pooling", "Dense", "Normalize"], kinds  # no init Normalize before the Dense
    init = SentenceTransformer(str(world["student"]), device="cpu")
    word = next(m for m in init.modules() if hasattr(m, "word_embeddings")).word_embeddings.weight
    trained_word = next(m for m in leaf.modules() if hasattr(m, "word_embeddings")).word_embeddings.weight
    assert torch.equal(word, trained_word)  # frozen: the table did not move
    curve = rec["final"]["curve"]["beir"]
    assert set(curve) == {"ndcg10", "teacher_ndcg10", "query_cosine", "top10_overlap", "off_domain"}
    assert 0 <= curve["top10_overlap"] <= 1 and not curve["off_domain"]


def test_black_box_teacher_from_a_parquet_file(world, tmp_path: Path) -> None:
    """Only the teacher's embeddings of the texts are needed (an API teacher): no teacher model, no Router export."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from sentence_transformers import SentenceTransformer

    lines = [line for line in world["texts"].read_text().splitlines() if line.strip()][:60]
    (tmp_path / "t.jsonl").write_text("".join(json.dumps({"body": line}) + "\n" for line in lines))
    emb = SentenceTransformer(str(world["teacher"]), device="cpu").encode(lines)
    pq.write_table(pa.table({"embedding": emb.tolist()}), tmp_path / "t.parquet")
    suite = {"name": "bb", "output": str(tmp_path / "results"), "device": "cpu",
             "models": {"student": {"id": str(world["student"])}}, "configs": {"leaf": {"standard": "leaf"}},
             "distill": {"student": "student", "outputs": {"projection": None},
                         "data": {"sources": [{"file": str(tmp_path / "t.jsonl"), "field": "body",
                                               "embeddings": str(tmp_path / "t.parquet")}], "validation": 8},
                         "training": {"epochs": 1, "batch_size": 8}}}
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(suite))
    rec = _run(tmp_path / "s.yaml")
    assert rec["teacher"]["black_box"] and rec["teacher"]["dim"] == 128
    assert rec["outputs"]["asymmetric"] is None and rec["outputs"]["projection"] is None
    assert SentenceTransformer(rec["outputs"]["finetuned"], device="cpu").encode(["a b c"]).shape == (1, 128)


def test_changed_evaluation_queries_make_a_finished_run_retrain(trained: dict, world, monkeypatch) -> None:
    """The run folder is keyed by settings; a rebuilt task with other queries must not reuse a student that may
    have trained on them. (Stopped right where retraining would begin.)"""
    import leafbench.distill.stage as stage

    class Retrains(Exception):
        pass

    def stop(folder: Path) -> None:
        raise Retrains

    monkeypatch.setattr(stage, "_check_writable", stop)
    assert _run(world["root"] / "plain" / "suite.yaml")["created"] == trained["created"]  # unchanged: reused
    monkeypatch.setattr(stage, "_eval_queries", lambda suite: ["a brand new evaluation query"])
    with pytest.raises(Retrains):
        _run(world["root"] / "plain" / "suite.yaml")


def test_a_dims_mistake_fails_before_the_distill_stage(world, tmp_path: Path) -> None:
    """The 64-d student init cannot take dim 96; the 128-d distilled leaf can: caught before any training."""
    from leafbench.errors import UserError
    from leafbench.runner import run_suite

    path = write_suite(world, tmp_path)
    raw = yaml.safe_load(path.read_text())
    raw["configs"]["student"] = {"standard": "student"}
    raw["dims"] = ["full", 96]
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(UserError, match=r"^dims: 96 is larger than the 64-d embeddings of config 'student'"):
        run_suite(load_suite(path))
    assert not (tmp_path / "results").exists() or not list((tmp_path / "results").rglob("distill.json"))


def test_a_student_cut_from_the_teacher_keeps_evenly_spaced_or_listed_layers(world, tmp_path: Path) -> None:
    from sentence_transformers import SentenceTransformer

    teacher3 = build_tiny_model(tmp_path / "teacher3", seed=3, hidden=128)
    path = write_suite(world, tmp_path / "cut", {"epochs": 1})
    data = yaml.safe_load(path.read_text())
    data["models"]["student"]["id"] = str(teacher3)
    data["distill"]["student_layers"] = 1
    path.write_text(yaml.safe_dump(data))
    rec = _run(path)
    assert rec["student_init"]["layers"] == [1]  # the last of the init's two layers
    leaf = SentenceTransformer(rec["outputs"]["finetuned"], device="cpu")
    assert len(leaf[0].auto_model.encoder.layer) == 1 and leaf.get_embedding_dimension() == 128
    assert "cut to its transformer layers [1]" in (Path(rec["outputs"]["finetuned"]) / "README.md").read_text()
    data["distill"]["student_layers"] = 3
    path.write_text(yaml.safe_dump(data))
    assert main(["distill", str(path), "--device", "cpu"]) == 2  # more layers than the init has: one line, exit 2
    data["distill"]["student_layers"] = [2]
    path.write_text(yaml.safe_dump(data))
    assert main(["distill", str(path), "--device", "cpu"]) == 2  # a layer the init does not have
    data["distill"]["student_layers"] = [0]  # listed: the first layer, which a count of 1 never keeps
    path.write_text(yaml.safe_dump(data))
    rec = _run(path)
    assert rec["student_init"]["layers"] == [0]
    assert len(SentenceTransformer(rec["outputs"]["finetuned"], device="cpu")[0].auto_model.encoder.layer) == 1

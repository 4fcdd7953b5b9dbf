"""`leafbench cache verify` finds what the cheap start-up check cannot; `cache gc` keeps what records refer to."""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

import numpy as np
import pytest

from leafbench.cli import main
from leafbench.store import EmbeddingStore, namespace_id

NS = {"fingerprint": "abc", "role": "document", "prompt": "", "max_seq_length": 64, "dtype": "fp32"}


def _fill(root: Path, ns: dict, n: int = 5000) -> None:
    texts = [f"t{i}" for i in range(n)]
    EmbeddingStore(root).put(ns, texts, np.random.default_rng(0).standard_normal((n, 32)).astype(np.float32))


def test_verify_finds_a_flipped_byte_the_startup_check_does_not_read(tmp_path: Path, capsys) -> None:
    _fill(tmp_path, NS)
    npy = next(p for p in (tmp_path / namespace_id(NS)).glob("*.npy") if not p.name.endswith(".keys.npy"))
    data = bytearray(npy.read_bytes())
    data[len(data) // 2] ^= 0x10  # middle of a 640 kB shard: outside the first and last 64 kB blocks
    npy.write_bytes(bytes(data))
    warnings: list[str] = []
    EmbeddingStore(tmp_path, warn=warnings.append).view(NS, ["t1"])
    assert warnings == []  # the cheap check reads neither the middle nor the whole file
    assert main(["cache", "verify", "--store", str(tmp_path)]) == 1
    printed = capsys.readouterr().out
    assert f"bad shard {npy.with_suffix('')}" in printed and "checksum mismatch" in printed and "1 bad" in printed
    assert main(["cache", "verify", "--fix", "--store", str(tmp_path)]) == 0
    assert not npy.exists() and list((npy.parent / "quarantine").iterdir())
    assert main(["cache", "verify", "--store", str(tmp_path)]) == 0
    assert "0 bad, 0 orphans" in capsys.readouterr().out
    assert EmbeddingStore(tmp_path).missing(NS, ["t1"]) == ["t1"]


def _age(root: Path) -> None:
    old = time.time() - 3600
    for p in root.rglob("*"):
        os.utime(p, (old, old))


def test_gc_dry_run_lists_namespaces_no_record_refers_to(tmp_path: Path, capsys) -> None:
    store = tmp_path / "store"
    spaces = [{**NS, "fingerprint": f"m{i}"} for i in range(4)]
    for ns in spaces:
        _fill(store, ns, n=10)
    _age(store)
    ids = [namespace_id(ns) for ns in spaces]
    results = tmp_path / "results"
    cell = results / "suite" / "retrieval" / "task" / "cfg" / "dim32-float32.json"
    cell.parent.mkdir(parents=True)
    cell.write_text(json.dumps({"schema": "x", "embeddings": {"query": ids[0], "document": ids[1]}}))
    (results / "suite" / "run.json").write_text(json.dumps({"cells": [{"embeddings": {"teacher_query": ids[2]}}]}))
    (results / "suite" / "broken.json").write_text("{")
    assert main(["cache", "gc", str(results), "--dry-run", "--store", str(store)]) == 0
    printed = capsys.readouterr().out
    assert f"would delete {ids[3]}" in printed and "fingerprint=m3" in printed
    assert not any(i in printed for i in ids[:3]) and "would delete 1 unused" in printed
    assert all((store / i).is_dir() for i in ids)
    assert main(["cache", "gc", str(results), "--store", str(store)]) == 0
    assert sorted(p.name for p in store.iterdir()) == sorted(ids[:3])


def test_gc_keeps_what_a_locked_command_uses_and_nothing_for_being_recent(tmp_path: Path, capsys) -> None:
    """A command in progress lists its namespaces in the results lock it holds: gc keeps those, however old, and
    deletes a just-written namespace nobody lists (no 15-minute window); once the lock is released, they go too."""
    from leafbench.results import note_namespace, results_lock

    store, results = tmp_path / "store", tmp_path / "results"
    spaces = {name: {**NS, "fingerprint": name} for name in ("recorded", "running", "old", "recent")}
    for ns in spaces.values():
        _fill(store, ns, n=10)
    _age(store)
    _fill(store, spaces["recent"], n=12)  # written just now, by no command that holds a lock
    ids = {name: namespace_id(ns) for name, ns in spaces.items()}
    cell = results / "suite" / "retrieval" / "t" / "c" / "dim32-float32.json"
    cell.parent.mkdir(parents=True)
    cell.write_text(json.dumps({"embeddings": {"document": ids["recorded"]}}))
    with results_lock(results / "suite", "distill"):
        note_namespace(ids["running"])
        assert main(["cache", "gc", str(results), "--store", str(store)]) == 0
        assert sorted(p.name for p in store.iterdir()) == sorted([ids["recorded"], ids["running"]])
    assert main(["cache", "gc", str(results), "--store", str(store)]) == 0
    assert [p.name for p in store.iterdir()] == [ids["recorded"]]


@pytest.mark.parametrize("records", [{}, {"a.json": {"schema": "leafbench.retrieval/1", "ndcg@10": 0.5}}])
def test_gc_refuses_without_records_that_name_their_embeddings(tmp_path: Path, records: dict, capsys) -> None:
    store = tmp_path / "store"
    _fill(store, NS, n=10)
    _age(store)
    results = tmp_path / "results"
    results.mkdir()
    for name, rec in records.items():
        (results / name).write_text(json.dumps(rec))
    assert main(["cache", "gc", str(results), "--store", str(store)]) == 2
    assert "no result record has an 'embeddings' field" in capsys.readouterr().err
    assert (store / namespace_id(NS)).is_dir()
    assert main(["cache", "gc", str(tmp_path / "nope"), "--store", str(store)]) == 2


def test_gc_keeps_exactly_what_a_real_run_refers_to(tmp_path: Path, tiny_model: Path, small_beir: Path,
                                                    monkeypatch, capsys) -> None:
    import yaml

    from leafbench.config import load_suite
    from leafbench.runner import run_suite

    monkeypatch.setenv("LEAFBENCH_CACHE", str(tmp_path / "cache"))
    suite_file = tmp_path / "suite.yaml"
    suite_file.write_text(yaml.safe_dump({
        "name": "gc", "output": str(tmp_path / "results"), "device": "cpu", "models": {"tiny": {"id": str(tiny_model)}},
        "configs": {"tiny": {"standard": "tiny"}}, "tasks": [{"path": str(small_beir)}], "k_values": [1, 10]}))
    suite = load_suite(suite_file)
    run_suite(suite)
    store = tmp_path / "cache" / "embeddings"
    kept = sorted(p.name for p in store.iterdir())
    stale = {**NS, "fingerprint": "an-old-model"}
    _fill(store, stale, n=10)
    _age(store)
    assert main(["cache", "gc", str(tmp_path / "results"), "--dry-run"]) == 0
    assert f"would delete {namespace_id(stale)}" in capsys.readouterr().out
    assert main(["cache", "gc", str(tmp_path / "results")]) == 0
    assert sorted(p.name for p in store.iterdir()) == kept
    assert run_suite(suite, force=True).encoded_texts == 0  # everything the cells use is still stored

"""Encoding on a real local Ray cluster (Ray Data actor pool): same embeddings and grid scores as in-process,
and a worker killed mid-job still ends in a complete store. One Ray session for the module (~10 s to start)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import numpy as np
import pytest
import ray
import yaml
from ray import cloudpickle

from leafbench.cli import build_parser
from leafbench.config import ModelSpec, load_suite
from leafbench.embed import EmbeddingService
from leafbench.errors import UserError
from leafbench.executors.ray_data import ShardWriter, encode_on_ray
from leafbench.executor_spec import ExecutorSpec
from leafbench.runner import run_suite
from leafbench.store import EmbeddingStore

cloudpickle.register_pickle_by_value(sys.modules[__name__])  # workers cannot import this test module by name
RAY = ExecutorSpec(kind="ray", address="local", workers=2, batch_size=32)


@pytest.fixture(scope="module")
def ray_cluster():
    ray.init(address="local", num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _suite(tmp_path: Path, model: Path, executor: dict | None) -> Path:
    data = {"name": "ray", "output": str(tmp_path / "results"), "device": "cpu",
            "models": {"tiny": {"id": str(model)}}, "configs": {"tiny": {"standard": "tiny"}},
            "tasks": [{"packaged": "bbc-news-titles", "max_docs": 120, "max_queries": 40}],
            "dims": ["full", 64], "precisions": ["float32", "binary"], "k_values": [1, 10]}
    if executor:
        data["executor"] = executor
    path = tmp_path / "suite.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(data))
    return path


def test_ray_grid_equals_in_process(ray_cluster, tmp_path: Path, tiny_model: Path, monkeypatch) -> None:
    outcomes, stores = {}, {}
    for kind, executor in (("local", None), ("ray", RAY.model_dump())):
        monkeypatch.setenv("LEAFBENCH_CACHE", str(tmp_path / kind / "cache"))
        outcomes[kind] = run_suite(load_suite(_suite(tmp_path / kind, tiny_model, executor)))
        stores[kind] = tmp_path / kind / "cache" / "embeddings"
    assert outcomes["ray"].encoded_texts == outcomes["local"].encoded_texts > 150  # 120 docs + 40 queries, distinct
    spaces = {kind: sorted(p.name for p in root.iterdir()) for kind, root in stores.items()}
    assert spaces["ray"] == spaces["local"] and len(spaces["ray"]) == 2  # same model, roles and dtype
    for ns in spaces["ray"]:  # every row the Ray actors wrote vs the in-process one, by text key
        a, b = (_rows(stores[k] / ns) for k in ("local", "ray"))
        assert a.keys() == b.keys()
        keys = sorted(a)
        x, y = np.stack([a[k] for k in keys]), np.stack([b[k] for k in keys])
        cos = (x * y).sum(1) / np.linalg.norm(x, axis=1) / np.linalg.norm(y, axis=1)
        assert cos.min() >= 0.99999
    scores = {k: {(r.config, r.dim, r.precision): r.scores for r in o.records} for k, o in outcomes.items()}
    assert scores["ray"].keys() == scores["local"].keys() and len(scores["ray"]) == 4
    for cell, want in scores["local"].items():
        assert scores["ray"][cell] == pytest.approx(want, abs=1e-9), cell


def _rows(ns_dir: Path) -> dict[bytes, np.ndarray]:
    out = {}
    for keys in ns_dir.glob("*.keys.npy"):
        emb = np.load(ns_dir / keys.name.replace(".keys.npy", ".npy"))
        out.update(zip(np.load(keys).tolist(), emb))
    return out


class DiesOnce(ShardWriter):
    """Commits its first batch, then kills its own process, once per test (a marker file remembers)."""

    marker = ""  # set by the test; travels with the class, which is pickled by value

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        out = super().__call__(batch)
        marker = Path(self.marker)
        if not marker.exists():
            marker.write_text(str(os.getpid()))
            os._exit(1)
        return out


def test_a_worker_killed_mid_job_still_ends_in_a_complete_store(ray_cluster, tmp_path: Path, tiny_model: Path,
                                                                monkeypatch) -> None:
    marker = tmp_path / "died"
    monkeypatch.setattr(DiesOnce, "marker", str(marker))
    spec = ModelSpec(id=str(tiny_model))
    service = EmbeddingService({"tiny": spec}, device="cpu", store_root=tmp_path / "store")
    namespace = service.encoder("tiny").cache_namespace("document")
    texts = [f"article {i}: {'words ' * (i % 5)}end" for i in range(200)]
    service.store.put(namespace, texts[:40], service.encoder("tiny").encode(texts[:40], "document"))  # a prior run
    todo = service.store.missing(namespace, texts)
    assert len(todo) == 160
    encode_on_ray(RAY, "tiny", spec, "document", namespace, todo, tmp_path / "store", writer=DiesOnce)
    assert marker.exists()  # a worker really died mid-job
    store = EmbeddingStore(tmp_path / "store")
    left = store.missing(namespace, texts)
    if left:
        encode_on_ray(RAY, "tiny", spec, "document", namespace, left, tmp_path / "store")
        store.refresh(namespace)
    assert store.missing(namespace, texts) == []
    local = EmbeddingService({"tiny": spec}, device="cpu", store_root=tmp_path / "local")
    np.testing.assert_allclose(store.view(namespace, texts)[:], local.embed("tiny", "document", texts), atol=1e-5)


def test_a_worker_that_would_encode_differently_is_a_user_error(tmp_path: Path, tiny_model: Path) -> None:
    """In-process (a Ray actor runs the same constructor; Ray retries a failing one for ~20 s before giving up)."""
    spec = ModelSpec(id=str(tiny_model))
    namespace = {**EmbeddingService({"t": spec}, device="cpu").encoder("t").cache_namespace("query"), "dtype": "bf16"}
    with pytest.raises(UserError, match="a Ray worker would encode differently .*dtype: 'fp32' here, 'bf16' on"):
        ShardWriter("t", spec.model_dump(), "query", namespace, str(tmp_path / "store"), "cpu")


def test_executor_section_and_ray_flag(tmp_path: Path, tiny_model: Path) -> None:
    suite = load_suite(_suite(tmp_path, tiny_model, {"kind": "ray", "workers": 3, "num_gpus": 1}))
    assert (suite.executor.kind, suite.executor.address, suite.executor.workers) == ("ray", "auto", 3)
    assert load_suite(_suite(tmp_path, tiny_model, None)).executor.kind == "local"
    with pytest.raises(UserError, match=r"executor: workers: only used with 'kind: ray'"):
        load_suite(_suite(tmp_path, tiny_model, {"workers": 2}))
    assert load_suite(_suite(tmp_path, tiny_model, ExecutorSpec().model_dump())).executor == ExecutorSpec()
    args = build_parser().parse_args(["run", str(tmp_path / "suite.yaml"), "--ray", "ray://head:10001"])
    assert args.ray == "ray://head:10001"
    moved = suite.executor.on_ray("ray://head:10001")
    assert (moved.kind, moved.address, moved.workers, moved.num_gpus) == ("ray", "ray://head:10001", 3, 1)

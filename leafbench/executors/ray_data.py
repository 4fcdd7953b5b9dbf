"""Encode a store's missing rows on a Ray cluster with Ray Data: `map_batches` over an actor pool.

Each actor loads the model once (in `__init__`), encodes a batch, and `put`s it into the shared store as one shard;
only the row ids travel back, since Ray does not keep order and the embeddings are already on disk. The driver
then `refresh`es the store. Because every batch is committed as it finishes, a killed job re-run (or Ray's own
retry of a dead actor's batch: Ray Data restarts pool actors) encodes only what is still missing. The store must
be on a filesystem every worker sees, at the same path; so must a local model folder.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np

from leafbench.config import ModelSpec
from leafbench.errors import UserError
from leafbench.executor_spec import ExecutorSpec


_USER_ERROR = re.compile(r"leafbench\.errors\.UserError: (.*)")


class ShardWriter:
    """The Ray Data UDF: one per actor; `__call__` encodes a batch and commits it as a shard."""

    def __init__(self, name: str, model: dict[str, Any], role: str, namespace: dict[str, object], store_root: str,
                 device: str):
        from leafbench.encoders import Encoder
        from leafbench.store import EmbeddingStore

        self.encoder = Encoder(name, ModelSpec(**model), device)
        own = self.encoder.cache_namespace(role)  # type: ignore[arg-type]
        if own != namespace:  # another weight file on this node, or dtype 'auto' resolving differently here
            diff = ", ".join(f"{k}: {own.get(k)!r} here, {v!r} on the driver" for k, v in namespace.items()
                             if own.get(k) != v)
            raise UserError(f"models.{name}: a Ray worker would encode differently from the driver ({diff}); "
                            f"give the same model files everywhere and an explicit 'dtype'")
        self.role, self.namespace = role, namespace
        self.store = EmbeddingStore(Path(store_root))

    def __call__(self, batch: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        texts = [str(t) for t in batch["text"]]
        self.store.put(self.namespace, texts, self.encoder.encode(texts, self.role))  # type: ignore[arg-type]
        return {"id": batch["id"]}


def connect(spec: ExecutorSpec) -> Any:
    """`ray.init` once per process (`local`: a private one-node cluster; else the address as Ray takes it)."""
    try:
        import ray
    except ImportError:
        raise UserError("executor: kind 'ray' needs Ray Data: pip install 'leafbench[ray]'") from None
    if not ray.is_initialized():
        try:
            ray.init(address=spec.address, include_dashboard=False,
                     log_to_driver=False)
        except ConnectionError as e:
            raise UserError(f"executor.address: cannot connect to a Ray cluster at '{spec.address}' ({e}); start "
                            f"one with `ray start --head` or use 'local'") from None
    return ray


def encode_on_ray(spec: ExecutorSpec, name: str, model: ModelSpec, role: str, namespace: dict[str, object],
                  texts: list[str], store_root: Path, writer: type = ShardWriter) -> None:
    """Fan `texts` (distinct, missing from the store) out over `spec.workers` actors that write into `store_root`."""
    import pyarrow as pa  # a Ray Data dependency

    ray = connect(spec)
    # One Arrow block per batch (zero-copy slices): millions of texts without a Python dict per row
    table = pa.table({"id": pa.array(np.arange(len(texts), dtype=np.int64)),
                      "text": pa.array(texts, pa.large_string())})
    ds = ray.data.from_arrow([table.slice(lo, spec.batch_size) for lo in range(0, len(texts), spec.batch_size)])
    device = "cuda" if spec.num_gpus > 0 else "cpu"
    done = ds.map_batches(writer, batch_size=spec.batch_size, batch_format="numpy",
                          compute=ray.data.ActorPoolStrategy(size=spec.workers),
                          num_cpus=spec.num_cpus, num_gpus=spec.num_gpus or None,
                          fn_constructor_kwargs={"name": name, "model": model.model_dump(), "role": role,
                                                 "namespace": namespace, "store_root": str(store_root),
                                                 "device": device})
    try:
        ids = [b["id"] for b in done.iter_batches(batch_size=None, batch_format="numpy")]
    except Exception as e:  # noqa: BLE001 - Ray wraps the worker's exception; a UserError is still the user's
        cause = _user_error(e)
        if cause is not None:
            raise cause from None
        raise
    got = np.unique(np.concatenate(ids)) if ids else np.zeros(0, dtype=np.int64)
    if len(got) != len(texts):
        raise UserError(f"executor: the Ray job returned {len(got)} of {len(texts)} rows; re-run to encode the rest")


def _user_error(e: BaseException) -> UserError | None:
    """The worker's UserError, if that is what failed: Ray passes it on only as text (in a traceback)."""
    found = _USER_ERROR.search(str(e))
    return UserError(found.group(1).strip()) if found else None

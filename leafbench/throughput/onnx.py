"""The ONNX Runtime backend: sentence-transformers' `backend="onnx"` export of the same weights, run with the same
number of intra-op threads as torch, so the two backends compare on equal terms."""

from __future__ import annotations

import copy
import os
import uuid

from leafbench.assets import cache_dir, resolve_model
from leafbench.encoders import Encoder


def onnx_unavailable() -> str | None:
    """Why sentence-transformers' ONNX backend cannot run here, or None when it can."""
    try:
        import onnxruntime  # noqa: F401
        from optimum.onnxruntime import ORTModelForFeatureExtraction  # noqa: F401
    except Exception as e:  # noqa: BLE001 - missing, or installed against an incompatible transformers
        reason = str(e).strip().splitlines()[0][:160] if str(e).strip() else type(e).__name__
        return f"{reason} (needs the onnx extra: optimum-onnx and onnxruntime)"
    return None


def onnx_encoder(enc: Encoder, threads: int) -> Encoder:
    """The same model on ONNX Runtime with `threads` intra-op threads (as torch gets), its export cached per weight
    fingerprint in the cache directory."""
    import onnxruntime
    from sentence_transformers import SentenceTransformer

    target = cache_dir() / "onnx" / enc.fingerprint
    if not (target / "modules.json").exists():
        exported = SentenceTransformer(resolve_model(enc.spec.id), device="cpu", backend="onnx")
        staged = target.with_name(f".{target.name}.{uuid.uuid4().hex}")
        exported.save(str(staged))
        if not target.exists():
            os.replace(staged, target)
    options = onnxruntime.SessionOptions()
    options.intra_op_num_threads = threads
    onnx = copy.copy(enc)
    onnx.model = SentenceTransformer(str(target), device=enc.device, backend="onnx",
                                     model_kwargs={"session_options": options})
    onnx.model.max_seq_length = enc.model.max_seq_length
    return onnx

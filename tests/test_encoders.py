"""Encoder: role prompts, fingerprints, bf16 closeness, auto dtype, unknown models."""

from pathlib import Path

import numpy as np
import pytest
from sentence_transformers import SentenceTransformer

from leafbench.config import ModelSpec
from leafbench.encoders import Encoder
from leafbench.errors import UserError


def test_matches_sentence_transformers_and_applies_prompts(tiny_model: Path) -> None:
    enc = Encoder("m", ModelSpec(id=str(tiny_model), query_prompt="query: "), "cpu")
    texts = ["short", "a much longer text about many things", "mid length text"]
    ref = SentenceTransformer(str(tiny_model), device="cpu")
    np.testing.assert_allclose(enc.encode(texts, "query"), ref.encode(texts, prompt="query: "), atol=1e-5)
    np.testing.assert_allclose(enc.encode(texts, "document"), ref.encode(texts), atol=1e-5)
    assert enc.cache_namespace("query")["prompt"] == "query: " and enc.cache_namespace("document")["prompt"] == ""


def test_fingerprint_follows_weights_not_path(tiny_model: Path, tiny_model_b: Path, tmp_path: Path) -> None:
    import shutil

    copy = Path(shutil.copytree(tiny_model, tmp_path / "copy"))
    a, b, c = (Encoder("m", ModelSpec(id=str(p)), "cpu").fingerprint for p in (tiny_model, copy, tiny_model_b))
    assert a == b != c


def test_bf16_close_to_fp32(tiny_model: Path) -> None:
    texts = ["the quick brown fox", "jumps over the lazy dog"]
    fp32 = Encoder("m", ModelSpec(id=str(tiny_model)), "cpu").encode(texts, "document")
    bf16 = Encoder("m", ModelSpec(id=str(tiny_model), dtype="bf16"), "cpu").encode(texts, "document")
    cos = (fp32 * bf16).sum(1) / np.linalg.norm(fp32, axis=1) / np.linalg.norm(bf16, axis=1)
    assert bf16.dtype == np.float32 and cos.min() > 0.99


@pytest.mark.parametrize("native", [True, False])
def test_auto_dtype_is_bf16_only_where_native(tiny_model: Path, monkeypatch: pytest.MonkeyPatch,
                                              native: bool) -> None:
    import leafbench.hardware

    monkeypatch.setattr(leafbench.hardware, "native_bf16", lambda device: native)
    enc = Encoder("m", ModelSpec(id=str(tiny_model), dtype="auto"), "cpu")
    expected = "bf16" if native else "fp32"
    assert enc.dtype == expected and enc.cache_namespace("query")["dtype"] == expected  # shares the explicit cache
    assert leafbench.hardware.resolve_dtype("fp32", "cpu") == "fp32"


def test_unknown_model_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(UserError, match=r"models.x.id: cannot load model"):
        Encoder("x", ModelSpec(id=str(tmp_path / "no-such-model")), "cpu")

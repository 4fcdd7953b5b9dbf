"""Transforms against straightforward numpy references and sentence-transformers' own quantizer."""

from __future__ import annotations

import numpy as np
import pytest

from leafbench.transforms import (Int8Calibration, binarize, calibrate_int8, dequantize_int8, l2_normalize,
                                  quantize_int8, truncate)


def _emb(n: int, dim: int, seed: int) -> np.ndarray:
    return l2_normalize(np.random.default_rng(seed).standard_normal((n, dim)).astype(np.float32))


def _st_quantize():
    quantization = pytest.importorskip("sentence_transformers.util.quantization")
    return quantization.quantize_embeddings


def test_truncate_takes_prefix_and_renormalises():
    emb = np.random.default_rng(0).standard_normal((20, 16)).astype(np.float64)
    out = truncate(emb, 5)
    expected = emb[:, :5] / np.linalg.norm(emb[:, :5], axis=1, keepdims=True)
    assert out.dtype == np.float32 and out.shape == (20, 5)
    np.testing.assert_allclose(out, expected, rtol=1e-6)
    np.testing.assert_allclose(np.linalg.norm(out, axis=1), 1.0, rtol=1e-6)


def test_truncate_keeps_zero_rows_zero_and_full_dim_is_renormalise():
    emb = np.random.default_rng(1).standard_normal((4, 8)).astype(np.float32)
    emb[2, :3] = 0.0
    out = truncate(emb, 3)
    assert np.isfinite(out).all() and not out[2].any()
    np.testing.assert_allclose(truncate(emb, 8), emb / np.linalg.norm(emb, axis=1, keepdims=True), rtol=1e-6)


def test_truncate_does_not_modify_input():
    emb = np.random.default_rng(2).standard_normal((3, 6)).astype(np.float32)
    before = emb.copy()
    truncate(emb, 6)
    np.testing.assert_array_equal(emb, before)


@pytest.mark.parametrize("dim", [0, -1, 17])
def test_truncate_rejects_bad_dim(dim):
    with pytest.raises(ValueError, match="truncate"):
        truncate(np.ones((2, 16), np.float32), dim)


@pytest.mark.parametrize("bad", [np.ones(4, np.float32), np.ones((2, 4), np.int8)])
def test_non_matrix_or_integer_input_is_rejected(bad):
    with pytest.raises(ValueError):
        truncate(bad, 2)


def test_int8_symmetric_scale_and_reconstruction_bound():
    corpus = _emb(300, 24, 3)
    cal = calibrate_int8(corpus, "int8")
    np.testing.assert_allclose(cal.scale, np.abs(corpus).max(axis=0) / 127, rtol=1e-6)
    codes = quantize_int8(corpus, cal)
    assert codes.dtype == np.int8 and codes.shape == corpus.shape
    assert np.abs(codes).max(axis=0).tolist() == [127] * 24  # the corpus extreme of each dim maps to +-127
    error = np.abs(dequantize_int8(codes, cal) - corpus)
    assert (error <= cal.scale / 2 + 1e-7).all()  # rounding error is at most half a step, per dimension


def test_int8_queries_reuse_corpus_scale_and_clip():
    corpus, queries = _emb(200, 10, 4), _emb(30, 10, 5)
    cal = calibrate_int8(corpus, "int8")
    queries[0, 0] = 10 * cal.scale[0] * 127  # far outside the corpus range of dim 0
    queries[1, 1] = -10 * cal.scale[1] * 127
    codes = quantize_int8(queries, cal)
    expected = np.clip(np.rint(queries / cal.scale), -127, 127)
    np.testing.assert_array_equal(codes, expected)
    assert codes[0, 0] == 127 and codes[1, 1] == -127
    assert not np.array_equal(cal.scale, calibrate_int8(queries, "int8").scale)  # i.e. not fitted on queries


def test_int8_dimension_that_is_zero_on_corpus_stays_zero():
    corpus = _emb(50, 6, 6)
    corpus[:, 2] = 0.0
    cal = calibrate_int8(corpus, "int8")
    codes = quantize_int8(_emb(5, 6, 7), cal)
    assert not codes[:, 2].any() and not quantize_int8(corpus, cal)[:, 2].any()


def test_int8_affine_is_bit_identical_to_sentence_transformers():
    quantize_embeddings = _st_quantize()
    corpus, queries = _emb(300, 32, 8), _emb(40, 32, 9)
    queries[0] *= 3  # outside the corpus ranges: clipped the same way
    cal = calibrate_int8(corpus, "int8-affine")
    ranges = np.vstack((corpus.min(axis=0), corpus.max(axis=0)))
    np.testing.assert_array_equal(cal.ranges, ranges)
    for emb in (corpus, queries):
        ours = quantize_int8(emb, cal)
        assert ours.dtype == np.int8
        np.testing.assert_array_equal(ours, quantize_embeddings(emb, "int8", ranges=ranges))
        np.testing.assert_array_equal(ours, quantize_embeddings(emb, "int8", calibration_embeddings=corpus))


def test_binarize_matches_packbits_and_sentence_transformers_ubinary():
    quantize_embeddings = _st_quantize()
    emb = _emb(25, 37, 10)  # 37 is not a multiple of 8: the last byte is zero-padded
    emb[0, :5] = 0.0  # zero is not positive
    bits = binarize(emb)
    assert bits.dtype == np.uint8 and bits.shape == (25, 5)
    np.testing.assert_array_equal(bits, np.packbits(emb > 0, axis=1))
    np.testing.assert_array_equal(bits, quantize_embeddings(emb, "ubinary"))
    np.testing.assert_array_equal(np.unpackbits(bits, axis=1, count=37), (emb > 0).astype(np.uint8))


def test_calibration_is_frozen_and_validated():
    corpus = _emb(20, 4, 11)
    cal = calibrate_int8(corpus, "int8")
    assert cal.dim == 4 and cal.scheme == "int8"
    with pytest.raises(ValueError):
        cal.scale[0] = 1.0  # read-only parameters
    with pytest.raises(AttributeError):
        cal.scheme = "int8-affine"  # type: ignore[misc]
    with pytest.raises(ValueError, match="unknown int8 scheme"):
        calibrate_int8(corpus, "int4")
    with pytest.raises(ValueError, match="takes `ranges`"):
        Int8Calibration("int8-affine", scale=np.ones(4))
    with pytest.raises(ValueError, match="4 dims"):
        quantize_int8(_emb(3, 5, 12), cal)
    with pytest.raises(ValueError, match="empty corpus"):
        calibrate_int8(np.zeros((0, 4), np.float32))
    with pytest.raises(ValueError, match="symmetric"):
        dequantize_int8(np.zeros((1, 4), np.int8), calibrate_int8(corpus, "int8-affine"))

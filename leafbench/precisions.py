"""Output precisions: one registry entry per precision, used by the search, the MTEB bridge and the report.

A precision says everything that differs between float32, int8 and binary retrieval: how it is calibrated on the
corpus (chunk by chunk, so a corpus never has to fit in memory), how documents become stored codes and queries
become query vectors, how a block of codes is scored, whether float32 rescoring makes sense, how it is described
in a result (`variant`), and what the MTEB bridge hands mteb (vectors, similarity name, output dtype label). A new
precision is one subclass and one `register` call plus tests; nothing else branches on precision names.

Scores are exact for the quantized precisions: int8 and bit products are small integers (or an integer vector
times one float query vector), computed in a float type that holds them exactly (float64 where float32 could not).

`binary` is sign bits (bit = x > 0), packed: sentence-transformers' `ubinary`; its score is -Hamming distance.
This module never imports torch (sentence-transformers' quantizer is imported on first int8-affine use).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from leafbench.transforms import (CHUNK_ROWS, Int8Calibration, Rows, binarize, calibrate_int8, dequantize_int8,
                                  quantize_int8)

_EXACT_FLOAT32_INT = 2 ** 24  # float32 holds every integer up to this, so integer dot products below it are exact


class Precision:
    """How one output precision stores, scores and describes embeddings (subclasses fill in the codecs).

    `family` names the kind of code an index stores ("float", "int8", "binary"), which is what a FAISS backend
    needs to know; `Params` from `calibrate` (None when there is nothing to fit) travel with the codes.
    """

    name = ""
    family = "float"
    variant = ""  # how the exact search scores it, recorded in every retrieval cell
    mteb_variant = ""  # how the MTEB bridge presents it; `{source}` names what int8 was calibrated on (hashed
    # into MTEB cell identities: changing the text recomputes those cells)
    rescorable = True  # float32 rescoring of the top candidates changes something
    mteb_dtype = "float32"  # mteb's output dtype label (ModelMeta experiment kwarg `output_dtypes`)
    mteb_similarity = "cosine"  # mteb similarity function name used on `mteb_vectors`

    def calibrate(self, rows: Rows, chunk: int = CHUNK_ROWS, name: str = "docs") -> Any:
        """Parameters fitted on the corpus rows (reused unchanged for its queries); None if there are none."""
        return None

    def encode_documents(self, docs: np.ndarray, params: Any) -> np.ndarray:
        """Stored codes of float32 document rows (one chunk at a time)."""
        raise NotImplementedError

    def encode_queries(self, queries: np.ndarray, params: Any) -> np.ndarray:
        """Query vectors V such that score = scores(V @ doc_matrix(codes).T), in `dot_dtype`."""
        raise NotImplementedError

    def doc_matrix(self, codes: np.ndarray, dim: int) -> np.ndarray:
        """Codes as the matrix the query vectors multiply (the codes themselves, except for binary)."""
        return codes

    def dot_dtype(self, dim: int) -> type[np.floating]:
        """Float type in which the block product is exact (or, for float32, as exact as the embeddings)."""
        return np.float32

    def scores(self, dots: np.ndarray, dim: int) -> np.ndarray:
        """Map a block product to scores, in place where possible (identity except for binary)."""
        return dots

    def score(self, query_vectors: np.ndarray, codes: np.ndarray, dim: int) -> np.ndarray:
        """[nq, n] scores of encoded queries against a block of document codes."""
        dtype = self.dot_dtype(dim)
        dmat = self.doc_matrix(codes, dim).astype(dtype, copy=False)
        return self.scores(query_vectors.astype(dtype, copy=False) @ dmat.T, dim)

    def mteb_vectors(self, x: np.ndarray, params: Any) -> np.ndarray:
        """The float32 vectors the MTEB bridge hands mteb, whose `mteb_similarity` ranks as this precision does."""
        raise NotImplementedError

    def mteb_experiment_kwargs(self) -> dict[str, str]:
        """What the MTEB layout records about this precision (empty for float32, the model as published)."""
        return {} if self.mteb_dtype == "float32" else {"output_dtypes": self.mteb_dtype}


class Float32(Precision):
    name = "float32"
    variant = "float32: exact dot product of L2-normalised embeddings (cosine)"
    mteb_variant = "float32: the model's embeddings at full dim, MRL prefixes renormalised; cosine similarity"
    rescorable = False  # already exact; rescoring it would be a no-op

    def encode_documents(self, docs: np.ndarray, params: Any) -> np.ndarray:
        return docs

    def encode_queries(self, queries: np.ndarray, params: Any) -> np.ndarray:
        return queries

    def mteb_vectors(self, x: np.ndarray, params: Any) -> np.ndarray:
        return x


class _Int8(Precision):
    """What both int8 schemes share: per-dimension parameters fitted on the corpus, documents stored as codes."""

    family = "int8"
    mteb_dtype = "int8"
    mteb_similarity = "dot"

    def calibrate(self, rows: Rows, chunk: int = CHUNK_ROWS, name: str = "docs") -> Int8Calibration:
        return calibrate_int8(rows, self.name, chunk, name)

    def encode_documents(self, docs: np.ndarray, params: Int8Calibration) -> np.ndarray:
        return quantize_int8(docs, params)


class SymmetricInt8(_Int8):
    """Symmetric per-dim scale s: sum_d (q_d s_d)(c_d s_d) = (q * s^2) . c, so doc codes are scored as stored."""

    name = "int8"
    variant = ("int8: symmetric per-dim scale (max|x| over corpus / 127), calibrated on corpus; "
               "dequantized dot product")
    mteb_variant = ("int8: symmetric per-dim scale (max|x| / 127) calibrated on {source}; dequantized vectors, "
                    "dot product")
    def encode_queries(self, queries: np.ndarray, params: Int8Calibration) -> np.ndarray:
        scale = params.scale
        assert scale is not None
        return quantize_int8(queries, params).astype(np.float32) * (scale * scale)

    def code_values(self, codes: np.ndarray, params: Int8Calibration) -> np.ndarray:
        """The numbers the codes stand for in the score: score(q, d) = values(q codes) . values(d codes)."""
        return dequantize_int8(codes, params)

    def mteb_vectors(self, x: np.ndarray, params: Int8Calibration) -> np.ndarray:
        return dequantize_int8(quantize_int8(x, params), params)

    def mteb_experiment_kwargs(self) -> dict[str, str]:
        return {"output_dtypes": "int8", "int8_scheme": "symmetric"}


class AffineInt8(_Int8):
    """sentence-transformers' int8 codes for docs and queries, raw integer dot product (exact, as floats)."""

    name = "int8-affine"
    variant = ("int8-affine: sentence-transformers quantize_embeddings int8 (per-dim corpus min/max -> "
               "0..255 - 128), calibrated on corpus; raw integer dot product")
    mteb_variant = ("int8-affine: sentence-transformers quantize_embeddings int8 (per-dim min/max of {source} -> "
                    "0..255 - 128); raw codes as vectors, dot product")
    def encode_queries(self, queries: np.ndarray, params: Int8Calibration) -> np.ndarray:
        return quantize_int8(queries, params)

    def dot_dtype(self, dim: int) -> type[np.floating]:
        # |code| <= 128, so |dot| <= 128 * 128 * dim: exact in float32 up to 1024 dims, else ranked in float64
        # (TopK scores are float32, so past 1024 dims the reported scores, not the ranking, are rounded)
        return np.float64 if 128 * 128 * dim > _EXACT_FLOAT32_INT else np.float32

    def code_values(self, codes: np.ndarray, params: Int8Calibration) -> np.ndarray:
        """The numbers the codes stand for in the score: the raw codes (the offsets do not cancel)."""
        return codes.astype(np.float32)

    def mteb_vectors(self, x: np.ndarray, params: Int8Calibration) -> np.ndarray:
        return quantize_int8(x, params).astype(np.float32)

    def mteb_experiment_kwargs(self) -> dict[str, str]:
        return {"output_dtypes": "int8", "int8_scheme": "affine"}


class UnsignedBinary(Precision):
    """Packed sign bits (sentence-transformers' `ubinary`); with bits as +-1, q . d = dim - 2 * hamming exactly."""

    name = "binary"
    family = "binary"
    variant = "binary: hamming on packed sign bits; score = -hamming"
    mteb_variant = "binary: sign bits as 0/1 vectors; euclidean similarity (= ranking by -hamming)"
    mteb_dtype = "binary"
    mteb_similarity = "euclidean"

    def encode_documents(self, docs: np.ndarray, params: Any) -> np.ndarray:
        return binarize(docs)

    def encode_queries(self, queries: np.ndarray, params: Any) -> np.ndarray:
        return self.doc_matrix(binarize(queries), queries.shape[1])

    def doc_matrix(self, codes: np.ndarray, dim: int) -> np.ndarray:
        bits = np.unpackbits(codes, axis=1, count=dim)  # count=dim drops the padding bits of the last byte
        return bits.astype(np.float32) * 2 - 1

    def scores(self, dots: np.ndarray, dim: int) -> np.ndarray:
        dots -= dim  # dots - dim = -2 * hamming
        dots *= 0.5
        return dots

    def mteb_vectors(self, x: np.ndarray, params: Any) -> np.ndarray:
        return (x > 0).astype(np.float32)


PRECISIONS: dict[str, Precision] = {}


def register(precision: Precision) -> Precision:
    """Add a precision to the registry (names are unique)."""
    if precision.name in PRECISIONS:
        raise ValueError(f"precision {precision.name!r} is already registered")
    PRECISIONS[precision.name] = precision
    return precision


for _p in (Float32(), SymmetricInt8(), AffineInt8(), UnsignedBinary()):
    register(_p)


def get(name: str) -> Precision:
    """The registered precision `name`; ValueError naming the known ones otherwise."""
    try:
        return PRECISIONS[name]
    except KeyError:
        raise ValueError(f"unknown precision {name!r}; expected one of {', '.join(PRECISIONS)}") from None

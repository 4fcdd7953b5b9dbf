"""Output precisions: one registry entry per precision, used by the search, the MTEB bridge and the report.

A precision says everything that differs between float32, int8 and binary retrieval: how it is calibrated on the
corpus (chunk by chunk, so a corpus never has to fit in memory), how documents become stored codes and queries
become query vectors, how a block of codes is scored, whether float32 rescoring makes sense, how it is described
in a result (`variant`), and what the MTEB bridge hands mteb (vectors, similarity name, output dtype label). A new
precision is one subclass and one `register` call plus tests; nothing else branches on precision names.

The exact scan keeps each precision's stored codes (`layout`, `pack`: built once, when the index is built) and
takes each block's top-k through the kernels of `leafbench.kernels`: FAISS's Hamming k-NN on the packed bits for
binary (`block_topk`, which selects while it scores), integer or int8 x float products for int8 (`block_scores`,
then the scan selects), so a quantized scan reads its own bytes and never a float32 copy of the corpus. Scores are
exact for the quantized precisions: int8 and bit products are small integers (or an integer vector times one float
query vector), computed in a type that holds them exactly.

`binary` is sign bits (bit = x > 0), packed: sentence-transformers' `ubinary`; its score is -Hamming distance.
This module never imports torch (sentence-transformers' quantizer is imported on first int8-affine use).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from leafbench import kernels
from leafbench.transforms import (CHUNK_ROWS, Int8Calibration, Rows, binarize, calibrate_int8, dequantize_int8,
                                  quantize_int8)


@dataclass(frozen=True)
class CodeLayout:
    """The exact scan's stored codes: `width` values of `dtype` per document, one row per document; `last_first`:
    stored from the last document to the first, so a block is handed to its kernel last row first without a copy
    (binary's: FAISS keeps the first of a tie it meets, which is then the highest row, the tie rule)."""

    dtype: type[np.generic]
    width: int
    last_first: bool = False


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
        """Query rows in the form the scoring kernel takes (float vectors, int8 codes, packed bits)."""
        raise NotImplementedError

    def layout(self, dim: int) -> CodeLayout | None:
        """How the exact scan stores the codes of `dim`-d documents; None: it scans the float32 rows themselves."""
        return None

    def pack(self, docs: np.ndarray, params: Any) -> np.ndarray:
        """Stored rows [m, layout.width] of float32 document rows (one chunk at a time)."""
        return self.encode_documents(docs, params)

    def block_scores(self, queries: np.ndarray, codes: np.ndarray, dim: int) -> np.ndarray:
        """[nq, m] scores of encoded queries against a block of stored codes in `layout`; any numeric dtype whose
        order is the score order."""
        raise NotImplementedError

    def block_topk(self, queries: np.ndarray, codes: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray] | None:
        """A block's exact top-k (scores as float32, row indices into the block in document order; the tie rule of
        `leafbench.search.topk`) from a kernel that selects while it scores, or None: the scan then scores the
        block (`block_scores`) and selects. `codes` comes as the layout stores it (last row first if `last_first`)."""
        return None

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

    def block_scores(self, queries: np.ndarray, codes: np.ndarray, dim: int) -> np.ndarray:
        return queries @ codes.T

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

    def layout(self, dim: int) -> CodeLayout:
        return CodeLayout(np.int8, dim)

    def block_scores(self, queries: np.ndarray, codes: np.ndarray, dim: int) -> np.ndarray:
        return kernels.int8_dot(queries, codes)


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
        return binarize(queries)

    def layout(self, dim: int) -> CodeLayout:
        return CodeLayout(np.uint8, -(-dim // 8), last_first=True)

    def block_topk(self, queries: np.ndarray, codes: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """-Hamming as float32 (exact small integers) of the block's k nearest, by FAISS's Hamming k-NN (`codes`:
        the block last row first, as the layout stores it)."""
        return kernels.hamming_topk(queries, codes, k)

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

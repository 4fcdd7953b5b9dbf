"""Embedding transforms: Matryoshka truncation, int8 quantization (two schemes) and binary packing.

Everything here is cheap arithmetic on stored embeddings, so the whole dim x precision grid is derived from one
encoding pass. int8 is calibrated on the *corpus* and the same parameters are reused for the queries, as an index
would be built once and queried later. Two int8 schemes are kept, and recorded by name, because they answer
different questions:

- ``"int8"``: symmetric per-dimension scale (``max|x_d|`` over the corpus / 127). The dequantized dot product
  approximates the float dot product, which is what the LEAF paper's "int8 ~ float32" claim is about.
- ``"int8-affine"``: sentence-transformers' own ``quantize_embeddings(emb, "int8", ranges=corpus min/max)``, scored
  by a raw integer dot product. The per-dimension offsets do not cancel, so it distorts scores; it is kept so results
  are comparable with sentence-transformers. It delegates to sentence-transformers (imported lazily, on first use,
  because that import pulls in torch) so the codes stay bit-identical to it.

Document embeddings may be an ndarray or any *row source* (`RowSource`: `.shape`, `len()`, and `__getitem__` of a
slice or an int array returning float32 rows, e.g. the store's memory-mapped `RowView`): every pass over a corpus
here reads it chunk by chunk (`iter_chunks`), so a corpus never has to fit in memory, and `TruncatedRows` is the
lazy Matryoshka view of one.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Protocol, Union, runtime_checkable

import numpy as np

INT8_SCHEMES = ("int8", "int8-affine")
CHUNK_ROWS = 65536  # rows per pass step: 65536 x 768 float32 = 192 MiB, the bound on a pass's own memory


@runtime_checkable
class RowSource(Protocol):
    """A lazy, read-only [n, dim] float32 matrix: slices and int-array gathers return float32 ndarrays."""

    @property
    def shape(self) -> tuple[int, ...]: ...

    def __len__(self) -> int: ...

    def __getitem__(self, key: slice | np.ndarray) -> np.ndarray: ...


Rows = Union[np.ndarray, RowSource]


def as_rows(rows: Rows, name: str = "embeddings") -> Rows:
    """`rows` checked to be 2-D float rows: an ndarray becomes a float32 view, a row source is kept lazy."""
    if isinstance(rows, np.ndarray) or not isinstance(rows, RowSource):
        return as_float_matrix(rows, name)
    if len(rows.shape) != 2:
        raise ValueError(f"{name} must be rows [n, dim], got shape {tuple(rows.shape)}")
    return rows


def iter_chunks(rows: Rows, chunk: int = CHUNK_ROWS, name: str = "embeddings") -> Iterator[tuple[int, np.ndarray]]:
    """(start, float32 rows[start:start+chunk]) over the whole source, refusing non-finite rows as they pass:
    a NaN/inf embedding would otherwise become a silent, meaningless score."""
    if chunk < 1:
        raise ValueError(f"chunk must be >= 1, got {chunk}")
    for start in range(0, len(rows), chunk):
        arr = as_float_matrix(rows[start:start + chunk], name)
        check_finite(arr, name, start)
        yield start, arr


def check_finite(arr: np.ndarray, name: str, offset: int = 0) -> None:
    """Raise naming the first non-finite row (numbered from `offset`)."""
    bad = ~np.isfinite(arr).all(axis=1)
    if bad.any():
        raise ValueError(f"{name} contain non-finite values (NaN/inf embedding), first at row "
                         f"{offset + int(np.flatnonzero(bad)[0])}")


def gather(rows: Rows, indices: np.ndarray) -> np.ndarray:
    """float32 rows at `indices` (any shape of ints; the result has that shape + [dim]), read once per distinct row."""
    flat = np.asarray(indices, dtype=np.int64).ravel()
    unique, inverse = np.unique(flat, return_inverse=True)
    picked = as_float_matrix(rows[unique]) if len(unique) else np.empty((0, rows.shape[1]), np.float32)
    return picked[inverse].reshape(*np.shape(indices), rows.shape[1])


class TruncatedRows:
    """Lazy Matryoshka view: rows cut to their first `dim` columns and L2-renormalised only when read."""

    def __init__(self, rows: Rows, dim: int):
        self.rows = as_rows(rows)
        if not 1 <= dim <= self.rows.shape[1]:
            raise ValueError(f"cannot truncate {self.rows.shape[1]}-d embeddings to {dim} dims (need 1 <= dim <= "
                             f"{self.rows.shape[1]})")
        self.dim = dim
        self.dtype = np.dtype(np.float32)
        parent = getattr(self.rows, "fingerprint", None)
        self.fingerprint = f"{parent}:dim{dim}" if parent else None  # what an index cache keys a view by

    @property
    def shape(self) -> tuple[int, int]:
        return (len(self.rows), self.dim)

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, key: slice | np.ndarray) -> np.ndarray:
        return l2_normalize(as_float_matrix(self.rows[key])[:, :self.dim])


def as_float_matrix(emb: np.ndarray, name: str = "embeddings") -> np.ndarray:
    """View `emb` as a 2-D float32 array (no copy when it already is one, e.g. a float32 memmap)."""
    arr = np.asarray(emb)
    if arr.ndim != 2:
        raise ValueError(f"{name} must be a 2-D array [n, dim], got shape {arr.shape}")
    if not np.issubdtype(arr.dtype, np.floating):
        raise ValueError(f"{name} must be float embeddings, got dtype {arr.dtype} (already quantized?)")
    return arr.astype(np.float32, copy=False)


def l2_normalize(emb: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm in a new float32 array; all-zero rows stay zero instead of becoming NaN."""
    out = np.array(as_float_matrix(emb), dtype=np.float32, copy=True)
    norms = np.linalg.norm(out, axis=1, keepdims=True)
    np.divide(out, norms, out=out, where=norms > 0)
    return out


def truncate(emb: np.ndarray, dim: int) -> np.ndarray:
    """First `dim` columns, renormalised: a Matryoshka prefix is only a cosine embedding after renormalising."""
    arr = as_float_matrix(emb)
    if not 1 <= dim <= arr.shape[1]:
        raise ValueError(f"cannot truncate {arr.shape[1]}-d embeddings to {dim} dims (need 1 <= dim <= "
                         f"{arr.shape[1]})")
    return l2_normalize(arr[:, :dim])


@dataclass(frozen=True, eq=False)
class Int8Calibration:
    """Per-dimension int8 parameters fitted on a corpus, reused unchanged for its queries.

    `scheme` is "int8" (then `scale` holds max|x_d| / 127) or "int8-affine" (then `ranges` holds the corpus
    per-dimension [min; max] as a (2, dim) array, the `ranges` argument of sentence-transformers' quantizer).
    """

    scheme: str
    scale: np.ndarray | None = None
    ranges: np.ndarray | None = None

    def __post_init__(self) -> None:
        if self.scheme not in INT8_SCHEMES:
            raise ValueError(f"unknown int8 scheme {self.scheme!r}; expected one of {INT8_SCHEMES}")
        field = "scale" if self.scheme == "int8" else "ranges"
        other = "ranges" if field == "scale" else "scale"
        if getattr(self, field) is None or getattr(self, other) is not None:
            raise ValueError(f"int8 scheme {self.scheme!r} takes `{field}` and not `{other}`")
        # Frozen means frozen: a private read-only copy, so the parameters of a built index can never move.
        param = np.array(getattr(self, field), dtype=np.float32)
        param.setflags(write=False)
        object.__setattr__(self, field, param)

    @property
    def dim(self) -> int:
        """Embedding dimension the calibration was fitted on."""
        params = self.scale if self.scale is not None else self.ranges
        assert params is not None
        return int(params.shape[-1])


def calibrate_int8(corpus: Rows, scheme: str = "int8", chunk: int = CHUNK_ROWS,
                   name: str = "corpus embeddings") -> Int8Calibration:
    """Fit int8 parameters on the corpus embeddings (not the queries: an index is built before queries arrive),
    one chunk at a time: per-dimension max|x| (or min and max) reduce exactly across chunks."""
    if scheme not in INT8_SCHEMES:
        raise ValueError(f"unknown int8 scheme {scheme!r}; expected one of {INT8_SCHEMES}")
    rows = as_rows(corpus, name)
    if len(rows) == 0:
        raise ValueError("cannot calibrate int8 on an empty corpus")
    lo = np.full(rows.shape[1], np.inf, np.float32)
    hi = np.full(rows.shape[1], -np.inf, np.float32)
    for _, arr in iter_chunks(rows, chunk, name):
        np.minimum(lo, arr.min(axis=0), out=lo)
        np.maximum(hi, arr.max(axis=0), out=hi)
    if scheme == "int8":
        return Int8Calibration(scheme, scale=(np.maximum(np.abs(lo), np.abs(hi)) / np.float32(127)).astype(np.float32))
    return Int8Calibration(scheme, ranges=np.vstack((lo, hi)).astype(np.float32))


def quantize_int8(emb: np.ndarray, cal: Int8Calibration) -> np.ndarray:
    """int8 codes of `emb` under `cal`; values outside the corpus range are clipped, as a real index would."""
    arr = as_float_matrix(emb)
    if arr.shape[1] != cal.dim:
        raise ValueError(f"embeddings have {arr.shape[1]} dims but the int8 calibration has {cal.dim} dims")
    if cal.scheme == "int8-affine":
        return np.asarray(_st_quantize_embeddings()(arr, "int8", ranges=cal.ranges), dtype=np.int8)
    assert cal.scale is not None
    ratio = np.zeros_like(arr)
    np.divide(arr, cal.scale, out=ratio, where=cal.scale > 0)  # a dimension that is 0 on the whole corpus stays 0
    return np.clip(np.rint(ratio), -127, 127).astype(np.int8)


def dequantize_int8(codes: np.ndarray, cal: Int8Calibration) -> np.ndarray:
    """float32 values the symmetric codes stand for; the affine scheme is scored on raw codes, so has none here."""
    if cal.scheme != "int8":
        raise ValueError(f"dequantize_int8 is defined for the symmetric 'int8' scheme, not {cal.scheme!r}")
    return codes.astype(np.float32) * cal.scale


def binarize(emb: np.ndarray) -> np.ndarray:
    """Packed sign bits (bit = x > 0), identical to sentence-transformers' "ubinary" precision."""
    return np.packbits(as_float_matrix(emb) > 0, axis=-1)


def _st_quantize_embeddings() -> Callable[..., np.ndarray]:
    """sentence-transformers' quantizer, imported on first use so this module never imports torch by itself."""
    try:
        from sentence_transformers.util.quantization import quantize_embeddings
    except ImportError:  # sentence-transformers < 5 kept it at the old, now deprecated, path
        from sentence_transformers.quantization import quantize_embeddings
    return quantize_embeddings

"""Bytes per document as an index stores it, from the layout leafbench's search uses.

Flat layouts (the exact scan): float32 keeps 4 bytes per dim; int8 keeps 1 byte per dim plus its calibration, a
float32 scale per dim (symmetric `int8`) or a float32 min and max per dim (`int8-affine`), shared by the corpus and
so amortised over its N documents; binary keeps d/8 bytes (packed sign bits). A cell searched with an index that
records its size (the FAISS backends put `search.index_bytes` into the cell) uses that measured size instead:
index bytes / documents, which includes the index's own overhead (graph links, centroids).

Rescoring (`rescore > 0`) needs the float32 vectors too: leafbench's rescoring gathers the R candidates' rows from
the memory-mapped embedding store, so that copy is kept on disk (not in RAM), and it counts: bytes per document are
everything the configuration keeps (codes in RAM + the float32 copy on disk it rescores from).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

_CALIBRATION_BYTES_PER_DIM = {"float32": 0, "int8": 4, "int8-affine": 8, "binary": 0}


def code_bytes(precision: str, dim: int) -> int:
    """Bytes of one document's code: what grows with N."""
    if precision == "float32":
        return 4 * dim
    if precision in ("int8", "int8-affine"):
        return dim
    if precision == "binary":
        return math.ceil(dim / 8)
    raise ValueError(f"no storage layout known for precision {precision!r}")


def fixed_bytes(precision: str, dim: int) -> int:
    """Bytes shared by the whole corpus (the int8 calibration), whatever N is."""
    return _CALIBRATION_BYTES_PER_DIM.get(precision, 0) * dim


@dataclass(frozen=True)
class Footprint:
    """Bytes of an index over N documents: in RAM (what the search touches) and on disk (what must be kept)."""

    ram: float
    disk: float  # ram + the float32 rescoring copy (on disk)
    per_doc: float  # disk / N, everything kept: the frontier's x axis
    rescore_copy: float = 0.0  # bytes of the float32 copy a rescoring configuration reads candidates from (disk)


def footprint(precision: str, dim: int, n_docs: float, rescore: int = 0,
              index_bytes_per_doc: float | None = None) -> Footprint:
    """The flat layout over `n_docs`, or a measured index size scaled to `n_docs` (linear in N)."""
    if index_bytes_per_doc is not None:
        ram = index_bytes_per_doc * n_docs
    else:
        ram = code_bytes(precision, dim) * n_docs + fixed_bytes(precision, dim)
    rescoring = 4 * dim * n_docs if rescore and precision != "float32" else 0.0
    return Footprint(ram=ram, disk=ram + rescoring, per_doc=(ram + rescoring) / n_docs, rescore_copy=rescoring)

"""The exact scan: brute-force top-k over any row source, in memory bounded by one chunk, not by the corpus.

Building the scan of a quantized precision packs the rows once into its stored codes (int8 codes, packed bits:
`leafbench.search.codes`), as an index would be built; float32 scans the rows themselves. Each search then walks
the documents block by block, takes each block's top-k for every query chunk with the precision's kernel (FAISS's
Hamming k-NN, integer products: `leafbench.kernels`) and merges it into a running top-k per query, so the
search's own memory is one score block and the top-k buffers; the float32 corpus stays wherever the row source
keeps it (e.g. memory-mapped) and large code stores are memory-mapped too. The queries x corpus score matrix never
exists.

On CUDA the float32 scan runs in torch on the GPU (`TorchFloatScan`): the same loop with the block product and
top-k on the device and the tie rule repaired on the host for the rows whose ties straddle the cut.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterator
from typing import Any

import numpy as np

from leafbench.precisions import Precision
from leafbench.search.codes import CodeStore
from leafbench.search.topk import at_or_above, block_topk, merge_topk, repair_row, sorted_topk, spans
from leafbench.transforms import Rows, as_float_matrix, iter_chunks


class ExactScan:
    """Exact top-k under a precision; int8 is calibrated on the rows once, when the scan is built."""

    approximate = False

    def __init__(self, rows: Rows, precision: Precision, query_chunk: int = 1024, doc_chunk: int = 32768,
                 params: Any = None):
        if query_chunk < 1 or doc_chunk < 1:
            raise ValueError(f"query_chunk and doc_chunk must be >= 1, got {query_chunk} and {doc_chunk}")
        self.rows, self.precision = rows, precision
        self.query_chunk, self.doc_chunk = query_chunk, doc_chunk
        self.dim = int(rows.shape[1])
        self.params = params if params is not None else precision.calibrate(rows, doc_chunk, "docs")
        layout = precision.layout(self.dim)
        self.codes = None if layout is None else CodeStore(rows, precision, self.params, layout, doc_chunk)
        self.stats: dict[str, Any] = {}

    @property
    def n_docs(self) -> int:
        return len(self.rows)

    @property
    def variant(self) -> str:
        return self.precision.variant

    def search(self, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        """Exact top-min(k, n_docs) per query, sorted by the tie rule (score desc, then higher index first)."""
        k = min(k, self.n_docs)
        # float32 queries: a float64 query would silently turn every block product into a float64 GEMM
        qform = self.precision.encode_queries(as_float_matrix(queries, "queries"), self.params)
        qspans = list(spans(len(qform), self.query_chunk))
        best: list[tuple[np.ndarray, np.ndarray] | None] = [None] * len(qspans)
        for dstart, block in self._blocks():
            for i, (qstart, qstop) in enumerate(qspans):
                found = best[i]
                floor = found[0][:, -1:] if found is not None and found[0].shape[1] == k else None
                block_scores, block_idx = self._block_topk(qform[qstart:qstop], block, k, floor)
                block_idx = np.where(block_idx >= 0, block_idx + dstart, -1)
                best[i] = sorted_topk(block_scores, block_idx, k) if found is None else \
                    merge_topk(*found, block_scores, block_idx, k)
        done = [b for b in best if b is not None]
        if not done:
            return np.empty((len(qform), k), np.float32), np.empty((len(qform), k), np.int64)
        return np.concatenate([s for s, _ in done]).astype(np.float32), np.concatenate([i for _, i in done])

    def _blocks(self) -> Iterator[tuple[int, np.ndarray]]:
        """(start, block) over the corpus: stored codes, or the float32 rows read chunk by chunk."""
        if self.codes is None:
            yield from iter_chunks(self.rows, self.doc_chunk, "docs")
            return
        for start, stop in spans(self.n_docs, self.doc_chunk):
            yield start, self.codes.block(start, stop)

    def _block_topk(self, qmat: np.ndarray, block: np.ndarray, k: int,
                    floor: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        """A block's candidates for the running top-k: its top-k, or (once the running top-k is full, `floor`
        holding its k-th scores) only the columns that reach the floor (-1 indices pad)."""
        selected = self.precision.block_topk(qmat, block, k)
        if selected is not None:
            return selected
        scores = self.precision.block_scores(qmat, block, self.dim)
        return block_topk(scores, k) if floor is None else at_or_above(scores, floor.astype(scores.dtype), k)


class TorchFloatScan(ExactScan):
    """The float32 scan with each block's product and top-k computed by torch on `device` (CUDA in practice)."""

    def __init__(self, rows: Rows, precision: Precision, query_chunk: int = 1024, doc_chunk: int = 32768,
                 device: str = "cuda"):
        if precision.family != "float":
            raise ValueError(f"the torch scan handles float32 only, not {precision.name!r}")
        super().__init__(rows, precision, query_chunk, doc_chunk)
        self.device = device
        self.stats["device"] = device

    def _block_topk(self, qmat: np.ndarray, dmat: np.ndarray, k: int,
                    floor: np.ndarray | None) -> tuple[np.ndarray, np.ndarray]:
        import torch

        scores = torch.from_numpy(np.ascontiguousarray(qmat)).to(self.device) @ \
            torch.from_numpy(np.ascontiguousarray(dmat)).to(self.device).T
        kk = min(k, scores.shape[1])
        top, idx = torch.topk(scores, kk, dim=1)
        kth = top[:, -1:]
        # torch.topk picks any of the values tied at the cut: repair those rows on the host (rare except at ties)
        straddling = torch.nonzero((scores == kth).sum(1) > (top == kth).sum(1)).flatten().tolist()
        top_np, idx_np = top.cpu().numpy(), idx.cpu().numpy().astype(np.int64)
        for row in straddling:
            idx_np[row], top_np[row] = repair_row(scores[row].cpu().numpy(), idx_np[row], top_np[row], kk)
        return top_np, idx_np


def default_device() -> str:
    """"cuda" when a GPU is there for torch, else "cpu": torch is imported only on a machine with an NVIDIA driver
    (so a CPU box never loads torch just to find out), and the answer is the same at plan time and at search time,
    which is what lets a cell's identity name the device its exact scan will run on."""
    torch = sys.modules.get("torch")
    if torch is None:
        if not os.path.exists("/dev/nvidiactl"):
            return "cpu"
        import torch
    return "cuda" if torch.cuda.is_available() else "cpu"


def scan_device(precision: Precision, device: str = "auto") -> str:
    """Where the exact scan of `precision` runs: the torch scan on CUDA for float32, numpy on the CPU otherwise."""
    resolved = default_device() if device == "auto" else device
    return "cuda" if resolved == "cuda" and precision.family == "float" else "cpu"

"""The exact scan: brute-force top-k over any row source, in memory bounded by one chunk, not by the corpus.

Each search reads the documents chunk by chunk, encodes the chunk under the precision (int8 codes, packed bits),
scores it against every query chunk and merges each block's top-k into a running top-k per query, so the scan's
own memory is one decoded chunk, one score block and the top-k buffers; the corpus itself stays wherever the row
source keeps it (e.g. memory-mapped). The queries x corpus score matrix never exists.

On CUDA the float32 scan runs in torch on the GPU (`TorchFloatScan`): the same loop with the block product and
top-k on the device and the tie rule repaired on the host for the rows whose ties straddle the cut.
"""

from __future__ import annotations

import sys
from typing import Any

import numpy as np

from leafbench.precisions import Precision
from leafbench.search.topk import block_topk, merge_topk, repair_row, spans
from leafbench.transforms import Rows, iter_chunks


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
        p, dtype = self.precision, self.precision.dot_dtype(self.dim)
        qmat = p.encode_queries(queries, self.params).astype(dtype, copy=False)
        qspans = list(spans(len(qmat), self.query_chunk))
        best = [(np.empty((stop - start, 0), dtype), np.empty((stop - start, 0), np.int64)) for start, stop in qspans]
        for dstart, chunk in iter_chunks(self.rows, self.doc_chunk, "docs"):
            dmat = p.doc_matrix(p.encode_documents(chunk, self.params), self.dim).astype(dtype, copy=False)
            for i, (qstart, qstop) in enumerate(qspans):
                block_scores, block_idx = self._block_topk(qmat[qstart:qstop], dmat, k)
                best[i] = merge_topk(*best[i], block_scores, block_idx + dstart, k)
        scores = np.concatenate([s for s, _ in best]) if best else np.empty((0, k), dtype)
        indices = np.concatenate([i for _, i in best]) if best else np.empty((0, k), np.int64)
        return scores.astype(np.float32), indices

    def _block_topk(self, qmat: np.ndarray, dmat: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
        return block_topk(self.precision.scores(qmat @ dmat.T, self.dim), k)


class TorchFloatScan(ExactScan):
    """The float32 scan with each block's product and top-k computed by torch on `device` (CUDA in practice)."""

    def __init__(self, rows: Rows, precision: Precision, query_chunk: int = 1024, doc_chunk: int = 32768,
                 device: str = "cuda"):
        if precision.family != "float":
            raise ValueError(f"the torch scan handles float32 only, not {precision.name!r}")
        super().__init__(rows, precision, query_chunk, doc_chunk)
        self.device = device
        self.stats["device"] = device

    def _block_topk(self, qmat: np.ndarray, dmat: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
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
    """"cuda" when torch is already loaded and sees a GPU, else "cpu" (never imports torch just to find out)."""
    torch = sys.modules.get("torch")
    return "cuda" if torch is not None and torch.cuda.is_available() else "cpu"

"""Top-k retrieval over float32, int8 and binary embeddings: the exact scan and FAISS indexes behind one API.

`retrieve(queries, docs, precision, k, rescore, backend)` is what the evaluators call; `build_index` gives the
index itself (anything with `search(queries, k) -> (scores, indices)`, `variant`, `n_docs`, `approximate` and
`stats`). Every path follows one tie rule (see `leafbench.search.topk`) and accepts an ndarray or any row source.
"""

from leafbench.search.retrieval import Index, build_index, rescore_head, retrieve, search_identity
from leafbench.search.spec import SearchSpec
from leafbench.search.topk import TopK, block_topk, merge_topk

__all__ = ["Index", "SearchSpec", "TopK", "block_topk", "build_index", "merge_topk", "rescore_head", "retrieve",
           "search_identity"]

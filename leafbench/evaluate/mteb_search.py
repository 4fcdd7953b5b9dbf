"""mteb's `SearchProtocol` on leafbench's own search, so MTEB retrieval tasks use the core grid's search.

mteb hands a `SearchProtocol` model the corpus (`index`) and then the queries (`search`) and scores whatever run
comes back with its own evaluator. `LeafbenchSearch` embeds the corpus and the queries through an `embed`
function (the MTEB bridge passes one over the embedding store, so nothing is encoded twice and a large corpus can
stay a memory-mapped row source), and answers with `leafbench.search.retrieve`: the same precisions (int8
calibrated on the corpus, binary), float32 rescoring, FAISS backends and tie rule as the retrieval grid.

The texts are read with mteb's own dataloaders (`create_dataloader`), so they are exactly the texts mteb's
`SearchEncoderWrapper` would encode. Reranking tasks (mteb passes `top_ranked`) go to `fallback`, a plain mteb
search model (the MTEB bridge gives `SearchEncoderWrapper(LeafbenchEncoder)`); the corpus is embedded only when
it is searched, so they cost nothing extra. The corpus is laid out in doc-id order, so leafbench's tie rule
(higher index first) is doc id descending: what trec_eval does, and what mteb's own heap merge keeps on equal
scores.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np

from leafbench.evaluate.mteb.encoders import texts_of
from leafbench.metrics import run_from_topk
from leafbench.search import SearchSpec, retrieve
from leafbench.transforms import Rows

EmbedFn = Callable[[list[str], str, str], Rows]  # (texts, role "query" | "document", hf_subset) -> float32 rows


def _texts(dataset: Any, task_metadata: Any, prompt_type: Any, encode_kwargs: dict[str, Any],
           num_proc: int | None) -> list[str]:
    """The texts mteb's dataloader yields for `dataset` in the given role, in dataset order."""
    from mteb._create_dataloaders import create_dataloader

    return texts_of(create_dataloader(dataset, task_metadata=task_metadata, prompt_type=prompt_type,
                                      num_proc=num_proc, **encode_kwargs))


class LeafbenchSearch:
    """A mteb SearchProtocol: `index` embeds the corpus, `search` runs `retrieve` and returns mteb's run format.

    `stats` holds the last search's `TopK.stats` (backend, build/search time, recall vs exact for ANN backends).
    """

    def __init__(self, embed: EmbedFn, mteb_model_meta: Any, precision: str = "float32", rescore: int = 0,
                 backend: SearchSpec | None = None, docs_key: str | None = None, fallback: Any = None):
        self.embed, self.mteb_model_meta = embed, mteb_model_meta
        self.precision, self.rescore, self.backend, self.docs_key = precision, rescore, backend, docs_key
        self.fallback = fallback
        self.corpus: Any = None
        self.variant = ""
        self.stats: dict[str, Any] = {}

    def index(self, corpus: Any, *, task_metadata: Any, hf_split: str, hf_subset: str,
              encode_kwargs: dict[str, Any], num_proc: int | None = None, **kwargs: Any) -> None:
        self.corpus = corpus  # embedded in `search`, once it is known not to be a reranking call
        if self.fallback is not None:
            self.fallback.index(corpus, task_metadata=task_metadata, hf_split=hf_split, hf_subset=hf_subset,
                                encode_kwargs=encode_kwargs, num_proc=num_proc, **kwargs)

    def _documents(self, task_metadata: Any, hf_subset: str, encode_kwargs: dict[str, Any],
                   num_proc: int | None) -> tuple[list[str], Rows]:
        """The corpus in doc-id order (so the tie rule is doc id descending) and its rows."""
        from mteb.types import PromptType

        ids = [str(i) for i in self.corpus["id"]]
        texts = _texts(self.corpus, task_metadata, PromptType.document, encode_kwargs, num_proc)
        order = sorted(range(len(ids)), key=ids.__getitem__)
        return [ids[i] for i in order], self.embed([texts[i] for i in order], "document", hf_subset)

    def search(self, queries: Any, *, task_metadata: Any, hf_split: str, hf_subset: str, top_k: int,
               encode_kwargs: dict[str, Any], top_ranked: Any = None, num_proc: int | None = None,
               **kwargs: Any) -> dict[str, dict[str, float]]:
        from mteb.types import PromptType

        if self.corpus is None:
            raise ValueError("index() must be called before search()")
        if top_ranked is not None:
            if self.fallback is None:
                raise ValueError(f"{task_metadata.name}: a reranking task (top_ranked) needs a fallback search model")
            self.corpus = None
            return self.fallback.search(queries, task_metadata=task_metadata, hf_split=hf_split,
                                        hf_subset=hf_subset, top_k=top_k, encode_kwargs=encode_kwargs,
                                        top_ranked=top_ranked, num_proc=num_proc, **kwargs)
        doc_ids, docs = self._documents(task_metadata, hf_subset, encode_kwargs, num_proc)
        qids = [str(i) for i in queries["id"]]
        q = self.embed(_texts(queries, task_metadata, PromptType.query, encode_kwargs, num_proc), "query", hf_subset)
        q = q if isinstance(q, np.ndarray) else q[0:len(q)]  # queries are few: one array
        top = retrieve(q, docs, self.precision, top_k,
                       rescore=self.rescore, backend=self.backend,
                       docs_key=f"{self.docs_key}:{hf_subset}" if self.docs_key else None)
        self.variant, self.stats = top.variant, top.stats
        self.corpus = None  # as mteb's own wrapper does: the corpus is per (split, subset)
        return run_from_topk(top, qids, doc_ids)

"""Parameter counts as mteb's ModelMeta reports them: all parameters, the token-embedding tables among them, and the
"active" rest (`n_parameters - n_embedding_parameters`, mteb's `n_active_parameters`).

A static model is almost all table: each token of a query reads one row of it, so its 2M parameters cost a lookup
per token, while a transformer's non-embedding parameters all take part in every token's forward pass. The active
count is what compares the two families' compute per token.
"""

from __future__ import annotations

from typing import Any

import torch


def parameter_counts(model: torch.nn.Module) -> dict[str, int]:
    """{n_parameters, n_embedding_parameters, n_active_parameters}: token tables are word-embedding matrices
    (transformers' `word_embeddings`) and EmbeddingBags (sentence-transformers' StaticEmbedding); position and
    token-type embeddings count as active, as mteb's vocabulary x dimension estimate leaves them out."""
    total = sum(p.numel() for p in model.parameters())
    tables: dict[int, int] = {}
    for module in model.modules():
        table: Any = module if isinstance(module, torch.nn.EmbeddingBag) else getattr(module, "word_embeddings", None)
        if isinstance(table, (torch.nn.Embedding, torch.nn.EmbeddingBag)):
            tables[id(table.weight)] = table.weight.numel()  # a table shared by two modules counts once
    embedding = sum(tables.values())
    return {"n_parameters": total, "n_embedding_parameters": embedding, "n_active_parameters": total - embedding}

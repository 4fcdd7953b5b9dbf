"""sentence-transformers' module classes across its 5.x and 6.x layouts, and which kind of model a loaded one is.

Low in the house (no leafbench imports) so that the encoder, the distill stage and the throughput stage can all ask
"is this a static model?" without importing one another.
"""

from __future__ import annotations


def st_modules():
    """sentence-transformers' module classes (Dense, Normalize, Router, StaticEmbedding): 6.x path, or 5.x's `models`."""
    try:
        from sentence_transformers.sentence_transformer import modules
    except ImportError:  # sentence-transformers 5.x
        from sentence_transformers import models as modules
    return modules


def is_static(model) -> bool:
    """Whether a SentenceTransformer starts with a StaticEmbedding (no transformer, no token cap to set)."""
    return isinstance(next(iter(model.children()), None), st_modules().StaticEmbedding)

"""The embedding store: content-addressed, sharded, crash-safe, shared by many writers (see `core`)."""

from leafbench.store.core import EmbeddingStore, namespace_id, text_key, text_keys
from leafbench.store.rows import RowView

__all__ = ["EmbeddingStore", "RowView", "namespace_id", "text_key", "text_keys"]

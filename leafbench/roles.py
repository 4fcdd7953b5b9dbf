"""The two sides of asymmetric retrieval. Torch-free, so config, records and reports can name a role cheaply."""

from __future__ import annotations

from typing import Literal

Role = Literal["query", "document"]


def symmetric_role(prompts: dict[str, str], side: Role) -> Role:
    """The role that embeds texts of tasks without a prompt type (STS, classification, ...) on a side's model.

    mteb embeds those texts without a prompt (a SentenceTransformer's query/document prompts are for retrieval), so
    the role whose prompt is empty serves them, the side's own role first; only when both roles carry a prompt does
    the side's own role (and prompt) serve. For models without prompts this is simply the side's role.
    """
    other: Role = "document" if side == "query" else "query"
    return other if prompts.get(side) and not prompts.get(other) else side

"""The base of every suite section: an unknown key is an error and a parsed section never changes.

A misspelt option silently ignored would run another experiment than the one the suite names, and a section changed
after parsing would no longer match the hash its results are filed under; every section model (suite, distill,
search, executor) inherits both rules from here.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict


class Strict(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

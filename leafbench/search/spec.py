"""`SearchSpec`: which search backend a cell uses and its parameters (a suite field; part of a cell's identity).

Torch-free and FAISS-free, so suites validate without either. `exact` is leafbench's own scan; `flat`, `hnsw` and
`ivf` are FAISS indexes over the precision's codes (float32: inner product; int8: a scalar quantizer holding
leafbench's own int8 codes; binary: FAISS binary indexes on the packed sign bits). Float32 rescoring of the top R
is the suite's `rescore`, applied after any backend.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, model_validator

from leafbench.strict import Strict

Backend = Literal["exact", "flat", "hnsw", "ivf"]
APPROXIMATE = ("hnsw", "ivf")


class SearchSpec(Strict):
    """A backend and the parameters that apply to it (the others must stay unset)."""

    backend: Backend = "exact"
    hnsw_m: int | None = Field(default=None, ge=4, le=256)  # HNSW graph degree (default 32)
    ef_construction: int | None = Field(default=None, ge=8)  # HNSW build beam (default 200)
    ef_search: int | None = Field(default=None, ge=1)  # HNSW search beam (default 128; raised to k when smaller)
    nlist: int | None = Field(default=None, ge=1)  # IVF cells (default ~4 sqrt(n), capped at n / 39)
    nprobe: int | None = Field(default=None, ge=1)  # IVF cells visited per query (default 16)

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, value: Any) -> Any:
        """`search: hnsw` means `search: {backend: hnsw}`."""
        return {"backend": value} if isinstance(value, str) else value

    @model_validator(mode="after")
    def _params_fit_backend(self) -> "SearchSpec":
        own = {"hnsw": {"hnsw_m", "ef_construction", "ef_search"}, "ivf": {"nlist", "nprobe"}}.get(self.backend, set())
        stray = sorted(name for name in ("hnsw_m", "ef_construction", "ef_search", "nlist", "nprobe")
                       if getattr(self, name) is not None and name not in own)
        if stray:
            raise ValueError(f"{', '.join(stray)} do not apply to backend '{self.backend}'")
        return self

    @property
    def approximate(self) -> bool:
        return self.backend in APPROXIMATE

    @property
    def m(self) -> int:
        return self.hnsw_m or 32

    @property
    def efc(self) -> int:
        return self.ef_construction or 200

    @property
    def efs(self) -> int:
        return self.ef_search or 128

    @property
    def probes(self) -> int:
        return self.nprobe or 16

    def identity(self) -> dict[str, Any]:
        """What about the search changes results: the backend and its effective parameters (defaults resolved,
        so writing a default out does not change a cell's identity)."""
        if self.backend == "hnsw":
            return {"backend": "hnsw", "hnsw_m": self.m, "ef_construction": self.efc, "ef_search": self.efs}
        if self.backend == "ivf":
            return {"backend": "ivf", "nlist": self.nlist or "auto", "nprobe": self.probes}
        return {"backend": self.backend}


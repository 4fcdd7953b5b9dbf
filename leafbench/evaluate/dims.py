"""A config's embedding sizes, checked the same way by the retrieval grid and the MTEB grid: both sides of a config
must give one size (a student's queries are searched against its teacher's documents), and the dims asked for must
fit in it. One place, so the two grids cannot accept different suites or word the same mistake differently."""

from __future__ import annotations

from leafbench.config import Suite
from leafbench.stage_specs import Dim
from leafbench.errors import UserError


def check_same_size(config: str, query_model: str, query_dim: int, document_model: str, document_dim: int) -> None:
    """A config's query and document models must embed into one space, so at least into one size."""
    if query_dim != document_dim:
        raise UserError(f"configs.{config}: query model '{query_model}' gives {query_dim}-d embeddings "
                        f"but document model '{document_model}' gives {document_dim}-d; asymmetric "
                        f"retrieval needs a student aligned to the teacher's space (see `leafbench distill`)")


def resolve_dims(suite: Suite, config: str, full_dim: int, given: list[Dim] | None = None,
                 field: str = "") -> list[int]:
    """The config's dims as sizes, in the order given, each once ('full' is `full_dim`).

    `given` (named `field` in errors) overrides the config's or the suite's dims, as an MTEB section's `dims` does.
    """
    if not given:
        given = suite.dims_for(config)
        field = f"configs.{config}.dims" if suite.configs[config].dims else "dims"
    dims: list[int] = []
    for d in given:
        value = full_dim if d == "full" else int(d)
        if value > full_dim:
            raise UserError(f"{field}: {value} is larger than the {full_dim}-d embeddings of config '{config}' "
                            f"(use dims <= {full_dim}, 'full', or a per-config 'dims:' list)")
        if value not in dims:
            dims.append(value)
    return dims

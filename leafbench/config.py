"""Suite files: what to encode, with which models, on which tasks, over which dims and precisions.

A suite is YAML validated by pydantic with unknown fields forbidden, so a typo is an error rather than a silently
ignored setting. Every error is reported as one line naming the file and the dotted field path.
"""

from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import Any, Literal, Union

import yaml
from pydantic import Field, ValidationError, field_validator, model_validator

from leafbench.distill_spec import DistillSpec
from leafbench.errors import UserError
from leafbench.executor_spec import ExecutorSpec
from leafbench.search.spec import SearchSpec
from leafbench.stage_specs import Dim, MtebSpec, Precision, ThroughputSpec
from leafbench.strict import Strict

SPLITS = ("dev", "test")  # a packaged task's query splits (leafbench.datasets.splits: tune on dev, report on test)
Search = Union[SearchSpec, dict[Precision, SearchSpec]]  # one backend, or one per precision (others: exact)


class ModelSpec(Strict):
    """One embedding model as the suite uses it. `id` is a hub id, a packaged well-known id or a local folder."""

    id: str
    query_prompt: str | None = None  # None: the model's own "query" prompt if it defines one, else none
    document_prompt: str | None = None
    max_seq_length: int | None = Field(default=None, gt=0)
    dtype: Literal["fp32", "bf16", "auto"] = "fp32"  # auto: bf16 where the device computes it natively
    batch_size: int = Field(default=32, gt=0)


class AsymmetricPair(Strict):
    query: str
    document: str


class EvalConfig(Strict):
    """How a task is searched: one model on both sides (`standard`), or queries and documents by different models."""

    standard: str | None = None
    asymmetric: AsymmetricPair | None = None
    dims: list[Dim] | None = None  # overrides the suite's dims for this config
    search: Search | None = None  # overrides the suite's search backend for this config

    @model_validator(mode="after")
    def _one_mode(self) -> "EvalConfig":
        if (self.standard is None) == (self.asymmetric is None):
            raise ValueError("give exactly one of 'standard: MODEL' or 'asymmetric: {query: MODEL, document: MODEL}'")
        return self

    @property
    def mode(self) -> str:
        return "standard" if self.standard is not None else "asymmetric"

    @property
    def query_model(self) -> str:
        return self.standard if self.standard is not None else self.asymmetric.query  # type: ignore[union-attr]

    @property
    def document_model(self) -> str:
        return self.standard if self.standard is not None else self.asymmetric.document  # type: ignore[union-attr]


class TaskSpec(Strict):
    """A retrieval task: a local BEIR folder (`path`), a public BEIR dataset (`beir`) or a packaged offline task."""

    path: str | None = None
    beir: str | None = None
    packaged: str | None = None
    name: str | None = None
    # BEIR: the qrels split to read (default `test`); packaged: `dev` or `test`, a disjoint half of the task's
    # queries (leafbench.datasets.splits), so settings are chosen on dev and reported on test (default: every query)
    split: str | None = None
    url: str | None = None  # public BEIR: download URL (default: BEIR's own host)
    md5: str | None = None
    max_docs: int | None = Field(default=None, gt=0)  # packaged: deterministic subset
    max_queries: int | None = Field(default=None, gt=0)
    seed: int = 0
    # A local folder is checked strictly (a qrels line naming a missing doc is an error); `strict: false` keeps
    # such lines as misses, as BEIR does (its own ArguAna zip has one); a `beir:` download is lenient about those
    # unless `strict:` is given. Format problems (duplicate ids, a repeated qrels pair with another score, a bad
    # first qrels line, a line without text) are errors for every folder unless `strict: false`.
    strict: bool = True

    @model_validator(mode="after")
    def _one_source(self) -> "TaskSpec":
        given = [k for k in ("path", "beir", "packaged") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of 'path: BEIR_FOLDER', 'beir: DATASET' or 'packaged: TASK'")
        if self.max_docs is not None or self.max_queries is not None:
            if self.packaged is None:
                raise ValueError("max_docs/max_queries apply to packaged tasks only")
        if self.packaged is not None and self.split not in (None, *SPLITS):
            raise ValueError(f"split: a packaged task's split is one of {', '.join(SPLITS)} (or none: every query), "
                             f"not {self.split!r}")
        return self

    @property
    def qrels_split(self) -> str:
        """The BEIR qrels file a folder or public dataset is read from (a packaged task's folder holds `test`)."""
        return self.split if self.split is not None and self.packaged is None else "test"

    @property
    def task_name(self) -> str:
        if self.name:
            return self.name
        if self.packaged:
            subset = "".join(f"-{p}{v}" for p, v in (("d", self.max_docs), ("q", self.max_queries), ("s", self.seed))
                             if v)
            return f"{self.packaged}-{self.split}{subset}" if self.split else self.packaged + subset
        if self.beir:
            return self.beir
        return Path(self.path or "").name


class Suite(Strict):
    """A whole run. `configs` name evaluation configs; `models` are referenced from them by key."""

    name: str
    description: str = ""
    output: str = "results"
    device: str = "auto"
    models: dict[str, ModelSpec]
    configs: dict[str, EvalConfig]
    tasks: list[TaskSpec] = Field(default_factory=list)
    dims: list[Dim] = Field(default_factory=lambda: ["full"])
    precisions: list[Precision] = Field(default_factory=lambda: ["float32"])
    rescore: int = Field(default=0, ge=0)  # binary/int8: float32 rescoring of this many top candidates (0: none)
    search: Search | None = None  # search backend (leafbench.search.spec): exact scan unless set
    k_values: list[int] = Field(default_factory=lambda: [1, 3, 5, 10, 100, 1000])
    ignore_identical_ids: bool = True
    throughput: ThroughputSpec | None = None  # speed stage after evaluation (leafbench.throughput)
    mteb: MtebSpec | None = None  # MTEB tasks/benchmarks, run after the retrieval grid (leafbench.evaluate.mteb)
    # LEAF distillation, run before the grid (leafbench.distill): one stage (a mapping), or several (a list: one
    # student each, e.g. one per student family, run in order on the same teacher targets)
    distill: DistillSpec | list[DistillSpec] | None = None
    executor: ExecutorSpec = Field(default_factory=ExecutorSpec)  # where missing embeddings are encoded (Ray)

    def search_for(self, config: str, precision: str) -> SearchSpec:
        """The search backend of a config at a precision: the config's `search`, else the suite's, else exact."""
        chosen = self.configs[config].search if self.configs[config].search is not None else self.search
        if isinstance(chosen, dict):
            chosen = chosen.get(precision)  # type: ignore[call-overload]
        return chosen if chosen is not None else SearchSpec()

    @field_validator("name")
    @classmethod
    def _safe_name(cls, v: str) -> str:
        if not v or any(c in v for c in "/\\") or v.startswith("."):
            raise ValueError("a non-empty name without slashes (it names the results folder)")
        return v

    @field_validator("k_values")
    @classmethod
    def _k_values(cls, v: list[int]) -> list[int]:
        if not v or any(k < 1 for k in v):
            raise ValueError("a non-empty list of positive integers")
        if 10 not in v:
            raise ValueError("must include 10 (nDCG@10 and MRR@10 are the headline metrics)")
        return sorted(set(v))

    @field_validator("dims")
    @classmethod
    def _dims(cls, v: list[Dim]) -> list[Dim]:
        if not v or any(isinstance(d, int) and d < 1 for d in v):
            raise ValueError("a non-empty list of positive integers or 'full'")
        return v

    @model_validator(mode="after")
    def _distill_outputs(self) -> "Suite":
        """Each distill stage's students join `models` under their output names, pointing at the exported folders."""
        if self.distill == []:
            raise ValueError("distill: an empty list; give at least one stage, or drop the section")
        folders: dict[Path, str] = {}
        made_by: dict[str, str] = {}  # output name -> the stage field that produces it
        for field, stage in zip(self._distill_fields(), self.distill_stages()):
            spec = stage.distill_spec
            try:
                spec.check_against(self.models, [t.task_name for t in self.tasks],
                                   {t.task_name: t.packaged for t in self.tasks if t.packaged is not None})
            except ValueError as e:  # its messages name `distill.<field>`: say which stage
                raise ValueError(str(e).replace("distill.", f"{field}.", 1)) from None
            run = stage.distill_run_dir
            if run in folders:
                raise ValueError(f"{field}: trains the same student as {folders[run]} (same settings, same run "
                                 f"folder); give one of them other settings or drop it")
            folders[run] = field
            init = self.models[spec.student]
            for name in spec.output_names():
                produced = init.model_copy(update={"id": str(run / name), "query_prompt": None,
                                                   "document_prompt": None})  # prompts: the exported model's own
                if spec.student_family == "static":  # reads every token: no cap to set; and fp32, as bf16
                    # autocast only casts its one small matmul's weights on every call (1.5-3x its batch-1 latency)
                    produced = produced.model_copy(update={"max_seq_length": None, "dtype": "fp32"})
                if name in made_by:
                    raise ValueError(f"{field}.outputs: '{name}' is also an output of {made_by[name]}; give each "
                                     f"stage its own output names")
                if self.models.setdefault(name, produced) != produced:
                    raise ValueError(f"models.{name}: this name is also a distill output ({field}.outputs); "
                                     f"rename one of them")
                made_by[name] = field
        return self

    def _distill_fields(self) -> list[str]:
        """Each stage's field path in messages: `distill`, or `distill.0`, `distill.1`, ... for a list."""
        return ["distill"] if isinstance(self.distill, DistillSpec) else \
            [f"distill.{i}" for i in range(len(self.distill_specs()))]

    def distill_specs(self) -> list[DistillSpec]:
        """Every distill stage's spec, in run order."""
        if self.distill is None:
            return []
        return [self.distill] if isinstance(self.distill, DistillSpec) else list(self.distill)

    def distill_stages(self) -> list["Suite"]:
        """One view of the suite per distill stage, whose `distill` is that stage's spec alone: the distill code
        (leafbench.distill) reads one stage's spec and run folder from the suite it is given."""
        return [self.model_copy(update={"distill": spec}) for spec in self.distill_specs()]

    @property
    def distill_spec(self) -> DistillSpec:
        """The one distill stage of a stage view (distill_stages); a suite of several has no single one."""
        if not isinstance(self.distill, DistillSpec):
            raise ValueError("this suite has no single distill stage (iterate distill_stages())")
        return self.distill

    def distill_outputs(self) -> set[str]:
        """Every model name a distill stage produces."""
        return {n for spec in self.distill_specs() for n in spec.output_names()}

    @model_validator(mode="after")
    def _references(self) -> "Suite":
        for cname, cfg in self.configs.items():
            refs = {"standard": cfg.standard} if cfg.standard else {
                "asymmetric.query": cfg.query_model, "asymmetric.document": cfg.document_model}
            for field, ref in refs.items():
                if ref not in self.models:
                    raise ValueError(f"configs.{cname}.{field}: unknown model '{ref}' "
                                     f"(defined in models: {', '.join(sorted(self.models))})")
        names = [t.task_name for t in self.tasks]
        dupes = sorted({n for n in names if names.count(n) > 1})
        if dupes:
            raise ValueError(f"tasks: duplicate task name(s) {', '.join(dupes)}; give each a distinct 'name:'")
        return self

    @model_validator(mode="after")
    def _something_to_run(self) -> "Suite":
        if not self.tasks and self.mteb is None and not self.distill_specs() and self.throughput is None:
            raise ValueError("tasks: the suite has nothing to run; give retrieval 'tasks: [...]', an 'mteb:' "
                             "section, a 'distill:' or a 'throughput:' stage")
        return self

    @model_validator(mode="after")
    def _local_model_folders(self) -> "Suite":
        """A model id written as a path must exist: otherwise it would go to the hub as a model name and fail later
        with a confusing message (distill outputs are made by the run, so they may not exist yet)."""
        produced = self.distill_outputs()
        for name, spec in self.models.items():
            if name not in produced and looks_like_path(spec.id) and not Path(spec.id).expanduser().exists():
                raise ValueError(f"models.{name}.id: local folder '{spec.id}' does not exist (expected a "
                                 f"sentence-transformers model folder, a hub id like 'org/name', or a packaged id)")
        return self

    @model_validator(mode="after")
    def _mteb_configs(self) -> "Suite":
        for ref in (self.mteb.configs or []) if self.mteb is not None else []:
            if ref not in self.configs:
                raise ValueError(f"mteb.configs: unknown config '{ref}' (configs: {', '.join(self.configs)})")
        return self

    @model_validator(mode="after")
    def _throughput_models(self) -> "Suite":
        tp = self.throughput
        if tp is not None:
            measured = tp.models if tp.models is not None else list(self.models)
            for field, ref in [*(("throughput.models", m) for m in measured), ("throughput.teacher", tp.teacher)]:
                if ref is not None and ref not in self.models:
                    raise ValueError(f"{field}: unknown model '{ref}' "
                                     f"(defined in models: {', '.join(sorted(self.models))})")
            if tp.teacher is not None and tp.teacher not in measured:
                raise ValueError(f"throughput.teacher: '{tp.teacher}' is not among throughput.models")
        return self

    def dims_for(self, config: str) -> list[Dim]:
        return self.configs[config].dims or self.dims

    @property
    def results_dir(self) -> Path:
        return Path(self.output) / self.name

    @property
    def distill_run_dir(self) -> Path:
        """A distill stage's folder (checkpoints, exported students); a changed distill setup gets a new one."""
        return self.results_dir / "distill" / f"run-{spec_hash(self.distill_spec.identity(self.models, self.tasks))}"


def looks_like_path(model_id: str) -> bool:
    """A model id that can only be a filesystem path: './x', '/x', '~/x', 'a/b/c', 'x\\y' or a trailing slash
    (a hub id is 'org/name')."""
    return model_id.startswith((".", "/", "~")) or model_id.count("/") > 1 or "\\" in model_id or \
        model_id.endswith("/")


def spec_hash(obj: Any) -> str:
    """Stable short hash of any JSON-able value; results store it so a re-run recognises an unchanged cell."""
    blob = json.dumps(obj, sort_keys=True, default=str).encode()
    return hashlib.sha256(blob).hexdigest()[:16]


_UNION_MISS = {"model_type", "list_type", "dict_type"}  # a union branch the value's shape did not take (distill:)


def _format_validation(path: Path, err: ValidationError) -> str:
    errors = err.errors()
    # `distill:` is a mapping or a list: the branch the value did not take reports only a type mismatch; the
    # other branch's error is the one that says what is wrong
    taken = [e for e in errors if not (e["type"] in _UNION_MISS and
                                       any(len(o["loc"]) > len(e["loc"]) and o["loc"][:1] == e["loc"][:1]
                                           for o in errors))]
    errors = taken or errors
    first = errors[0]
    loc = ".".join(str(p) for p in first["loc"] if not str(p).startswith(("function-after", "list[")))
    msg = first["msg"].removeprefix("Value error, ")
    if first["type"] == "extra_forbidden":
        msg = "unknown field (check the spelling; see suites/ for the known fields)"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    if not loc and re.match(r"[\w.\[\]-]+: ", msg):  # a whole-suite check names its own field
        return f"{path}: {msg}{more}"
    return f"{path}: {loc or '(top level)'}: {msg}{more}"


def parse_suite(data: Any, path: Path) -> Suite:
    """Validate an already-parsed mapping; `path` only labels error messages."""
    if not isinstance(data, dict):
        raise UserError(f"{path}: expected a YAML mapping with 'name', 'models', 'configs' and 'tasks' at the top level")
    try:
        return Suite.model_validate(data)
    except ValidationError as e:
        raise UserError(_format_validation(path, e)) from None


def load_suite(path: str | Path, overrides: dict[str, Any] | None = None) -> Suite:
    """Read and validate a suite file; `overrides` (from command-line flags) replace top-level fields."""
    path = Path(path)
    if not path.is_file():
        raise UserError(f"{path}: suite file not found (expected a YAML file, e.g. suites/quickstart.yaml)")
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as e:
        mark = getattr(e, "problem_mark", None)
        where = f":{mark.line + 1}:{mark.column + 1}" if mark else ""
        problem = getattr(e, "problem", None) or str(e).splitlines()[0]
        raise UserError(f"{path}{where}: invalid YAML: {problem}") from None
    if isinstance(data, dict) and overrides:
        data = {**data, **{k: v for k, v in overrides.items() if v is not None}}
    return parse_suite(data, path)

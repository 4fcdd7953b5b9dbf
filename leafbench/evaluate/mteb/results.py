"""MTEB's own results layout, so `mteb.ResultCache(...).load_results()` reads leafbench's results as its own.

Layout (the MTEB results repository's `results/` folder):
`<out>/<org>__<model>/<revision>/<TaskName>.json` plus `model_meta.json` beside it; a variant of a model (a
Matryoshka dim, a precision, a non-default max_seq_length, ...) lives under
`<out>/<org>__<model>/<revision>/experiments/<experiment name>/`, where the name is mteb's own serialisation of the
variant's `experiment_kwargs` (stored in that folder's model_meta.json, which is how mteb recognises it). Name the
folder `results` and `mteb.ResultCache(cache_path=<its parent>).load_results(load_experiments="match_name")` loads
every file. Files are written atomically: a crash leaves the old file or the new one, never half of one.
"""

from __future__ import annotations

import datetime as _dt
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from mteb import ResultCache, TaskResult
from mteb.models import ModelMeta
from mteb.models.model_meta import ScoringFunction
from mteb.types import OutputDType
from mteb.results import BenchmarkResults

from leafbench.results import write_json_atomic

EXPERIMENTS = "experiments"  # mteb's folder name for variants of a model revision
MODEL_META = "model_meta.json"


def build_model_meta(name: str, revision: str, *, embed_dim: int, max_tokens: int | None,
                     n_parameters: int | None, similarity: str, experiment_kwargs: Mapping[str, Any] | None = None,
                     output_dtype: str | None = None, adapted_from: str | None = None) -> ModelMeta:
    """ModelMeta for one evaluated variant; starts from mteb's registry entry for `name` when it has one.

    The registry entry contributes what leafbench cannot know (license, release date, languages, training data);
    `revision`, dims, token limit and the variant's `experiment_kwargs` are what was actually evaluated. `loader` is
    dropped: the meta describes an evaluation (a quantized, truncated variant), not a model mteb could reload as is.
    """
    from mteb.models.model_implementations import MODEL_REGISTRY

    fields: dict[str, Any] = {
        "name": name, "revision": revision, "embed_dim": embed_dim, "max_tokens": max_tokens,
        "n_parameters": n_parameters, "similarity_fn_name": ScoringFunction(similarity), "loader": None,
        "loader_kwargs": {}, "experiment_kwargs": dict(experiment_kwargs) if experiment_kwargs else None,
        "output_dtypes": [OutputDType(output_dtype)] if output_dtype else None, "modalities": ["text"],
    }
    if adapted_from is not None:
        fields["adapted_from"] = adapted_from
    base = MODEL_REGISTRY.get(name)
    if base is not None:
        return base.model_copy(update=fields, deep=True)
    return ModelMeta.create_empty(overwrites={**fields, "framework": ["Sentence Transformers", "PyTorch"],
                                              "open_weights": True})


def model_folder(out_dir: Path, meta: ModelMeta) -> Path:
    """`<out>/<org>__<model>/<revision>[/experiments/<experiment>]`, exactly where mteb's ResultCache looks."""
    folder = Path(out_dir) / meta.model_name_as_path() / (meta.revision or "no_revision_available")
    return folder / EXPERIMENTS / meta.experiment_name if meta.experiment_name else folder


def task_result_path(out_dir: Path, meta: ModelMeta, task_name: str) -> Path:
    return model_folder(out_dir, meta) / f"{task_name}.json"


def _rounded(value: Any, digits: int = 6) -> Any:
    """Floats rounded to `digits` inside nested dicts/lists, as TaskResult.to_disk rounds its scores."""
    if isinstance(value, float):
        return round(value, digits)
    if isinstance(value, dict):
        return {k: _rounded(v, digits) for k, v in value.items()}
    if isinstance(value, list):
        return [_rounded(v, digits) for v in value]
    return value


def write_task_result(out_dir: Path, model_meta: ModelMeta, task_result: TaskResult) -> Path:
    """Write `<Task>.json` and `model_meta.json` into the model's (or its experiment's) folder; return the task file.

    The JSON is what `TaskResult.to_disk` and `ResultCache.save_to_cache` write (scores rounded to 6 digits, the
    date as a timestamp, model_meta via `ModelMeta.to_dict`), but each file is renamed into place atomically.
    """
    path = task_result_path(out_dir, model_meta, task_result.task_name)
    write_task_json(path, task_result)
    write_json_atomic(path.parent / MODEL_META, model_meta.to_dict())
    return path


def write_task_json(path: Path, task_result: TaskResult) -> None:
    """One `<Task>.json` as `TaskResult.to_disk` writes it (scores rounded to 6 digits, date as a timestamp)."""
    obj = task_result.model_dump(mode="json")
    obj["date"] = task_result.date.timestamp() if isinstance(task_result.date, _dt.datetime) else None
    obj["scores"] = _rounded(obj["scores"])
    write_json_atomic(path, obj)


def load_results(out_dir: Path) -> BenchmarkResults:
    """Every result below `out_dir` (which must be named `results`), experiments included, read by mteb itself."""
    out_dir = Path(out_dir)
    if out_dir.name != "results":
        raise ValueError(f"{out_dir}: mteb's ResultCache reads a folder named 'results' (inside its cache path)")
    cache = ResultCache(cache_path=out_dir.parent)
    return cache.load_results(include_remote=False, load_experiments="match_name")

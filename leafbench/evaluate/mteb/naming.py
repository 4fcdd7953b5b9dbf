"""Naming and aggregates: the mteb model name, revision and experiment under which a cell is filed, and the
leaderboard rows (MTEB's aggregates per config/dim/precision). Imports neither mteb nor torch, so reports use it."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

from leafbench.config import spec_hash
from leafbench.precisions import get as get_precision
from leafbench.roles import Role, symmetric_role

def mteb_name(model_id: str) -> str:
    """An `org/name` for mteb: a hub id as is, a local folder as `local/<folder name>`."""
    if "/" in model_id and not Path(model_id).exists() and not model_id.startswith((".", "~")):
        return model_id
    return f"local/{Path(model_id).expanduser().resolve().name}"


def mteb_identity(config: str, mode: str, query_model: dict[str, Any], document_model: dict[str, Any], dim: int,
                  full_dim: int, precision: str, symmetric_side: str = "query") -> tuple[str, str, dict[str, Any]]:
    """(model name, revision, experiment_kwargs) under which a config's cell is filed in MTEB's layout.

    `query_model`/`document_model` are model records as cells store them: the suite's ModelSpec fields plus
    `fingerprint` and, when known, the resolved `prompts` ({"query": ..., "document": ...}, the model's own prompts
    where the suite sets none). Standard configs are named by their model id (a local folder becomes
    `local/<folder>`), asymmetric ones `leafbench/<config>`. The revision is the weights fingerprint (packaged
    copies carry no hub commit). Whatever makes the run differ from the model as published is an experiment kwarg:
    dim, precision, the suite's max_seq_length/dtype/prompt overrides, and the symmetric side whenever the two
    sides embed differently (another model or another prompt).
    """
    kwargs: dict[str, Any] = {}
    sides = (("", query_model),) if mode == "standard" else (("query_", query_model), ("document_", document_model))
    for prefix, model in sides:
        for key in ("max_seq_length", "query_prompt", "document_prompt"):
            if model.get(key) is not None:
                kwargs[prefix + key] = model[key]
        if model.get("dtype", "fp32") != "fp32":
            kwargs[prefix + "dtype"] = model["dtype"]

    def symmetric_prompt(model: dict[str, Any], side: Role) -> str:
        prompts = {r: (model.get("prompts") or {}).get(r, model.get(f"{r}_prompt") or "") for r in ("query", "document")}
        return prompts[symmetric_role(prompts, side)]

    if mode == "asymmetric" or symmetric_prompt(query_model, "query") != symmetric_prompt(document_model, "document"):
        kwargs["symmetric_side"] = symmetric_side  # the side changes what embeds tasks without prompt types
    if dim != full_dim:
        kwargs["embed_dim"] = dim
    kwargs.update(get_precision(precision).mteb_experiment_kwargs())
    if mode == "standard":
        return mteb_name(query_model["id"]), query_model.get("fingerprint") or "no_revision_available", kwargs
    return f"leafbench/{config}", spec_hash([query_model.get("fingerprint"), document_model.get("fingerprint")]), kwargs


def leaderboard(records: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One row per (config, dim, precision): MTEB's leaderboard aggregates over the tasks it has results for.

    A sub-task of an aggregate task in the records (CQADupstack's forums, say) counts only through the aggregate.
    """
    parts = {sub for rec in records for sub in rec.get("subtasks") or []}  # counted through their aggregate
    groups: dict[tuple[str, int, str], list[dict[str, Any]]] = {}
    for rec in records:
        if rec["task"] not in parts:
            groups.setdefault((rec["config"], rec["dim"], rec["precision"]), []).append(rec)
    rows = []
    for (config, dim, precision), recs in groups.items():
        first = recs[0]
        rows.append({"config": config, "mode": first["mode"], "dim": dim, "precision": precision,
                     "model_name": first["model_name"], "revision": first["revision"],
                     "experiment": first["experiment"], "symmetric_side": first["symmetric_side"],
                     **aggregate({r["task"]: (r["task_type"], r["main_score"]) for r in recs}),
                     "tasks": {r["task"]: r["main_score"] for r in sorted(recs, key=lambda r: r["task"])}})
    return rows


def aggregate(task_scores: Mapping[str, tuple[str, float]]) -> dict[str, Any]:
    """Leaderboard aggregates (computed from the task types we ran: mteb looks types up in its registry, which
    leafbench's offline tasks are not in) of task name -> (task type, main score), as mteb's summary table defines them.

    `Mean (Task)` is the plain mean over tasks, each task type's column the mean over its tasks, and
    `Mean (TaskType)` the mean of those type means (so a type with many tasks does not dominate). Scores stay
    in 0..1 (mteb's leaderboard displays them x100).
    """
    if not task_scores:
        return {"Mean (Task)": None, "Mean (TaskType)": None, "n_tasks": 0}
    by_type: dict[str, list[float]] = {}
    for task_type, score in task_scores.values():
        by_type.setdefault(task_type, []).append(float(score))
    type_means = {t: sum(v) / len(v) for t, v in sorted(by_type.items())}
    scores = [float(s) for _, s in task_scores.values()]
    return {"Mean (Task)": sum(scores) / len(scores),
            "Mean (TaskType)": sum(type_means.values()) / len(type_means),
            **type_means, "n_tasks": len(scores)}

"""mteb task lookup: suite names to mteb task objects (leafbench's offline tasks first), benchmarks, task listings,
and loading a task's data with a one-line error when it needs the hub."""

from __future__ import annotations

from typing import Any

from leafbench.stage_specs import MtebTaskSpec
from leafbench.errors import UserError

def resolve_tasks(specs: list[MtebTaskSpec], benchmarks: list[str]) -> list[Any]:
    """mteb task objects for the suite's names: leafbench's offline tasks, mteb tasks, then benchmarks' tasks.

    Unknown names raise a UserError carrying mteb's own close-match suggestion. Tasks are de-duplicated by name
    (a task named directly and inside a benchmark runs once).
    """
    import mteb

    from leafbench.datasets.mteb_tasks import OFFLINE_TASKS, offline_task

    tasks: dict[str, Any] = {}
    for i, spec in enumerate(specs):
        field = f"mteb.tasks[{i}]"
        if spec.name in OFFLINE_TASKS:
            task = offline_task(spec.name, spec.max_docs, spec.max_queries, spec.seed, field=field)
        else:
            if spec.max_docs is not None or spec.max_queries is not None:
                raise UserError(f"{field}: max_docs/max_queries apply to leafbench's offline MTEB tasks only "
                                f"({', '.join(sorted(OFFLINE_TASKS))}), not to mteb's '{spec.name}'")
            try:
                task = mteb.get_task(spec.name)
            except KeyError as e:
                hint = str(e.args[0] if e.args else e).removeprefix("KeyError: ")
                raise UserError(f"{field}: unknown MTEB task: {hint} (leafbench's offline tasks: "
                                f"{', '.join(sorted(OFFLINE_TASKS))})") from None
        tasks.setdefault(task.metadata.name, task)
    for i, name in enumerate(benchmarks):
        for task in get_benchmark(name, f"mteb.benchmarks[{i}]").tasks:
            tasks.setdefault(task.metadata.name, task)
    for name, task in tasks.items():
        if task.metadata.modalities != ["text"]:
            raise UserError(f"mteb: task '{name}' is not text-only (modalities {task.metadata.modalities}); "
                            f"leafbench evaluates text embedding models")
    return list(tasks.values())


def get_benchmark(name: str, field: str) -> Any:
    """mteb's benchmark of that name; an unknown name is a UserError with mteb's close match, labelled `field`."""
    import mteb

    try:
        return mteb.get_benchmark(name)
    except KeyError as e:
        raise UserError(f"{field}: unknown MTEB benchmark: {e.args[0] if e.args else e}") from None


def task_rows(benchmark: str | None = None) -> list[dict[str, str]]:
    """Name, type, main score and description of leafbench's offline MTEB tasks, or of an MTEB benchmark's tasks."""
    if benchmark is None:
        from leafbench.datasets.mteb_tasks import OFFLINE_TASKS

        metas = [cls.metadata for _, cls in sorted(OFFLINE_TASKS.items())]
    else:
        metas = [t.metadata for t in get_benchmark(benchmark, "--benchmark").tasks]
    return [{"name": m.name, "type": m.type, "main_score": m.main_score,
             "description": m.description.split(". ")[0].rstrip(".")} for m in metas]


def load_task_data(task: Any) -> None:
    """Load a task's data, turning 'the hub is unreachable' into one line that names the task."""
    try:
        task.load_data()
    except (ConnectionError, OSError) as e:
        import huggingface_hub.constants as hub

        where = task.metadata.dataset.get("path", "?")
        reason = "HF_HUB_OFFLINE=1 is set" if hub.HF_HUB_OFFLINE else f"{type(e).__name__}: {str(e)[:120]}"
        raise UserError(f"mteb task '{task.metadata.name}' needs the Hugging Face hub to fetch its data "
                        f"({where}) and cannot reach it ({reason}); run once online to cache it, or drop the task "
                        f"from the suite's mteb section") from None


"""One entry point from a suite's task spec to the task's data, whatever its source."""

from __future__ import annotations

from pathlib import Path

from leafbench.config import TaskSpec
from leafbench.datasets import RetrievalData
from leafbench.datasets.beir import download_beir, load_beir_folder
from leafbench.datasets.packaged import load_packaged_task


def load_task(spec: TaskSpec) -> RetrievalData:
    """Packaged tasks are built into the cache, public BEIR datasets downloaded once, local folders read as is."""
    if spec.packaged is not None:
        data = load_packaged_task(spec.packaged, max_docs=spec.max_docs, max_queries=spec.max_queries,
                                  seed=spec.seed, split=spec.split)
    elif spec.beir is not None:
        # a download is lenient about dangling judgments unless the suite says `strict:` (see load_beir_folder)
        strict = spec.strict if "strict" in spec.model_fields_set else None
        data = load_beir_folder(download_beir(spec.beir, url=spec.url, md5=spec.md5), spec.qrels_split, strict=strict)
    else:
        data = load_beir_folder(Path(spec.path or ""), spec.qrels_split, strict=spec.strict)
    data.name = spec.task_name
    return data

"""What the ablation benchmarks (distill_ablation.py, static_ablation.py, quickstart_tuning.py) share: their command
line (`--only NAME[=JSON]` variant choice, `--output`, `--table`), the rendering of finished rows, running one variant's
distill suite and appending a row to `ablation.jsonl`."""

from __future__ import annotations

import argparse
import json
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROWS = "ablation.jsonl"


def slug(name: str) -> str:
    """A variant's name as a suite-name/folder part."""
    return "".join(ch if ch.isalnum() else "-" for ch in name.lower()).strip("-")


def ablation_parser(doc: str, output: Path) -> argparse.ArgumentParser:
    """The options every ablation script takes; a script adds its own before parsing."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", nargs="*", help="variant names (default: all); 'NAME=JSON' defines one")
    parser.add_argument("--output", default=str(output))
    parser.add_argument("--table", action="store_true", help="print the markdown table of the finished rows")
    return parser


def whole_split_tasks(tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A suite's split tasks (the off-domain yardsticks) at their whole split: every query of the split against
    the whole corpus, without the suite's max_docs / max_queries subset."""
    return [{"packaged": t["packaged"], "split": t["split"]} for t in tasks if "split" in t]


def one_stage(raw: dict[str, Any], family: str = "transformer") -> dict[str, Any]:
    """A suite file's dict reduced to its distill stage of one student family (a suite may list several), without
    the configs that read the other stages' students, and without MTEB and throughput: a variant trains one
    student."""
    from leafbench.distill_spec import DistillOutputs  # the output names a stage gets by default

    def names(s: dict[str, Any]) -> set[str]:
        return {n for n in DistillOutputs(**(s.get("outputs") or {})).model_dump().values() if n}

    stages = raw["distill"] if isinstance(raw["distill"], list) else [raw["distill"]]
    stage = next(s for s in stages if s.get("student_family", "transformer") == family)
    others = {n for s in stages if s is not stage for n in names(s)} - names(stage)
    raw["configs"] = {name: cfg for name, cfg in raw["configs"].items()
                      if not others & (set(cfg.get("asymmetric", {}).values()) | {cfg.get("standard")})}
    raw["distill"] = stage
    raw.pop("mteb", None)
    raw.pop("throughput", None)
    return raw


def run_distill_suite(path: Path) -> tuple[Any, dict[str, float]]:
    """`leafbench distill` of one variant's suite file: its record, and its wall seconds and load average."""
    from leafbench.config import load_suite
    from leafbench.distill.stage import run_distill
    from leafbench.embed import EmbeddingService

    suite = load_suite(path)
    t0 = time.perf_counter()
    rec = run_distill(suite, EmbeddingService(suite.models, device=suite.device))
    return rec, {"seconds": round(time.perf_counter() - t0, 1), "load": round(os.getloadavg()[0], 1)}


def chosen_variants(only: list[str] | None, defaults: dict[str, dict[str, Any]]) -> dict[str, dict[str, Any]]:
    """The variants to run, in order: every default, or the `--only` names, where 'NAME=JSON' defines one."""
    variants = dict(defaults)
    for item in only or []:
        if "=" in item:
            name, change = item.split("=", 1)
            variants[name] = json.loads(change)
    names = [i.split("=", 1)[0] for i in only] if only else list(defaults)
    return {name: variants[name] for name in names}


def print_table(out: Path, markdown: Callable[[list[dict[str, Any]]], str]) -> None:
    """The markdown table of the rows finished so far in `out`."""
    lines = (out / ROWS).read_text().splitlines()
    print(markdown([json.loads(line) for line in lines if line.strip()]))


def add_row(out: Path, row: dict[str, Any]) -> None:
    """Print a finished variant's row and append it to `out`'s rows (a killed benchmark keeps what it finished)."""
    print(json.dumps(row), flush=True)
    with open(out / ROWS, "a") as f:
        f.write(json.dumps(row) + "\n")

"""Benchmark: the finished quickstart's leaf on the four yardsticks' whole test splits, not the quickstart's subsets.

The quickstart scores each yardstick on 75-100 test queries against 150-200 documents: a share of the teacher
resolved to about +-5 points, on a task made easier by the few distractors. This scores the same leaf (the `leaf` the
quickstart's current settings trained, from `results/quickstart`) beside the teacher and MiniLM-L6 on every test
query against the whole corpus (recipes 2,255 / 4,817, jargon 1,077 / 2,122, cwe 456 / 938, construction-faq 256 /
503), full size and 256-d, float32 and int8, and writes its report: share.md (each share with its 95% interval) and
mrl.md (the 256-d int8 figure). Nothing here was tuned on: the quickstart's settings come from the dev splits.

    make run && python benchmarks/whole_splits.py        # -> reports/quickstart-whole-test/tables/share.md

The first time it embeds the ~8.4k corpus documents with the teacher: 4.3 min on a 2-core Zen 5 in bf16 (a fresh
clone, 2026-12-08), MiniLM's documents and both students' queries about half a minute of it.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import yaml
from ablation_cli import whole_split_tasks

os.environ.setdefault("HF_HUB_OFFLINE", "1")
ROOT = Path(__file__).resolve().parent.parent
QUICKSTART = ROOT / "suites" / "quickstart.yaml"


def quickstart_leaf() -> Path:
    """The `leaf` the quickstart's current settings train: the suite's own distill output (its run folder is named
    by everything that determines the leaf), so a leaf of other settings is never scored in its place."""
    from leafbench.config import load_suite
    from leafbench.distill.stage import RECORD

    leaf = Path(load_suite(QUICKSTART).models["leaf"].id)
    leaf = leaf if leaf.is_absolute() else ROOT / leaf
    if not (leaf.parent / RECORD).is_file():  # the distill stage writes its record once the run is finished
        sys.exit(f"whole_splits: no finished leaf at {leaf}: run `make run` first")
    return leaf


def whole_suite(leaf: Path, output: Path) -> Path:
    """The quickstart's teacher and student settings, its leaf, the yardsticks' whole test splits."""
    quick = yaml.safe_load(QUICKSTART.read_text())
    teacher, student = quick["models"]["teacher"], quick["models"]["student"]
    suite = {"name": "quickstart-whole-test", "output": str(output),
             "models": {"teacher": teacher, "student": student, "leaf": {**teacher, "id": str(leaf)}},
             "configs": {"teacher": {"standard": "teacher"}, "student": {"standard": "student"},
                         "leaf-asym": {"asymmetric": {"query": "leaf", "document": "teacher"}}},
             "tasks": whole_split_tasks(quick["tasks"]),
             "dims": ["full", 256], "precisions": ["float32", "int8"], "k_values": [10]}
    path = output / "quickstart-whole-test.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(suite, sort_keys=False))
    return path


def main() -> None:
    output = ROOT / "results"
    suite = whole_suite(quickstart_leaf(), output)
    cli = [sys.executable, "-m", "leafbench.cli"]
    subprocess.run([*cli, "run", str(suite)], check=True, cwd=ROOT)
    subprocess.run([*cli, "report", str(output / "quickstart-whole-test")], check=True, cwd=ROOT)
    print((ROOT / "reports" / "quickstart-whole-test" / "tables" / "share.md").read_text())


if __name__ == "__main__":
    main()

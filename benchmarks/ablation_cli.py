"""What the ablation benchmarks (distill_ablation.py, static_ablation.py) share: the `--only NAME[=JSON]` variant
choice, the `--table` rendering of finished rows and appending a row to `ablation.jsonl`."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROWS = "ablation.jsonl"


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

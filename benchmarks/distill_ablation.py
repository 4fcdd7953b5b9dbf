"""Benchmark: the distillation ablation of docs/distillation.md, time-matched on this CPU.

Each variant is the plain LEAF recipe (MiniLM-L6 + projection, the pre-ablation text mix of passages, headlines,
headings and subjects, squared L2 loss, lr 1e-4) with one option switched on, or a combination (`quickstart`: the
suites/quickstart.yaml setting). Every variant gets the same training time (`--seconds`): a short probe run measures
its samples/s, and the real run takes as many optimizer steps as fit (so its learning-rate schedule ends where the
budget does). Reported: the figures every distill run records, asymmetric nDCG@10 as % of the teacher, query cosine
and top-10 overlap, in-domain (the quickstart's BBC and Wikipedia tasks) and off-domain (the four yardsticks, kept
out of every training mix), plus samples, samples/s and the training seconds actually spent. Variants are compared on
the yardsticks' `dev` splits (suites/quickstart-dev.yaml), so the setting chosen here is reported on the quickstart's
`test` splits, which no variant was scored on.

Teacher embeddings go through the shared embedding store, so the first variant pays for them and the rest reuse.

    python benchmarks/distill_ablation.py [--seconds 60] [--only NAME ...] [--output results/ablation]
    python benchmarks/distill_ablation.py --table       # the docs/distillation.md table from the finished rows
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from ablation_cli import (ablation_parser, add_row, chosen_variants, one_stage, print_table, run_distill_suite,
                          slug)

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parent.parent
# The pre-ablation mix: the quickstart-dev suite's in-domain corpora (its curve tasks) plus these query sources.
TODAY_QUERIES = [{"packaged": "bbc-news", "role": "query"}, {"packaged": "wikipedia", "role": "query"},
                 {"packaged": "newsgroups", "role": "query"}]
PROBE_STEPS = 30
# The plain LEAF loop every variant starts from, whatever the suite now says.
BASE_TRAINING = {"batch_size": 32, "lr": 1.0e-4, "bf16": "auto", "max_seq_length": 128, "checkpoint_every": 100}
CUT = {"student": "teacher", "student_layers": 3}
BEST = {"rank_weight": 1.0, "freeze_embeddings": True, "matryoshka_dims": [256, 128], "lr": 3e-4}
VARIANTS: dict[str, dict[str, Any]] = {
    "plain LEAF": {},
    "broad text": {"sources": "quickstart"},
    "ranking term": {"training": {"rank_weight": 1.0}},
    "cosine loss": {"training": {"loss": "cosine"}},
    "frozen embeddings": {"training": {"freeze_embeddings": True}},
    "leaf architecture": {"training": {"architecture": "leaf"}},
    "Matryoshka 256/128": {"training": {"matryoshka_dims": [256, 128]}},
    "lr 3e-4": {"training": {"lr": 3e-4}},
    "cut from the teacher (3 layers)": {"distill": CUT},
    "quickstart-minilm (all but the cut)": {"sources": "quickstart", "training": BEST},
    "quickstart (all)": {"sources": "quickstart", "training": BEST, "distill": CUT},
    "quickstart without the ranking term": {"sources": "quickstart", "training": {**BEST, "rank_weight": 0.0},
                                            "distill": CUT},
    "quickstart without Matryoshka": {"sources": "quickstart", "training": {**BEST, "matryoshka_dims": []},
                                      "distill": CUT},
    "quickstart, leaf architecture": {"sources": "quickstart", "training": {**BEST, "architecture": "leaf"},
                                      "distill": CUT},
}


def variant_suite(name: str, change: dict[str, Any], steps: int, output: Path) -> Path:
    raw = one_stage(yaml.safe_load((ROOT / "suites" / "quickstart-dev.yaml").read_text()))
    raw["name"], raw["output"] = f"ablation-{slug(name)}-{steps}", str(output)
    distill = raw["distill"]
    distill.pop("student_layers", None)
    distill["student"] = "student"
    distill.update(change.get("distill", {}))
    if change.get("sources") != "quickstart":
        distill["data"]["sources"] = [{"task": t} for t in distill["curve_tasks"]] + TODAY_QUERIES
    distill["training"] = {**BASE_TRAINING, "max_steps": steps, "epochs": 20, "validate_every": steps,
                           **change.get("training", {})}
    path = output / f"{raw['name']}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def summary(rec) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for label, ev in (("proj", rec.projection_only), ("leaf", rec.final)):
        for off, where in ((False, "in"), (True, "off")):
            out[f"{label}_{where}_pct"] = round(100 * ev.mean("share", off), 1)
            out[f"{label}_{where}_qcos"] = round(ev.mean("query_cosine", off), 3)
            out[f"{label}_{where}_top10"] = round(ev.mean("top10_overlap", off), 3)
        out[f"{label}_ndcg"] = {t: p.ndcg10 for t, p in ev.curve.items()}
    out["teacher_ndcg"] = {t: p.teacher_ndcg10 for t, p in rec.final.curve.items()}
    out["samples"], out["samples_per_s"] = rec.training.samples, rec.training.samples_per_second
    out["train_texts"], out["timings"] = rec.data["train"], rec.timings
    return out


def markdown(rows: list[dict[str, Any]]) -> str:
    """The ablation table (docs/distillation.md) from the rows of ablation.jsonl (the last row of each variant)."""
    latest = {r["variant"]: r for r in rows}
    head = ("| variant | train s | samples | samples/s | in-domain % of teacher (proj -> leaf) | in-domain q-cos | "
            "in-domain top-10 | off-domain % of teacher (proj -> leaf) | off-domain q-cos | off-domain top-10 |")
    lines = [head, "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    for name, r in latest.items():
        lines.append(f"| {name} | {r['train_seconds']:.0f} | {r['samples']} | {r['samples_per_s']:.1f} | "
                     f"{r['proj_in_pct']} -> **{r['leaf_in_pct']}** | {r['leaf_in_qcos']} | {r['leaf_in_top10']} | "
                     f"{r['proj_off_pct']} -> **{r['leaf_off_pct']}** | {r['leaf_off_qcos']} | "
                     f"{r['leaf_off_top10']} |")
    return "\n".join(lines)


def main() -> None:
    parser = ablation_parser(__doc__, ROOT / "results" / "ablation")
    parser.add_argument("--seconds", type=float, default=60.0, help="training time per variant")
    args = parser.parse_args()
    out = Path(args.output)
    if args.table:
        print_table(out, markdown)
        return
    variants = chosen_variants(args.only, VARIANTS)
    for name in variants:
        probe = run_distill_suite(variant_suite(name, variants[name], PROBE_STEPS, out))[0].training.samples_per_second
        steps = max(PROBE_STEPS, round(args.seconds * probe / BASE_TRAINING["batch_size"]))
        rec, wall = run_distill_suite(variant_suite(name, variants[name], steps, out))
        add_row(out, {"variant": name, "budget_seconds": args.seconds, "probe_samples_per_s": probe, "steps": steps,
                      "train_seconds": rec.training.train_seconds, **wall, **summary(rec)})


if __name__ == "__main__":
    main()

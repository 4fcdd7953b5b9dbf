"""Benchmark: the static leaf's ablation (docs/students.md), on suites/quickstart-static.yaml's tasks and texts.

Each variant is the suite's distill section with one change: training on or off (step 0 of every run is the
ridge-projected token vectors, "without training"), the ranking term, which parameters train and at what learning
rate, the vocabulary size, PCA. Reported per variant: asymmetric nDCG@10 as % of the teacher on the in-domain
tasks (mean), on each off-domain yardstick's dev split (where the recipe is chosen) and its test split (reported,
never tuned on: leafbench.datasets.splits), before and after training; the token vectors'
cost (seconds, tokens computed now; the rest came from the embedding store) and the training seconds.

Teacher targets and token vectors go through the shared embedding store: the first variant pays for them.

    python benchmarks/static_ablation.py [--suite suites/quickstart-dev.yaml] [--only NAME ...] [--output DIR]
    python benchmarks/static_ablation.py --table
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml
from ablation_cli import ablation_parser, add_row, chosen_variants, one_stage, print_table, run_distill_suite, slug

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

ROOT = Path(__file__).resolve().parent.parent
DEV_PREFIX, TEST_PREFIX = "-dev-", "-test-"  # task names of the yardsticks' splits (leafbench.datasets.splits)
VARIANTS: dict[str, dict[str, Any]] = {
    "suite (whole vocabulary, token vectors frozen, projection lr 1e-3, ranking term)": {},
    "without the ranking term": {"training": {"rank_weight": 0.0}},
    "token vectors train, lr 1e-3": {"training": {"freeze_embeddings": False}},
    "token vectors train, lr 3e-4": {"training": {"freeze_embeddings": False, "lr": 3e-4}},
    "token vectors train, lr 3e-3": {"training": {"freeze_embeddings": False, "lr": 3e-3}},
    "projection lr 1e-4": {"training": {"projection_lr": 1e-4}},
    "vocabulary 8000, tokens train, projection lr 1e-4 (the earlier suite)": {
        "static": {"vocabulary": 8000}, "training": {"freeze_embeddings": False, "projection_lr": 1e-4}},
    "vocabulary 8000": {"static": {"vocabulary": 8000}},
    "vocabulary 16000": {"static": {"vocabulary": 16000}},
    "no PCA (768-d vectors)": {"static": {"pca_dims": None}},
    # #17 (the first run's time): the token vectors from a cut of the teacher, a fraction of its forward cost
    **{f"token vectors from layers {', '.join(map(str, cut))}": {"student_layers": list(cut)}
       for cut in ((0, 8, 11), (0, 11), (0,))},
}


def variant_suite(name: str, change: dict[str, Any], output: Path, base: Path) -> Path:
    raw = one_stage(yaml.safe_load(base.read_text()), "static")  # the quickstart lists two stages
    raw["name"], raw["output"] = f"static-ablation-{slug(name)[:60]}", str(output)
    distill = raw["distill"]
    distill["static"] = {**distill["static"], **change.get("static", {})}
    distill["training"] = {**distill["training"], **change.get("training", {})}
    if "student_layers" in change:  # the cut of the model the token vectors come from
        distill["student_layers"] = change["student_layers"]
    path = output / f"{raw['name']}.yaml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(yaml.safe_dump(raw, sort_keys=False))
    return path


def _share(ev, marker: str) -> dict[str, float]:
    """% of the teacher per off-domain task of one split, keyed by the task's name."""
    return {t: round(100 * p.share, 1) for t, p in ev.curve.items() if p.off_domain and marker in t and p.share}


def summary(rec) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for label, ev in (("proj", rec.projection_only), ("leaf", rec.final)):
        in_domain = [p.share for p in ev.curve.values() if not p.off_domain and p.share]
        out[f"{label}_in_pct"] = round(100 * sum(in_domain) / len(in_domain), 1) if in_domain else None
        out[f"{label}_dev_pct"], out[f"{label}_test_pct"] = _share(ev, DEV_PREFIX), _share(ev, TEST_PREFIX)
        out[f"{label}_ndcg"] = {t: p.ndcg10 for t, p in ev.curve.items()}
    out["teacher_ndcg"] = {t: p.teacher_ndcg10 for t, p in rec.final.curve.items()}
    out["static"] = rec.student_init.static.model_dump() if rec.student_init.static else None
    out["train_seconds"], out["samples"] = rec.training.train_seconds, rec.training.samples
    out["timings"] = rec.timings
    return out


def _cells(before: dict[str, float], after: dict[str, float]) -> str:
    return " ".join(f"{t.split('-')[0]} {before.get(t)} -> **{v}**" for t, v in after.items())


def markdown(rows: list[dict[str, Any]]) -> str:
    latest = {r["variant"]: r for r in rows}
    lines = ["| variant | vocabulary x dim | token vectors s (computed) | train s | off-domain dev % of teacher "
             "(proj -> leaf) | off-domain test % of teacher (proj -> leaf) |", "|---|---:|---:|---:|---|---|"]
    for name, r in latest.items():
        st = r["static"] or {}
        lines.append(f"| {name} | {st.get('vocabulary')} x {st.get('pca_dims') or 768} | {st.get('seconds', 0):.0f} "
                     f"({st.get('computed_tokens')}) | {r['train_seconds']:.0f} | "
                     f"{_cells(r['proj_dev_pct'], r['leaf_dev_pct'])} | {_cells(r['proj_test_pct'], r['leaf_test_pct'])} |")
    return "\n".join(lines)


def main() -> None:
    parser = ablation_parser(__doc__, ROOT / "results" / "static-ablation")
    parser.add_argument("--suite", default=str(ROOT / "suites" / "quickstart-static.yaml"),
                        help="the suite whose distill section the variants change")
    args = parser.parse_args()
    out = Path(args.output)
    if args.table:
        print_table(out, markdown)
        return
    for name, change in chosen_variants(args.only, VARIANTS).items():
        rec, wall = run_distill_suite(variant_suite(name, change, out, Path(args.suite)))
        add_row(out, {"variant": name, **wall, **summary(rec)})


if __name__ == "__main__":
    main()

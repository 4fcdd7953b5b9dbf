"""`leafbench cache verify [--fix]` and `leafbench cache gc RESULTS... [--dry-run]` (registered from cli.py)."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

out = Console(soft_wrap=True)  # paths stay on one line (greppable)


def _root(args: argparse.Namespace) -> Path:
    from leafbench.assets import cache_dir

    return Path(args.store) if args.store else cache_dir() / "embeddings"


def cmd_verify(args: argparse.Namespace) -> int:
    from leafbench.store.maintenance import verify

    root = _root(args)
    report = verify(root, fix=args.fix)
    for path, reason in report.bad:
        out.print(f"bad shard {path}: {reason}" + ("  -> quarantined" if args.fix else ""), highlight=False)
    for path in report.orphans:
        out.print(f"orphan {path}" + ("  -> deleted" if args.fix else ""), highlight=False)
    out.print(f"{root}: {report.namespaces} namespaces, {report.shards} shards, {report.rows:,} rows checked; "
              f"{len(report.bad)} bad, {len(report.orphans)} orphans"
              + ("" if args.fix or not (report.bad or report.orphans) else " (--fix quarantines and cleans)"),
              highlight=False)
    return 1 if (report.bad or report.orphans) and not args.fix else 0


def cmd_gc(args: argparse.Namespace) -> int:
    from leafbench.store.maintenance import gc

    root = _root(args)
    unused = gc(root, [Path(r) for r in args.results], dry_run=args.dry_run)
    verb = "would delete" if args.dry_run else "deleted"
    for u in unused:
        out.print(f"{verb} {u.path.name}  {u.bytes / 2**20:,.1f} MiB  {u.description}", highlight=False)
    out.print(f"{root}: {verb} {len(unused)} unused namespaces, "
              f"{sum(u.bytes for u in unused) / 2**20:,.1f} MiB", highlight=False)
    return 0


def add_cache_commands(sub: argparse._SubParsersAction) -> None:
    cache = sub.add_parser("cache", help="check or clean the embedding store")
    csub = cache.add_subparsers(dest="cache_command", required=True)
    p = csub.add_parser("verify", help="hash every shard in full; report bad shards and orphans")
    p.add_argument("--fix", action="store_true", help="quarantine bad shards (re-encoded on next use), delete orphans")
    p.add_argument("--store", help="store folder (default: $LEAFBENCH_CACHE/embeddings)")
    p.set_defaults(func=cmd_verify)
    p = csub.add_parser("gc", help="delete embedding namespaces no result record refers to")
    p.add_argument("results", nargs="+", help="results folders whose records must keep their embeddings")
    p.add_argument("--dry-run", action="store_true", help="list what would be deleted, delete nothing")
    p.add_argument("--store", help="store folder (default: $LEAFBENCH_CACHE/embeddings)")
    p.set_defaults(func=cmd_gc)

"""``seckb recommend``: the greatest version with no active advisory, not yanked."""

from __future__ import annotations

import argparse

from rich.console import Console

from aggregators.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    add_snapshot_options,
    print_json,
    read_snapshot,
)


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    """Add ``seckb recommend`` and its options."""
    p = sub.add_parser(
        "recommend", parents=[common], help="greatest version with no active advisory, not yanked"
    )
    p.add_argument("package")
    p.add_argument("specifier", nargs="?", help="PEP 440 specifier, e.g. '>=2,<3'")
    p.add_argument("--pre", action="store_true", help="consider pre-releases")
    p.add_argument("--json", action="store_true", help="print the seckb.recommend/1 document")
    add_snapshot_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace, out: Console, err: Console) -> int:
    """Recommend a version; 0 when one qualifies, 1 when none does (errors raise)."""
    from aggregators.clients.documents import recommend_document
    from aggregators.clients.lookup import KnowledgeBase

    snapshot, warnings = read_snapshot(args, err)
    kb = KnowledgeBase(snapshot)
    rec = kb.recommend(args.package, args.specifier or "", prereleases=args.pre)
    code = EXIT_OK if rec.version else EXIT_FAILED
    if args.json:
        release = kb.lookup(rec.package, rec.version) if rec.version else None
        document = recommend_document(
            snapshot,
            rec,
            prereleases=args.pre,
            known_package=kb.knows(rec.package),
            release=release,
            warnings=warnings,
        )
        print_json(document)
        return code
    subject = rec.package + (f" {rec.specifier}" if rec.specifier else "")
    if not kb.knows(rec.package):
        out.print(f"{subject}: no release of this package in snapshot {snapshot.id}")
        return code
    if rec.version:
        out.print(
            f"{subject}: recommend [bold green]{rec.version}[/] (snapshot {snapshot.id})",
            highlight=False,
        )
    else:
        out.print(
            f"{subject}: [bold red]no version qualifies[/] (snapshot {snapshot.id})",
            highlight=False,
        )
    if rec.skipped:
        out.print("skipped (newest first):")
        for version, reason in rec.skipped:
            out.print(f"  {version}: {reason}", highlight=False)
    elif rec.version:
        out.print("no newer matching release was skipped")
    return code

"""``seckb diff``: what changed between two snapshots, grouped by kind of change."""

from __future__ import annotations

import argparse

from rich.console import Console

from aggregators.cli.common import EXIT_OK, add_from, print_json, settings_from


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    """Add ``seckb diff`` and its options."""
    p = sub.add_parser("diff", parents=[common], help="what changed between two snapshots")
    p.add_argument("old", nargs="?", help="older snapshot id (default: the one before NEW)")
    p.add_argument("new", nargs="?", help="newer snapshot id (default: LATEST)")
    p.add_argument("--json", action="store_true", help="print the seckb.diff/1 JSON document")
    add_from(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace, out: Console, err: Console) -> int:
    """Print the changes from OLD to NEW; always 0 (errors raise)."""
    from aggregators.clients.diff import diff, group_changes, snapshots_to_compare
    from aggregators.clients.documents import diff_document
    from aggregators.store.locations import open_store

    store = open_store(settings_from(args))
    old, new = snapshots_to_compare(store, args.old, args.new)
    rows = diff(old, new)
    if args.json:
        print_json(diff_document(old, new, rows))
        return EXIT_OK
    out.print(f"changes from {old.id} to {new.id}: {len(rows)}", highlight=False)
    for kind, items in group_changes(rows).items():
        out.print(f"\n[bold]{kind}[/] ({len(items)})", highlight=False)
        for row in items:
            subject = " ".join(
                str(row[key]) for key in ("package", "version", "advisory_id") if row[key]
            )
            change = ""
            if row["old_value"] is not None or row["new_value"] is not None:
                change = f": {row['old_value'] or '-'} -> {row['new_value'] or '-'}"
            out.print(f"  {subject}{change}", highlight=False)
    return EXIT_OK

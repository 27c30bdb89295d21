"""``seckb snapshots``: the published snapshots (newest marked ``*``) and their lineage."""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.table import Table

from aggregators.cli.common import EXIT_OK, add_from, print_json, settings_from


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    """Add ``seckb snapshots`` and its options."""
    p = sub.add_parser("snapshots", parents=[common], help="list snapshots and their lineage")
    p.add_argument("--json", action="store_true", help="print the manifests as JSON")
    add_from(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace, out: Console, err: Console) -> int:
    """List the snapshots as a table, or their manifests (with ``latest``) as JSON."""
    from aggregators.store.locations import open_store, where

    settings = settings_from(args)
    store = open_store(settings)
    latest = store.latest()
    snapshots = store.all()
    if args.json:
        print_json([dict(s.manifest, latest=bool(latest and s.id == latest.id)) for s in snapshots])
        return EXIT_OK
    table = Table(
        "", "snapshot", "created", "advisory-db", "advisories", "size", "sources", box=None
    )
    for s in snapshots:
        lineage = s.source("advisories").get("lineage", {})
        tables = s.manifest.get("tables", {})
        size = sum(t["bytes"] for t in tables.values())
        statuses = ", ".join(
            f"{n}:{v.get('status')}" for n, v in s.manifest.get("sources", {}).items()
        )
        table.add_row(
            "*" if latest and s.id == latest.id else "",
            s.id,
            s.manifest.get("created_at", "")[:19],
            str(lineage.get("commit", ""))[:12],
            f"{tables.get('advisories', {}).get('rows', 0):,}",
            f"{size / 1e6:.1f} MB",
            statuses,
        )
    if not snapshots:
        out.print(f"no snapshots yet in {where(store)}", highlight=False)
        return EXIT_OK
    out.print(table)
    remote = getattr(store, "url", None)  # an object store (--from, snapshot_url, store_url)
    out.print(f"store: {remote}" if remote else f"data root: {store.ws.home}", highlight=False)
    return EXIT_OK

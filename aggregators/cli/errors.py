"""``seckb errors``: the upstream data problems recorded in a snapshot (``ingest_errors``)."""

from __future__ import annotations

import argparse
from typing import Any

from rich.console import Console
from rich.table import Table

from aggregators.cli.common import EXIT_OK, add_from, open_snapshot, print_json, settings_from
from aggregators.core.errors import SeckbError

SCHEMA = "seckb.errors/1"


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    """Add ``seckb errors`` and its options."""
    p = sub.add_parser(
        "errors", parents=[common], help="list the data problems the sources recorded"
    )
    p.add_argument("--source", help="only this source's problems (advisories, pypi, ...)")
    p.add_argument("--snapshot", help="snapshot id (default: the latest)")
    add_from(p)
    p.add_argument("--json", action="store_true", help=f"print the {SCHEMA} document")
    p.set_defaults(func=run)


def error_rows(snapshot: Any, source: str | None) -> list[dict[str, Any]]:
    """The snapshot's ``ingest_errors`` rows (of one source), in the contract's order."""
    table = snapshot.read("ingest_errors")
    rows: list[dict[str, Any]] = table.to_pylist() if table is not None else []
    if source is not None:
        known = {row["source"] for row in rows} | set(snapshot.manifest.get("sources", {}))
        if source not in known:
            raise SeckbError(f"unknown source {source!r}; known: {', '.join(sorted(known))}")
        rows = [row for row in rows if row["source"] == source]
    return rows


def by_kind(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Counts per (source, level, kind of reason), biggest first."""
    from aggregators.run.summary import problem_kind

    counts: dict[tuple[str, str, str], int] = {}
    for row in rows:
        key = (row["source"], row["level"], problem_kind(row["reason"]))
        counts[key] = counts.get(key, 0) + 1
    ordered = sorted(counts.items(), key=lambda item: (-item[1], item[0]))
    return [
        {"source": s, "level": level, "kind": kind, "count": n} for (s, level, kind), n in ordered
    ]


def run(args: argparse.Namespace, out: Console, err: Console) -> int:
    """List the problems as a table (with a count per kind), or as JSON."""
    snapshot = open_snapshot(settings_from(args), args.snapshot)
    rows = error_rows(snapshot, args.source)
    kinds = by_kind(rows)
    if args.json:
        print_json(
            {
                "schema": SCHEMA,
                "snapshot": snapshot.id,
                "source": args.source,
                "count": len(rows),
                "by_kind": kinds,
                "errors": rows,
            }
        )
        return EXIT_OK
    if not rows:
        which = f" from {args.source}" if args.source else ""
        out.print(f"no data problems{which} recorded in snapshot {snapshot.id}")
        return EXIT_OK
    table = Table("source", "level", "path", "advisory", "reason", box=None)
    for row in rows:
        table.add_row(
            row["source"], row["level"], row["path"], row["advisory_id"] or "", row["reason"]
        )
    out.print(table)
    out.print(f"\n{len(rows):,} problem(s) in snapshot {snapshot.id}, by kind:", highlight=False)
    for kind in kinds:
        out.print(
            f"  {kind['count']:>6,}  {kind['source']} {kind['level']}: {kind['kind']}",
            highlight=False,
            markup=False,
        )
    return EXIT_OK

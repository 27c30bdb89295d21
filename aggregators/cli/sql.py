"""``seckb sql``: a read-only SQL query on ``seckb.duckdb``, as a table or JSON."""

from __future__ import annotations

import argparse

from rich.console import Console
from rich.table import Table

from aggregators.cli.common import EXIT_OK, add_from, print_json, settings_from
from aggregators.core.errors import SeckbError


def sql_error(exc: Exception) -> str:
    """DuckDB's error on one line: the message and its hints, without the caret drawing."""
    lines = [line.strip() for line in str(exc).splitlines()]
    kept = [line for line in lines if line and set(line) != {"^"} and not line.startswith("^")]
    return "; ".join(kept).replace(":;", ":")


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    """Add ``seckb sql`` and its options."""
    p = sub.add_parser("sql", parents=[common], help="run a read-only SQL query on seckb.duckdb")
    p.add_argument("query")
    p.add_argument("--json", action="store_true", help="print rows as a JSON list of objects")
    add_from(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace, out: Console, err: Console) -> int:
    """Run the query on a read-only connection; a SQL error is a one-line error (exit 2)."""
    import duckdb

    from aggregators.store.locations import reader_database
    from aggregators.store.views import connect

    database = reader_database(settings_from(args))  # built locally for a remote snapshot
    if not database.is_file():
        raise SeckbError(
            f"no snapshots yet in {database.parent} (no {database.name}); run 'seckb ingest' first"
        )
    con = connect(database)
    try:
        cursor = con.execute(args.query)
        columns = [d[0] for d in cursor.description or []]
        rows = cursor.fetchall()
    except duckdb.Error as exc:
        raise SeckbError(f"SQL error: {sql_error(exc)}") from exc
    finally:
        con.close()
    if args.json:
        print_json([dict(zip(columns, row, strict=True)) for row in rows], default=str)
        return EXIT_OK
    table = Table(*columns, box=None)
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    out.print(table)
    return EXIT_OK

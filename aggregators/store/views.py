"""``seckb.duckdb``: views over the latest snapshot, rebuilt beside it and swapped atomically.

The database holds only views, so it is cheap to rebuild; an analyst who keeps it open keeps
reading the snapshot they opened, and a crash mid-rebuild leaves the previous file in place.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

import duckdb

from aggregators.store.snapshots import Snapshot


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def extra_views_sql() -> str:
    """The SQL of ``warehouse/views.sql`` (convenience views over the table views)."""
    return resources.files("aggregators.sql").joinpath("views.sql").read_text(encoding="utf-8")


def create_views(con: duckdb.DuckDBPyConnection, snapshot: Snapshot) -> None:
    """Create one view per snapshot table, a ``seckb_snapshot`` view and the extra views."""
    for name in snapshot.tables:
        path = snapshot.table_path(name).resolve()
        con.execute(
            f'CREATE OR REPLACE VIEW "{name}" AS SELECT * FROM read_parquet({_quote(str(path))})'
        )
    con.execute(
        "CREATE OR REPLACE VIEW seckb_snapshot AS SELECT "
        f"{_quote(snapshot.id)} AS snapshot_id, "
        f"CAST({_quote(snapshot.manifest['created_at'])} AS TIMESTAMPTZ) AS created_at, "
        f"{_quote(str(snapshot.path.resolve()))} AS path"
    )
    needed = {"advisories", "affected_versions", "advisory_ranges"}
    if needed <= set(snapshot.tables):
        con.execute(extra_views_sql())


def refresh(database: Path, snapshot: Snapshot) -> None:
    """Rebuild ``database`` with views over ``snapshot`` (write beside it, then ``os.replace``)."""
    temp = database.with_name(f".{database.name}.{os.getpid()}.tmp")
    temp.unlink(missing_ok=True)
    con = duckdb.connect(str(temp))
    try:
        create_views(con, snapshot)
        con.execute("CHECKPOINT")
    finally:
        con.close()
    os.replace(temp, database)

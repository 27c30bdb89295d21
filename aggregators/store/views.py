"""``seckb.duckdb``: views over the latest snapshot, rebuilt beside it and swapped atomically.

The database holds only views (and empty tables for contract tables a snapshot lacks), so it is
cheap to rebuild; an analyst who keeps it open keeps reading the snapshot they opened, and a
crash mid-rebuild leaves the previous file in place.

Two promises to readers:

* **Any DuckDB 1.x opens it** (from 1.1 on, the DuckDB CLI on PyPI included): it is written with
  DuckDB's ``storage_compatibility_version``, not in the newest storage format.
* **It survives moving or copying the data root** (a backup restored elsewhere, a volume mounted
  at another path, an rsync to a laptop): the views name their Parquet files relative to the
  data root through the macro ``seckb_file(path)``, which resolves against the directory of the
  database file being read. Only a reader that ATTACHes the file into another database (or sets
  ``temp_directory``) needs ``SET VARIABLE seckb_home = '/path/to/data/root'`` first.
"""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path

import duckdb

from aggregators.core.contracts import contract, published_contracts
from aggregators.core.workspace import Workspace
from aggregators.store.projects import ProjectStore
from aggregators.store.snapshots import Snapshot

STORAGE_COMPATIBILITY = "v1.1.0"
"""Oldest DuckDB that must read ``seckb.duckdb`` (``duckdb-cli`` 1.5 reads storage <= 68)."""
HOME_VARIABLE = "seckb_home"
"""DuckDB variable that overrides where the views look for the data root."""
FILE_MACRO = (
    "CREATE OR REPLACE MACRO seckb_file(relative) AS "
    f"coalesce(getvariable('{HOME_VARIABLE}'), "
    "nullif(parse_dirpath(current_setting('temp_directory')), ''), '.') || '/' || relative"
)
"""``seckb_file('snapshots/…')``: a path below the data root of the database being read (DuckDB
defaults ``temp_directory`` to ``<database file>.tmp``)."""


def _quote(text: str) -> str:
    return "'" + text.replace("'", "''") + "'"


def extra_views_sql() -> str:
    """The SQL of ``warehouse/views.sql`` (convenience views over the table views)."""
    return resources.files("aggregators.sql").joinpath("views.sql").read_text(encoding="utf-8")


def _relative(path: Path, root: Path) -> str:
    """``path`` relative to the data root, with forward slashes (absolute when outside it)."""
    try:
        return path.resolve().relative_to(root.resolve()).as_posix()
    except ValueError:
        return path.resolve().as_posix()


def _source(path: Path, root: Path) -> str:
    where = _relative(path, root)
    if where.startswith("/"):
        return f"read_parquet({_quote(where)})"
    return f"read_parquet(seckb_file({_quote(where)}))"


def create_views(con: duckdb.DuckDBPyConnection, snapshot: Snapshot, root: Path) -> None:
    """One view per published table (placeholders included; an empty table for one an older
    snapshot lacks), a ``seckb_snapshot`` view and the extra views; paths relative to ``root``."""
    con.execute(FILE_MACRO)
    for name in sorted({*snapshot.tables, *(c.table for c in published_contracts())}):
        path = snapshot.file_of(name)
        if path is not None:
            con.execute(f'CREATE OR REPLACE VIEW "{name}" AS SELECT * FROM {_source(path, root)}')
            continue
        # a snapshot published before placeholders existed: an empty table stands in
        con.register("seckb_empty", contract(name).empty())
        con.execute(f'CREATE OR REPLACE TABLE "{name}" AS SELECT * FROM seckb_empty')
        con.unregister("seckb_empty")
    where = _relative(snapshot.path, root)
    location = f"seckb_file({_quote(where)})" if not where.startswith("/") else _quote(where)
    con.execute(
        "CREATE OR REPLACE VIEW seckb_snapshot AS SELECT "
        f"{_quote(snapshot.id)} AS snapshot_id, "
        f"CAST({_quote(snapshot.manifest['created_at'])} AS TIMESTAMPTZ) AS created_at, "
        f"{location} AS path"
    )
    con.execute(extra_views_sql())
    for name, paths in ProjectStore(Workspace(root)).view_files().items():  # watched projects
        files = [_relative(p, root) for p in paths]
        listed = ", ".join(
            _quote(f) if f.startswith("/") else f"seckb_file({_quote(f)})" for f in files
        )
        con.execute(f'CREATE OR REPLACE VIEW "{name}" AS SELECT * FROM read_parquet([{listed}])')


def connect(database: Path, read_only: bool = True) -> duckdb.DuckDBPyConnection:
    """Open ``seckb.duckdb`` for reading, with the views pointed at the data root it is in
    (whatever the current directory, and also when DuckDB's ``temp_directory`` is set)."""
    con = duckdb.connect(str(database), read_only=read_only)
    con.execute(f"SET VARIABLE {HOME_VARIABLE} = {_quote(str(database.resolve().parent))}")
    return con


def refresh(database: Path, snapshot: Snapshot) -> None:
    """Rebuild ``database`` with views over ``snapshot`` (write beside it, then ``os.replace``)."""
    temp = database.with_name(f".{database.name}.{os.getpid()}.tmp")
    temp.unlink(missing_ok=True)
    con = duckdb.connect(str(temp), config={"storage_compatibility_version": STORAGE_COMPATIBILITY})
    try:
        con.execute(f"SET VARIABLE {HOME_VARIABLE} = {_quote(str(database.resolve().parent))}")
        create_views(con, snapshot, database.parent)
        con.execute("CHECKPOINT")
    finally:
        con.close()
    os.replace(temp, database)

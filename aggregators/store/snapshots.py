"""Immutable snapshots: write to staging, rename into place, then swap ``LATEST`` atomically.

A snapshot is ``snapshots/<id>/`` holding one zstd Parquet file per table (an empty one, listed
under ``placeholders``, for a published table no source has produced yet), the contract of each
table as it was when published (``contracts/<table>.yaml``) and a ``manifest.json`` (schema
versions, lineage per source, row count, bytes and sha256 per file). Files are sorted by their
contract's ``sort_by``, say so in their metadata (``sorting_columns``), carry a page index, and
use the contract's row-group size, so a reader looking up one package skips most of a file.
``LATEST`` names the current snapshot and is replaced with ``os.replace``, so a crash at any
point leaves it naming a complete snapshot.
"""

from __future__ import annotations

import fcntl
import hashlib
import json
import logging
import os
import secrets
import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from aggregators import __version__
from aggregators.core.contracts import contract, contract_text, published_contracts
from aggregators.core.errors import SnapshotError, StaleRunError
from aggregators.core.files import fsync_path
from aggregators.core.workspace import Workspace

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
FORMAT = "seckb.snapshot/1"
ROW_GROUP_SIZE = 65_536
"""Rows per row group unless the table's contract says otherwise."""
CONTRACTS = "contracts"
"""Directory of a snapshot holding the contract of each of its tables."""


def data_age(table: pa.Table, now: datetime) -> dict[str, Any]:
    """When the oldest row of a table was fetched from its source (``data_as_of``) and how old
    that is (``data_age_seconds``), for tables with a ``fetched_at`` column: a source that keeps
    answers younger than its refresh age (Scorecard) holds data older than the run."""
    if "fetched_at" not in table.column_names or not table.num_rows:
        return {}
    oldest = pc.min(table.column("fetched_at")).as_py()
    if oldest is None:
        return {}
    return {
        "data_as_of": oldest.isoformat(),
        "data_age_seconds": max(0, int((now - oldest).total_seconds())),
    }


def write_parquet(table: pa.Table, path: Path) -> None:
    """Write a table conformed to its contract the way every published file is written."""
    found = contract(str((table.schema.metadata or {}).get(b"seckb.table", b"").decode()))
    sorting = (
        pq.SortingColumn.from_ordering(table.schema, [(n, "ascending") for n in found.sort_by])
        if found.sort_by
        else None
    )
    pq.write_table(
        table,
        path,
        compression="zstd",
        row_group_size=found.row_group_rows or ROW_GROUP_SIZE,
        write_statistics=True,
        sorting_columns=sorting,
        write_page_index=True,
    )


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def new_snapshot_id(now: datetime) -> str:
    """A sortable, unique id: UTC time to the second plus a random suffix."""
    return f"{now.strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(3)}"


@dataclass(frozen=True)
class Snapshot:
    """A published snapshot directory and its manifest."""

    id: str
    path: Path
    manifest: dict[str, Any]

    @property
    def tables(self) -> list[str]:
        """Names of the tables the snapshot holds (data some source produced)."""
        return sorted(self.manifest.get("tables", {}))

    @property
    def placeholders(self) -> list[str]:
        """Published tables no source has produced yet: an empty file each, so readers find
        every contract's table; for the pipeline they are absent (nothing to carry forward)."""
        return sorted(self.manifest.get("placeholders", {}))

    def file_of(self, name: str) -> Path | None:
        """The Parquet file of a table or a placeholder, ``None`` when there is neither."""
        for key in ("tables", "placeholders"):
            entry = self.manifest.get(key, {}).get(name)
            if entry is not None:
                return self.path / str(entry["file"])
        return None

    def table_path(self, name: str) -> Path:
        """Path of a table's Parquet file; raise :class:`SnapshotError` if it has none."""
        if name not in self.manifest.get("tables", {}):
            raise SnapshotError(f"snapshot {self.id} has no table {name!r}")
        return self.path / str(self.manifest["tables"][name]["file"])

    def read(self, name: str) -> pa.Table | None:
        """Read a table, or ``None`` when this snapshot does not hold it."""
        if name not in self.manifest.get("tables", {}):
            return None
        return pq.read_table(self.table_path(name))

    def source(self, name: str) -> dict[str, Any]:
        """The manifest's record for one source (empty when the source never ran)."""
        return dict(self.manifest.get("sources", {}).get(name, {}))

    def verify(self) -> None:
        """Check every file (placeholders included) against the manifest's size and sha256."""
        entries = {**self.manifest.get("placeholders", {}), **self.manifest.get("tables", {})}
        for name, info in entries.items():
            path = self.path / info["file"]
            if not path.is_file():
                raise SnapshotError(f"snapshot {self.id}: {info['file']} is missing")
            if path.stat().st_size != info["bytes"] or sha256_file(path) != info["sha256"]:
                raise SnapshotError(f"snapshot {self.id}: {name} does not match its manifest")


def _write_table(staging: Path, name: str, table: pa.Table, now: datetime) -> dict[str, Any]:
    """Write one table and its contract into a staging snapshot; return its manifest entry."""
    table = contract(name).conform(table)
    path = staging / f"{name}.parquet"
    write_parquet(table, path)
    fsync_path(path)
    shipped = staging / CONTRACTS / f"{name}.yaml"
    shipped.write_text(contract_text(name), encoding="utf-8")
    return {
        "file": path.name,
        "rows": table.num_rows,
        "bytes": path.stat().st_size,
        "sha256": sha256_file(path),
        "schema_version": contract(name).version,
        "contract": f"{CONTRACTS}/{shipped.name}",
        **data_age(table, now),
    }


class SnapshotStore:
    """Reads and publishes the snapshots of one data root."""

    def __init__(self, workspace: Workspace) -> None:
        """Use the snapshot directories of ``workspace``."""
        self.ws = workspace

    def _load(self, snapshot_id: str) -> Snapshot:
        path = self.ws.snapshots / snapshot_id
        try:
            manifest = json.loads((path / MANIFEST).read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as exc:
            raise SnapshotError(f"snapshot {snapshot_id} has no readable manifest") from exc
        return Snapshot(snapshot_id, path, manifest)

    def latest(self) -> Snapshot | None:
        """The snapshot ``LATEST`` names, or ``None`` before the first publish."""
        try:
            snapshot_id = self.ws.latest_pointer.read_text(encoding="utf-8").strip()
        except FileNotFoundError:
            return None
        return self._load(snapshot_id)

    def get(self, snapshot_id: str) -> Snapshot:
        """A snapshot by id; raise :class:`SnapshotError` if it does not exist."""
        return self._load(snapshot_id)

    def all(self) -> list[Snapshot]:
        """Every complete snapshot, oldest first."""
        found = []
        if self.ws.snapshots.is_dir():
            for entry in sorted(self.ws.snapshots.iterdir()):
                if entry.is_dir() and (entry / MANIFEST).is_file():
                    found.append(self._load(entry.name))
        return sorted(found, key=lambda s: (s.manifest.get("created_at", ""), s.id))

    def clean_staging(self) -> None:
        """Remove leftovers of runs that crashed while writing (call while holding the lock)."""
        if self.ws.staging.is_dir():
            for entry in self.ws.staging.iterdir():
                log.warning("removing incomplete staging directory %s", entry)
                shutil.rmtree(entry, ignore_errors=True)

    def publish(
        self,
        tables: Mapping[str, pa.Table],
        sources: Mapping[str, Any],
        now: datetime,
        previous: Snapshot | None,
        snapshot_id: str | None = None,
        run_id: str | None = None,
    ) -> Snapshot:
        """Write ``tables`` as a new snapshot and make it ``LATEST``; return it."""
        snapshot_id = snapshot_id or new_snapshot_id(now)
        staging = self.ws.staging / snapshot_id
        staging.mkdir(parents=True)
        (staging / CONTRACTS).mkdir()
        entries = {name: _write_table(staging, name, tables[name], now) for name in sorted(tables)}
        placeholders = {
            c.table: _write_table(staging, c.table, c.empty(), now)
            for c in published_contracts()
            if c.table not in tables
        }
        manifest = {
            "format": FORMAT,
            "snapshot_id": snapshot_id,
            "created_at": now.isoformat(),
            "seckb_version": __version__,
            "previous_snapshot": previous.id if previous else None,
            "run_id": run_id,
            "sources": dict(sources),
            "tables": entries,
            "placeholders": placeholders,
        }
        manifest_path = staging / MANIFEST
        manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True), encoding="utf-8")
        fsync_path(manifest_path)
        fsync_path(staging)
        return self._commit(staging, snapshot_id, manifest, previous)

    def _commit(
        self,
        staging: Path,
        snapshot_id: str,
        manifest: dict[str, Any],
        previous: Snapshot | None,
    ) -> Snapshot:
        """Make a complete staging directory the snapshot ``LATEST`` names: rename it into
        place, then swap ``LATEST`` (an object store uploads instead: see ``store.remote``)."""
        final = self.ws.snapshots / snapshot_id
        os.rename(staging, final)
        fsync_path(self.ws.snapshots)
        self._point_latest(snapshot_id, previous)
        return Snapshot(snapshot_id, final, manifest)

    def latest_id(self) -> str | None:
        """The id ``LATEST`` names now (``None`` before the first publish)."""
        try:
            return self.ws.latest_pointer.read_text(encoding="utf-8").strip() or None
        except FileNotFoundError:
            return None

    def check(self) -> None:
        """Nothing to check on a local disk (an object store checks it answers)."""

    def _point_latest(self, snapshot_id: str, previous: Snapshot | None = None) -> None:
        """Swap ``LATEST`` under an ``flock`` of the snapshots directory, never over one newer
        than ``previous`` (two data roots may share a store path)."""
        lock = os.open(self.ws.snapshots / ".LATEST.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(lock, fcntl.LOCK_EX)
            current = self.latest_id()
            if current is not None and current != (previous.id if previous else None):
                shutil.rmtree(self.ws.snapshots / snapshot_id, ignore_errors=True)
                raise StaleRunError(
                    f"LATEST moved to {current} while this run published on "
                    f"{previous.id if previous else 'nothing'}: {snapshot_id} was not published"
                )
            temp = self.ws.snapshots / f".LATEST.{os.getpid()}.tmp"
            temp.write_text(snapshot_id + "\n", encoding="utf-8")
            fsync_path(temp)
            os.replace(temp, self.ws.latest_pointer)
            fsync_path(self.ws.snapshots)
        finally:
            os.close(lock)  # releases the flock

    def prune(self, keep: int) -> list[str]:
        """Delete all but the newest ``keep`` snapshots (never the latest); return deleted ids."""
        latest = self.latest()
        snapshots = self.all()
        doomed = [
            s for s in snapshots[: max(0, len(snapshots) - keep)] if s.id != (latest and latest.id)
        ]
        for snapshot in doomed:
            shutil.rmtree(snapshot.path, ignore_errors=True)
        for stray in self.ws.snapshots.glob(".LATEST.*.tmp"):
            stray.unlink(missing_ok=True)
        return [s.id for s in doomed]

"""Immutable snapshots: write to staging, rename into place, then swap ``LATEST`` atomically.

A snapshot is ``snapshots/<id>/`` holding one zstd Parquet file per table and a
``manifest.json`` (schema versions, lineage per source, row count, bytes and sha256 per file).
``LATEST`` names the current snapshot and is replaced with ``os.replace``, so a crash at any
point leaves it naming a complete snapshot.
"""

from __future__ import annotations

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
import pyarrow.parquet as pq

from aggregators import __version__
from aggregators.core.contracts import contract
from aggregators.core.errors import SnapshotError
from aggregators.core.workspace import Workspace

log = logging.getLogger(__name__)

MANIFEST = "manifest.json"
FORMAT = "seckb.snapshot/1"
ROW_GROUP_SIZE = 65_536


def _fsync_path(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


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
        """Names of the tables the snapshot holds."""
        return sorted(self.manifest.get("tables", {}))

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
        """Check every file against the manifest's size and sha256."""
        for name, info in self.manifest.get("tables", {}).items():
            path = self.path / info["file"]
            if not path.is_file():
                raise SnapshotError(f"snapshot {self.id}: {info['file']} is missing")
            if path.stat().st_size != info["bytes"] or sha256_file(path) != info["sha256"]:
                raise SnapshotError(f"snapshot {self.id}: {name} does not match its manifest")


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
        entries: dict[str, Any] = {}
        for name in sorted(tables):
            table = contract(name).conform(tables[name])
            path = staging / f"{name}.parquet"
            pq.write_table(
                table,
                path,
                compression="zstd",
                row_group_size=ROW_GROUP_SIZE,
                write_statistics=True,
            )
            _fsync_path(path)
            entries[name] = {
                "file": path.name,
                "rows": table.num_rows,
                "bytes": path.stat().st_size,
                "sha256": sha256_file(path),
                "schema_version": contract(name).version,
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
        }
        manifest_path = staging / MANIFEST
        manifest_path.write_text(json.dumps(manifest, indent=2, sort_keys=True), encoding="utf-8")
        _fsync_path(manifest_path)
        _fsync_path(staging)
        final = self.ws.snapshots / snapshot_id
        os.rename(staging, final)
        _fsync_path(self.ws.snapshots)
        self._point_latest(snapshot_id)
        return Snapshot(snapshot_id, final, manifest)

    def _point_latest(self, snapshot_id: str) -> None:
        temp = self.ws.snapshots / f".LATEST.{os.getpid()}.tmp"
        temp.write_text(snapshot_id + "\n", encoding="utf-8")
        _fsync_path(temp)
        os.replace(temp, self.ws.latest_pointer)
        _fsync_path(self.ws.snapshots)

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

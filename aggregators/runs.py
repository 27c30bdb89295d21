"""Staged runs: each Airflow task stores its source's result under ``runs/<run_id>/``, and the
publish task merges them. A run records the snapshot it started from, so re-running a task (or
the whole run) computes against the same base and gives the same result.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from aggregators.errors import SnapshotError
from aggregators.snapshots import Snapshot, SnapshotStore
from aggregators.sources import SourceResult
from aggregators.workspace import Workspace

_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]")


class StagedRun:
    """The staging directory of one run (``SECKB_HOME/runs/<run_id>``)."""

    def __init__(self, workspace: Workspace, run_id: str) -> None:
        """Point at the run's directory; nothing is written yet."""
        self.ws = workspace
        self.run_id = run_id
        self.dir = workspace.home / "runs" / _UNSAFE.sub("_", run_id)

    def base(self, store: SnapshotStore) -> Snapshot | None:
        """The snapshot this run builds on: recorded on first use, the same ever after."""
        marker = self.dir / "base.json"
        if marker.is_file():
            recorded = json.loads(marker.read_text(encoding="utf-8"))["snapshot_id"]
            if recorded is None:
                return None
            try:
                return store.get(recorded)
            except SnapshotError:  # pruned meanwhile: build on what is current
                return store.latest()
        latest = store.latest()
        self.dir.mkdir(parents=True, exist_ok=True)
        _write_json(marker, {"snapshot_id": latest.id if latest else None})
        return latest

    def _source_dir(self, name: str, part: str | None = None) -> Path:
        base = self.dir / name
        return base / "parts" / part if part is not None else base / "result"

    def save(self, result: SourceResult, part: str | None = None) -> None:
        """Store a source's result (or one part of it) atomically, replacing an earlier one."""
        final = self._source_dir(result.name, part)
        temp = final.with_name(final.name + ".tmp")
        shutil.rmtree(temp, ignore_errors=True)
        temp.mkdir(parents=True)
        for table_name, table in result.tables.items():
            pq.write_table(table, temp / f"{table_name}.parquet", compression="zstd")
        _write_json(
            temp / "result.json",
            {
                "name": result.name,
                "status": result.status,
                "lineage": result.lineage,
                "stats": result.stats,
                "tables": sorted(result.tables),
            },
        )
        shutil.rmtree(final, ignore_errors=True)
        temp.rename(final)
        self.clear_failure(result.name)

    def _load_dir(self, path: Path) -> SourceResult | None:
        meta_path = path / "result.json"
        if not meta_path.is_file():
            return None
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        tables = {name: pq.read_table(path / f"{name}.parquet") for name in meta["tables"]}
        return SourceResult(meta["name"], meta["status"], meta["lineage"], tables, meta["stats"])

    def load(self, name: str) -> SourceResult | None:
        """A source's stored result, or ``None`` when it has none (yet)."""
        return self._load_dir(self._source_dir(name))

    def parts(self, name: str) -> list[SourceResult]:
        """Every stored part of a fanned-out source, in part order."""
        root = self.dir / name / "parts"
        if not root.is_dir():
            return []
        found = [self._load_dir(p) for p in sorted(root.iterdir()) if not p.name.endswith(".tmp")]
        return [r for r in found if r is not None]

    def clear(self, name: str) -> None:
        """Forget a source's stored result and parts (before it is computed again)."""
        shutil.rmtree(self.dir / name, ignore_errors=True)

    def save_failure(self, name: str, error: str) -> None:
        """Record why a source failed (the publish step reports it)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        _write_json(self.dir / f"{name}.failed.json", {"error": error})

    def clear_failure(self, name: str) -> None:
        """Forget a recorded failure."""
        (self.dir / f"{name}.failed.json").unlink(missing_ok=True)

    def failure(self, name: str) -> str | None:
        """The recorded failure of a source, if any."""
        path = self.dir / f"{name}.failed.json"
        if not path.is_file():
            return None
        return str(json.loads(path.read_text(encoding="utf-8"))["error"])

    def published(self) -> str | None:
        """The snapshot this run published, if it did."""
        path = self.dir / "published.json"
        if not path.is_file():
            return None
        value = json.loads(path.read_text(encoding="utf-8"))["snapshot_id"]
        return str(value) if value else None

    def record_published(self, snapshot: Snapshot | None) -> None:
        """Remember what the run published (or that it had nothing to publish)."""
        _write_json(self.dir / "published.json", {"snapshot_id": snapshot.id if snapshot else None})

    def remove(self) -> None:
        """Delete the run's staging directory."""
        shutil.rmtree(self.dir, ignore_errors=True)


def merge_parts(name: str, parts: list[SourceResult], tables: list[str]) -> SourceResult:
    """One result from the parts of a fanned-out source (tables concatenated, stats summed)."""
    from aggregators.sources import UNCHANGED, UPDATED

    merged: dict[str, pa.Table] = {}
    for table in tables:
        pieces = [p.tables[table] for p in parts if table in p.tables]
        if pieces:
            merged[table] = pa.concat_tables(pieces)
    stats: dict[str, int] = {}
    for part in parts:
        for key, value in part.stats.items():
            if isinstance(value, int):
                stats[key] = stats.get(key, 0) + value
    status = UPDATED if any(p.status == UPDATED for p in parts) else UNCHANGED
    lineage: dict[str, Any] = parts[0].lineage if parts else {}
    return SourceResult(name, status, lineage, merged, stats)


def _write_json(path: Path, data: Any) -> None:
    temp = path.with_name(path.name + ".tmp")
    temp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str), encoding="utf-8")
    temp.replace(path)

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

import pyarrow.parquet as pq

from aggregators.core.errors import SnapshotError, StaleRunError
from aggregators.core.workspace import Workspace
from aggregators.sources.base import SourceResult
from aggregators.store.snapshots import Snapshot, SnapshotStore

_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]")


class StagedRun:
    """The staging directory of one run (``SECKB_HOME/runs/<run_id>``)."""

    def __init__(self, workspace: Workspace, run_id: str) -> None:
        """Point at the run's directory; nothing is written yet."""
        self.ws = workspace
        self.run_id = run_id
        self.dir = workspace.home / "runs" / _UNSAFE.sub("_", run_id)

    def base_id(self, store: SnapshotStore) -> str | None:
        """The id of the snapshot this run builds on: LATEST when first asked (recorded), the
        recorded one ever after."""
        marker = self.dir / "base.json"
        if marker.is_file():
            recorded: str | None = json.loads(marker.read_text(encoding="utf-8"))["snapshot_id"]
            return recorded
        latest = store.latest()
        self.dir.mkdir(parents=True, exist_ok=True)
        _write_json(marker, {"snapshot_id": latest.id if latest else None})
        return latest.id if latest else None

    def _recorded(self) -> str | None:
        marker = self.dir / "base.json"
        if not marker.is_file():
            return None
        recorded: str | None = json.loads(marker.read_text(encoding="utf-8"))["snapshot_id"]
        return recorded

    def rebase_if_stale(self, store: SnapshotStore) -> None:
        """Start the run afresh on LATEST when its recorded base is gone or LATEST moved past it
        (not by this run): what a cleared, re-run DAG run needs. Results staged on the old base
        are then ignored (each remembers the base it was computed on)."""
        if not (self.dir / "base.json").is_file():
            return
        recorded, latest = self._recorded(), store.latest()
        latest_id = latest.id if latest else None
        gone = recorded is not None and not (store.ws.snapshots / recorded).is_dir()
        moved = latest_id not in {recorded, *self.published()}
        if gone or moved:
            _write_json(self.dir / "base.json", {"snapshot_id": latest_id})

    def base(self, store: SnapshotStore) -> Snapshot | None:
        """The snapshot this run builds on (see :meth:`base_id`); raise :class:`StaleRunError`
        when it has been pruned since: computing on another base would mix two runs' data."""
        recorded = self.base_id(store)
        if recorded is None:
            return None
        try:
            return store.get(recorded)
        except SnapshotError as exc:
            raise StaleRunError(
                f"run {self.run_id} builds on snapshot {recorded}, which no longer exists "
                "(pruned): clear the whole run to recompute it on the current snapshot"
            ) from exc

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
                "base": self._recorded(),
            },
        )
        shutil.rmtree(final, ignore_errors=True)
        temp.rename(final)
        self.clear_failure(result.name)
        self._mark_dirty()

    def _load_dir(self, path: Path) -> SourceResult | None:
        meta_path = path / "result.json"
        if not meta_path.is_file():
            return None
        meta = json.loads(meta_path.read_text(encoding="utf-8"))
        if meta.get("base", self._recorded()) != self._recorded():
            return None  # computed on another base: the run was started afresh since
        tables = {name: pq.read_table(path / f"{name}.parquet") for name in meta["tables"]}
        return SourceResult(meta["name"], meta["status"], meta["lineage"], tables, meta["stats"])

    def load(self, name: str) -> SourceResult | None:
        """A source's stored result, or ``None`` when it has none (yet)."""
        return self._load_dir(self._source_dir(name))

    def parts(self, name: str) -> dict[str, SourceResult]:
        """Every stored part of a fanned-out source by part name, in part order."""
        root = self.dir / name / "parts"
        if not root.is_dir():
            return {}
        found = {
            p.name: self._load_dir(p) for p in sorted(root.iterdir()) if not p.name.endswith(".tmp")
        }
        return {k: v for k, v in found.items() if v is not None}

    def clear(self, name: str) -> None:
        """Forget a source's stored result and parts (before it is computed again)."""
        shutil.rmtree(self.dir / name, ignore_errors=True)
        self._mark_dirty()

    def save_failure(self, name: str, error: str) -> None:
        """Record why a source failed (the publish step reports it)."""
        self.dir.mkdir(parents=True, exist_ok=True)
        _write_json(self.dir / f"{name}.failed.json", {"error": error})
        self._mark_dirty()

    def clear_failure(self, name: str) -> None:
        """Forget a recorded failure."""
        (self.dir / f"{name}.failed.json").unlink(missing_ok=True)

    def failure(self, name: str) -> str | None:
        """The recorded failure of a source, if any."""
        path = self.dir / f"{name}.failed.json"
        if not path.is_file():
            return None
        return str(json.loads(path.read_text(encoding="utf-8"))["error"])

    def _publications(self) -> dict[str, Any]:
        path = self.dir / "published.json"
        if not path.is_file():
            return {"snapshots": [], "dirty": True}
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return data

    def _mark_dirty(self) -> None:
        record = self._publications()
        if record["snapshots"] and not record["dirty"]:
            _write_json(self.dir / "published.json", {**record, "dirty": True})

    def published(self) -> list[str]:
        """Snapshots this run published, oldest first."""
        return list(self._publications()["snapshots"])

    def dirty(self) -> bool:
        """Whether something was staged (or cleared) since the run last published."""
        return bool(self._publications()["dirty"])

    def record_published(self, snapshot: Snapshot) -> None:
        """Remember a snapshot this run published; the run is clean again."""
        record = self._publications()
        ids = [*record["snapshots"], snapshot.id]
        self.dir.mkdir(parents=True, exist_ok=True)
        _write_json(self.dir / "published.json", {"snapshots": ids, "dirty": False})

    def save_plan(self, name: str, batches: int, changed: bool) -> None:
        """Record how many parts a fanned-out source must stage before it counts as done."""
        (self.dir / name).mkdir(parents=True, exist_ok=True)
        _write_json(self.dir / name / "plan.json", {"batches": batches, "changed": changed})

    def plan(self, name: str) -> dict[str, Any] | None:
        """The recorded plan of a fanned-out source, if its plan step ran."""
        path = self.dir / name / "plan.json"
        if not path.is_file():
            return None
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return data


def prune_runs(workspace: Workspace, keep: int, current: StagedRun) -> list[str]:
    """Delete the staging of all but the newest ``keep`` runs (never ``current``)."""
    root = workspace.home / "runs"
    if not root.is_dir():
        return []
    runs = sorted((p for p in root.iterdir() if p.is_dir()), key=lambda p: p.stat().st_mtime)
    doomed = [p for p in runs[: max(0, len(runs) - keep)] if p != current.dir]
    for path in doomed:
        shutil.rmtree(path, ignore_errors=True)
    return [p.name for p in doomed]


def _write_json(path: Path, data: Any) -> None:
    temp = path.with_name(path.name + ".tmp")
    temp.write_text(json.dumps(data, indent=2, sort_keys=True, default=str), encoding="utf-8")
    temp.replace(path)

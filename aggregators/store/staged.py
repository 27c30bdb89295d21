"""Staged runs: each Airflow task stores its source's result under ``runs/<run_id>/`` in the
store, and the publish task merges them. A run records the snapshot it started from, so
re-running a task (or the whole run) computes against the same base and gives the same result.

The store is the data root on one machine, or the object store workers share
(``store_url``): nothing here needs a rename or a shared disk. A result is its tables under a
fresh attempt directory plus one JSON object naming them, written last: a reader sees the whole
result or none, and a retried task replaces the JSON object in one write.
"""

from __future__ import annotations

import io
import json
import re
import secrets
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq

from aggregators.core.errors import PreconditionFailed, SnapshotError, StaleRunError
from aggregators.core.objects import LocalObjects, Objects
from aggregators.core.workspace import Workspace
from aggregators.sources.base import SourceResult
from aggregators.store.snapshots import Snapshot, SnapshotStore

_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]")
RUNS = "runs"


def _parquet(table: pa.Table) -> bytes:
    sink = io.BytesIO()
    pq.write_table(table, sink, compression="zstd")
    return sink.getvalue()


class StagedRun:
    """The staging of one run (``runs/<run_id>/`` in the store)."""

    def __init__(self, workspace: Workspace, run_id: str, objects: Objects | None = None) -> None:
        """Point at the run's prefix in ``objects`` (default: the data root); nothing is
        written yet."""
        self.ws = workspace
        self.run_id = run_id
        self.objects = objects if objects is not None else LocalObjects(workspace.home)
        self.name = _UNSAFE.sub("_", run_id)
        self.prefix = f"{RUNS}/{self.name}"

    def _get_json(self, key: str) -> Any:
        raw = self.objects.get(f"{self.prefix}/{key}")
        return None if raw is None else json.loads(raw)

    def _put_json(self, key: str, data: Any) -> None:
        self.objects.put(f"{self.prefix}/{key}", _dumps(data))

    def base_id(self, store: SnapshotStore) -> str | None:
        """The id of the snapshot this run builds on: LATEST when first asked (recorded), the
        recorded one ever after (the first writer wins: a create-only write)."""
        marker = self._get_json("base.json")
        if marker is not None:
            return _snapshot_id(marker)
        latest = store.latest_id()
        try:
            self.objects.put_if(f"{self.prefix}/base.json", _dumps({"snapshot_id": latest}), None)
        except PreconditionFailed:  # another task of the run recorded it first
            return _snapshot_id(self._get_json("base.json"))
        return latest

    def _recorded(self) -> str | None:
        marker = self._get_json("base.json")
        return None if marker is None else _snapshot_id(marker)

    def rebase_if_stale(self, store: SnapshotStore) -> None:
        """Start the run afresh on LATEST when its recorded base is gone or LATEST moved past it
        (not by this run): what a cleared, re-run DAG run needs. Results staged on the old base
        are then ignored (each remembers the base it was computed on)."""
        marker = self._get_json("base.json")
        if marker is None:
            return
        recorded, latest_id = _snapshot_id(marker), store.latest_id()
        gone = recorded is not None and not _exists(store, recorded)
        moved = latest_id not in {recorded, *self.published()}
        if gone or moved:
            self._put_json("base.json", {"snapshot_id": latest_id})

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

    def _slot(self, name: str, part: str | None = None) -> str:
        return f"{name}/parts/{part}" if part is not None else f"{name}/result"

    def save(self, result: SourceResult, part: str | None = None) -> None:
        """Store a source's result (or one part of it), replacing an earlier one: the tables
        under a new attempt directory, then the JSON object naming them."""
        slot = self._slot(result.name, part)
        attempt = f"{slot}/{secrets.token_hex(8)}"
        for table_name, table in result.tables.items():
            self.objects.put(f"{self.prefix}/{attempt}/{table_name}.parquet", _parquet(table))
        meta = {
            "name": result.name,
            "status": result.status,
            "lineage": result.lineage,
            "stats": result.stats,
            "tables": sorted(result.tables),
            "attempt": attempt,
            "base": self._recorded(),
        }
        self._put_json(f"{slot}.json", meta)
        stale = [
            info.key
            for info in self.objects.list_below(f"{self.prefix}/{slot}")
            if not info.key.startswith(f"{self.prefix}/{attempt}/")
        ]
        self.objects.delete(stale)  # earlier attempts
        self.clear_failure(result.name)
        self._mark_dirty()

    def _load_slot(self, slot: str) -> SourceResult | None:
        meta = self._get_json(f"{slot}.json")
        if meta is None:
            return None
        if meta.get("base", self._recorded()) != self._recorded():
            return None  # computed on another base: the run was started afresh since
        tables = {}
        for name in meta["tables"]:
            raw = self.objects.get(f"{self.prefix}/{meta['attempt']}/{name}.parquet")
            if raw is None:  # cleared meanwhile
                return None
            tables[name] = pq.read_table(pa.BufferReader(raw))
        return SourceResult(meta["name"], meta["status"], meta["lineage"], tables, meta["stats"])

    def load(self, name: str) -> SourceResult | None:
        """A source's stored result, or ``None`` when it has none (yet)."""
        return self._load_slot(self._slot(name))

    def parts(self, name: str) -> dict[str, SourceResult]:
        """Every stored part of a fanned-out source by part name, in part order."""
        root = f"{self.prefix}/{name}/parts/"
        names = sorted(
            info.key[len(root) : -len(".json")]
            for info in self.objects.list_below(root.rstrip("/"))
            if info.key.endswith(".json") and "/" not in info.key[len(root) :]
        )
        found = {part: self._load_slot(self._slot(name, part)) for part in names}
        return {k: v for k, v in found.items() if v is not None}

    def clear(self, name: str) -> None:
        """Forget a source's stored result and parts (before it is computed again)."""
        self.objects.delete_prefix(f"{self.prefix}/{name}")
        self._mark_dirty()

    def save_failure(self, name: str, error: str) -> None:
        """Record why a source failed (the publish step reports it)."""
        self._put_json(f"{name}.failed.json", {"error": error})
        self._mark_dirty()

    def clear_failure(self, name: str) -> None:
        """Forget a recorded failure."""
        self.objects.delete([f"{self.prefix}/{name}.failed.json"])

    def failure(self, name: str) -> str | None:
        """The recorded failure of a source, if any."""
        found = self._get_json(f"{name}.failed.json")
        return None if found is None else str(found["error"])

    def _publications(self) -> dict[str, Any]:
        found: dict[str, Any] | None = self._get_json("published.json")
        return found if found is not None else {"snapshots": [], "dirty": True}

    def _mark_dirty(self) -> None:
        record = self._publications()
        if record["snapshots"] and not record["dirty"]:
            self._put_json("published.json", {**record, "dirty": True})

    def published(self) -> list[str]:
        """Snapshots this run published, oldest first."""
        return list(self._publications()["snapshots"])

    def dirty(self) -> bool:
        """Whether something was staged (or cleared) since the run last published."""
        return bool(self._publications()["dirty"])

    def record_published(self, snapshot: Snapshot) -> None:
        """Remember a snapshot this run published; the run is clean again."""
        ids = [*self._publications()["snapshots"], snapshot.id]
        self._put_json("published.json", {"snapshots": ids, "dirty": False})

    def save_plan(self, name: str, batches: int, changed: bool) -> None:
        """Record how many parts a fanned-out source must stage before it counts as done."""
        self._put_json(f"{name}/plan.json", {"batches": batches, "changed": changed})

    def plan(self, name: str) -> dict[str, Any] | None:
        """The recorded plan of a fanned-out source, if its plan step ran."""
        found: dict[str, Any] | None = self._get_json(f"{name}/plan.json")
        return found


def prune_runs(keep: int, current: StagedRun) -> list[str]:
    """Delete the staging of all but the ``keep`` most recently written runs (never
    ``current``); return the deleted run names."""
    objects = current.objects
    latest: dict[str, float] = {}
    for info in objects.list_below(RUNS):
        run = info.key.split("/")[1]
        latest[run] = max(latest.get(run, 0.0), info.modified.timestamp())
    runs = sorted(latest, key=lambda name: (latest[name], name))
    doomed = [name for name in runs[: max(0, len(runs) - keep)] if name != current.name]
    for name in doomed:
        objects.delete_prefix(f"{RUNS}/{name}")
    return doomed


def _exists(store: SnapshotStore, snapshot_id: str) -> bool:
    try:
        store.get(snapshot_id)
    except SnapshotError:
        return False
    return True


def _snapshot_id(marker: Any) -> str | None:
    found = marker.get("snapshot_id") if isinstance(marker, dict) else None
    return str(found) if found is not None else None


def _dumps(data: Any) -> bytes:
    return json.dumps(data, indent=2, sort_keys=True, default=str).encode()

"""Assemble a snapshot's tables from the sources' results and publish it (Arrow, DuckDB)."""

from __future__ import annotations

import logging
import time
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from aggregators.core.contracts import contract
from aggregators.knowledge.affected_table import build_affected_versions, release_lists
from aggregators.knowledge.changes import diff_table
from aggregators.knowledge.security import build_package_version_security
from aggregators.sources.base import FAILED, UPDATED, SourceResult
from aggregators.sources.registry import SOURCE_TABLES
from aggregators.store.snapshots import Snapshot, SnapshotStore, new_snapshot_id

log = logging.getLogger(__name__)


CARRIED = "carried_forward"


def source_entry(
    name: str,
    previous: Snapshot | None,
    result: SourceResult | None,
    error: str | None,
    now: datetime,
) -> dict[str, Any]:
    """The manifest record of one source: status, lineage, freshness and the error if any."""
    before = previous.source(name) if previous else {}
    if result is not None:
        entry: dict[str, Any] = {
            "status": result.status,
            "lineage": result.lineage,
            "refreshed_at": now.isoformat(),
            "error": None,
            "stats": result.stats,
        }
    else:
        entry = dict(before) if before else {"lineage": {}, "refreshed_at": None, "stats": {}}
        entry.update(status=FAILED if error else CARRIED, error=error)
    refreshed = entry.get("refreshed_at")
    entry["age_seconds"] = (
        int((now - datetime.fromisoformat(refreshed)).total_seconds()) if refreshed else None
    )
    return entry


def assemble(
    previous: Snapshot | None, results: dict[str, SourceResult], snapshot_id: str = ""
) -> dict[str, pa.Table]:
    """New tables of updated sources, previous tables for the rest, then the derived tables."""
    tables: dict[str, pa.Table] = {}
    errors: list[pa.Table] = []
    for name, owned in SOURCE_TABLES.items():
        result = results.get(name)
        if result is not None and result.status == UPDATED:
            tables.update({t: result.tables[t] for t in owned})
            errors.append(result.tables["ingest_errors"])
            continue
        for table_name in owned:
            old = previous.read(table_name) if previous else None
            if old is not None:
                tables[table_name] = old
        old_errors = previous.read("ingest_errors") if previous else None
        if old_errors is not None:
            errors.append(old_errors.filter(pc.equal(old_errors.column("source"), name)))
    tables["ingest_errors"] = contract("ingest_errors").conform(
        pa.concat_tables(errors) if errors else contract("ingest_errors").empty()
    )
    inputs_changed = any(
        results[name].status == UPDATED for name in ("advisories", "pypi") if name in results
    )
    old_affected = previous.read("affected_versions") if previous else None
    if {"advisories", "advisory_packages", "advisory_ranges"} <= set(tables):
        if inputs_changed or old_affected is None:
            started = time.monotonic()
            tables["affected_versions"] = build_affected_versions(
                tables["advisories"],
                tables["advisory_packages"],
                tables["advisory_ranges"],
                release_lists(tables.get("releases")),
            )
            log.info(
                "affected_versions: %d rows in %.2f s",
                tables["affected_versions"].num_rows,
                time.monotonic() - started,
            )
        else:
            tables["affected_versions"] = old_affected
    tables["package_version_security"] = build_package_version_security(tables, snapshot_id)
    tables["changes"] = diff_table(
        previous.read if previous is not None else (lambda _name: None),
        tables.get,
        previous.id if previous is not None else None,
    )
    return tables


def publish(
    store: SnapshotStore,
    previous: Snapshot | None,
    results: dict[str, SourceResult],
    failures: dict[str, str],
    now: datetime,
    run_id: str | None = None,
) -> Snapshot:
    """Assemble and publish a snapshot whose manifest records every source's state (and the
    Airflow run that made it, if any)."""
    snapshot_id = new_snapshot_id(now)
    tables = assemble(previous, results, snapshot_id)
    owners = set(SOURCE_TABLES) | set(previous.manifest.get("sources", {}) if previous else ())
    sources = {
        name: source_entry(name, previous, results.get(name), failures.get(name), now)
        for name in sorted(owners)
    }
    return store.publish(tables, sources, now, previous, snapshot_id, run_id)

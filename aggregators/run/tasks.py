"""The units of work of the Airflow DAGs: one function per task, each a thin wrapper over the
same sources and publish step that ``seckb ingest`` uses.

Tasks exchange data through a staged run (``SECKB_HOME/runs/<run_id>/``), never through XCom:
XCom carries only small summaries and the Bandit batches. Each task reads its settings from the
environment (``SECKB_*``), like the CLI.
"""

from __future__ import annotations

import dataclasses
import logging
import math
from typing import Any

from aggregators.core.clock import utcnow
from aggregators.core.config import Settings, load_settings
from aggregators.core.errors import SourceError, StaleRunError
from aggregators.core.lock import DataRootLock
from aggregators.core.progress import NullProgress
from aggregators.core.workspace import Workspace
from aggregators.run.ingest import ALL_SOURCES, FETCHERS, after_publish, source_updater
from aggregators.sources.base import UPDATED, RunState, SourceResult
from aggregators.store.staged import StagedRun, merge_parts, prune_runs

log = logging.getLogger(__name__)

MAX_BATCHES = 256
"""Upper bound on mapped Bandit tasks per run (Airflow allows 1024 per map)."""


def _context(run_id: str, settings: Settings | None) -> tuple[Settings, Workspace, StagedRun]:
    settings = settings or load_settings()
    workspace = Workspace(settings.home)
    workspace.ensure()
    return settings, workspace, StagedRun(workspace, run_id)


def _state(run: StagedRun, workspace: Workspace, before: str) -> RunState:
    """The run's view for ``before``: the base snapshot plus earlier sources' staged results."""
    from aggregators.store.snapshots import SnapshotStore

    state = RunState(run.base(SnapshotStore(workspace)))
    for name in ALL_SOURCES[: ALL_SOURCES.index(before)]:
        result = run.load(name)
        if result is not None:
            state.results[name] = result
    return state


def summary(result: SourceResult) -> dict[str, Any]:
    """What a task returns (shown in the Airflow UI as its XCom)."""
    return {"source": result.name, "status": result.status, "stats": result.stats}


def run_source(run_id: str, name: str, settings: Settings | None = None) -> dict[str, Any]:
    """Update one source for a run and stage its result; record and re-raise a failure."""
    settings, workspace, run = _context(run_id, settings)
    run.clear(name)
    with DataRootLock(workspace.lock, settings.lock_wait_seconds):
        state = _state(run, workspace, name)
        try:
            if name in FETCHERS:
                state.fetched[name] = FETCHERS[name](settings, workspace)
            result = source_updater(name)(settings, workspace).update(state, NullProgress())
        except SourceError as exc:
            run.save_failure(name, str(exc))
            raise
    run.save(result)
    log.info("%s: %s %s", name, result.status, result.stats)
    return summary(result)


def plan_bandit(run_id: str, settings: Settings | None = None) -> list[list[dict[str, Any]]]:
    """Choose the releases to analyse; stage the analyses carried forward; return the batches
    of new work (at most :data:`MAX_BATCHES`, so one mapped task per batch)."""
    from aggregators.sources.bandit.source import BanditSource
    from aggregators.sources.base import UNCHANGED

    settings, workspace, run = _context(run_id, settings)
    run.clear("bandit")
    source = BanditSource(settings, workspace)
    state = _state(run, workspace, "bandit")
    targets = source.targets(state)
    todo, carried = source.split(state, targets)
    stats = {"targets": len(targets), "carried_forward": len(targets) - len(todo)}
    previous = state.previous.read("bandit_scans") if state.previous else None
    dropped = previous is None or previous.num_rows != carried["bandit_scans"].num_rows
    status = UPDATED if todo or dropped else UNCHANGED
    run.save(SourceResult("bandit", status, source.lineage(), carried, stats), part="carried")
    size = max(1, math.ceil(len(todo) / MAX_BATCHES))
    batches = [
        [dataclasses.asdict(t) for t in todo[i : i + size]] for i in range(0, len(todo), size)
    ]
    run.save_plan("bandit", len(batches), status == UPDATED)
    return batches


def scan_batch(
    run_id: str, index: int, batch: list[dict[str, Any]], settings: Settings | None = None
) -> dict[str, Any]:
    """Analyse one batch of releases and stage it as its own part (no shared file is written)."""
    from aggregators.core.http import client_for
    from aggregators.sources.bandit.analyse import ScanTarget, analyse_releases
    from aggregators.sources.bandit.source import BanditSource

    settings, workspace, run = _context(run_id, settings)
    targets = [ScanTarget(**item) for item in batch]
    result = analyse_releases(settings, workspace, client_for(settings), targets, NullProgress())
    lineage = BanditSource(settings, workspace).lineage()
    part = SourceResult("bandit", UPDATED, lineage, result.tables, result.stats)
    run.save(part, part=f"{index:05d}")
    return summary(part)


def staged_results(run: StagedRun) -> tuple[dict[str, SourceResult], dict[str, str]]:
    """Every source's staged result, and why the others have none."""
    from aggregators.core.contracts import contract
    from aggregators.sources.bandit.analyse import TABLES as BANDIT_TABLES

    results: dict[str, SourceResult] = {}
    failures: dict[str, str] = {}
    for name in ALL_SOURCES:
        if name == "bandit":
            plan = run.plan("bandit")
            parts = run.parts("bandit")
            batches = [p for k, p in parts.items() if k != "carried"]
            if plan is None or "carried" not in parts:
                failures[name] = run.failure(name) or "the Bandit plan did not run"
                continue
            if len(batches) < plan["batches"]:
                failures[name] = (
                    f"{plan['batches'] - len(batches)} of {plan['batches']} Bandit batches "
                    "did not finish; the previous analyses were kept"
                )
                continue
            merged = merge_parts("bandit", [parts["carried"], *batches], list(BANDIT_TABLES))
            merged.tables = {t: contract(t).conform(merged.tables[t]) for t in BANDIT_TABLES}
            merged.tables["ingest_errors"] = contract("ingest_errors").empty()
            results[name] = merged
        elif (result := run.load(name)) is not None:
            results[name] = result
        if name not in results:
            failures[name] = run.failure(name) or "the task did not run or did not finish"
    return results, failures


def publish_run(run_id: str, settings: Settings | None = None) -> dict[str, Any]:
    """Publish what the run staged (failed sources carry forward); idempotent."""
    from aggregators.run import publish
    from aggregators.store.snapshots import Snapshot, SnapshotStore

    settings, workspace, run = _context(run_id, settings)
    results, failures = staged_results(run)
    with DataRootLock(workspace.lock, settings.lock_wait_seconds):
        store = SnapshotStore(workspace)
        store.clean_staging()
        previous = store.latest()
        base = run.base(store)
        ours = previous is not None and previous.manifest.get("run_id") == run_id
        if ours and previous is not None and previous.id not in run.published():
            run.record_published(previous)  # we crashed right after publishing it
        mine = run.published()
        allowed = {base.id if base else None, *mine}
        if previous is not None and previous.id not in allowed:
            raise StaleRunError(
                f"LATEST moved to {previous.id} after run {run_id} started from "
                f"{base.id if base else 'nothing'}: publishing would put older data back; "
                "clear the whole run to recompute it"
            )
        snapshot: Snapshot | None
        if previous is not None and previous.id in mine and not run.dirty():
            snapshot, published = previous, False  # this run already published exactly this
        elif any(r.status == UPDATED for r in results.values()):
            snapshot = publish.publish(store, previous, results, failures, utcnow(), run_id)
            published = True
            run.record_published(snapshot)
        else:
            snapshot, published = previous, False
        pruned = after_publish(workspace, store, settings, snapshot, published)
        if published:
            prune_runs(workspace, settings.keep_snapshots, run)
    return {
        "snapshot_id": snapshot.id if snapshot else None,
        "snapshot_path": str(snapshot.path) if snapshot else None,
        "published": published,
        "failures": failures,
        "pruned": pruned,
    }

"""The steps of a run, one per Airflow task (the DAG's entry to :mod:`.steps`).

Tasks exchange data through a staged run (``runs/<run_id>/`` in the store: the data root,
or the object store the workers share), never through XCom:
XCom carries only small summaries and the batches of a fanned-out source. Each task reads its
settings like the CLI does (defaults, file, ``SECKB_*``) unless given them.
"""

from __future__ import annotations

import logging
import math
from typing import Any

from aggregators.core.clock import utcnow
from aggregators.core.config import Settings, load_settings
from aggregators.core.errors import SourceError, StaleRunError
from aggregators.core.lock import DataRootLock
from aggregators.core.objects import check_store, run_objects
from aggregators.core.progress import HeartbeatProgress
from aggregators.core.workspace import Workspace
from aggregators.run.steps import after_publish, publish_results, state_for, update_source
from aggregators.run.summary import describe, summarize
from aggregators.sources.base import RunState, SourceResult
from aggregators.sources.registry import SOURCES, SourceSpec, source_spec
from aggregators.store.locations import open_store
from aggregators.store.snapshots import Snapshot, SnapshotStore
from aggregators.store.staged import StagedRun, prune_runs

log = logging.getLogger(__name__)

MAX_BATCHES = 256
"""Upper bound on mapped tasks of a fanned-out source per run (Airflow allows 1024 per map)."""
CARRIED = "carried"
"""The part of a fanned-out source that holds what its plan carried forward."""


def _context(run_id: str, settings: Settings | None) -> tuple[Settings, Workspace, StagedRun]:
    settings = settings or load_settings()
    workspace = Workspace(settings.home)
    workspace.ensure()
    check_store(settings)  # an unreachable store fails the task at once, saying why
    return settings, workspace, StagedRun(workspace, run_id, run_objects(settings))


def _state(run: StagedRun, settings: Settings, spec: SourceSpec) -> RunState:
    """The run's view for ``spec``: the base snapshot plus the staged results it reads. The
    first source of a run (one that reads no other) starts the run afresh when it is stale."""
    store = open_store(settings, writing=True)
    if not spec.after:
        run.rebase_if_stale(store)
    loaded = {name: run.load(name) for name in spec.after}
    results = {name: result for name, result in loaded.items() if result is not None}
    return state_for(spec, run.base(store), results)


def heartbeat(settings: Settings) -> HeartbeatProgress:
    """A task's progress in its log: the stages as they start, and a heartbeat line (done/total,
    rate, ETA) every ``heartbeat_seconds`` while one runs."""
    return HeartbeatProgress(log.info, settings.heartbeat_seconds, announce=True)


def batch_label(batch: list[Any], limit: int = 60) -> str:
    """A mapped task's name in the Airflow UI: the packages of its batch (``flask, requests
    +3 more``), instead of an index number."""
    names = list(dict.fromkeys(str(item.get("package", "?")) for item in batch))
    shown: list[str] = []
    for name in names:
        if shown and len(", ".join([*shown, name])) > limit:
            break
        shown.append(name)
    rest = len(names) - len(shown)
    return ", ".join(shown) + (f" +{rest} more" if rest else "") or "empty batch"


def summary(result: SourceResult) -> dict[str, Any]:
    """What a task returns (shown in the Airflow UI as its XCom)."""
    return {"source": result.name, "status": result.status, "stats": result.stats}


def run_source(run_id: str, name: str, settings: Settings | None = None) -> dict[str, Any]:
    """Update one source for a run and stage its result; record and re-raise a failure."""
    settings, workspace, run = _context(run_id, settings)
    spec = source_spec(name)
    run.clear(name)
    with DataRootLock(workspace.lock, settings.lock_wait_seconds):
        try:
            state = _state(run, settings, spec)
            with heartbeat(settings) as progress:
                result = update_source(spec, settings, workspace, state, progress)
        except SourceError as exc:
            run.save_failure(name, str(exc))
            raise
    run.save(result)
    log.info("%s: %s %s", name, result.status, result.stats)
    return summary(result)


def plan_source(run_id: str, name: str, settings: Settings | None = None) -> list[list[Any]]:
    """Plan a fanned-out source: stage what it carries forward and return the batches of new
    work (at most :data:`MAX_BATCHES`, one mapped task each)."""
    settings, workspace, run = _context(run_id, settings)
    spec = source_spec(name)
    run.clear(name)
    with DataRootLock(workspace.lock, settings.lock_wait_seconds):
        plan = spec.load()(settings, workspace).plan(_state(run, settings, spec))
    run.save(plan.carried, part=CARRIED)
    size = max(1, math.ceil(len(plan.work) / MAX_BATCHES))
    batches = [plan.work[i : i + size] for i in range(0, len(plan.work), size)]
    run.save_plan(name, len(batches), bool(plan.work))
    return batches


def run_part(
    run_id: str, name: str, index: int, batch: list[Any], settings: Settings | None = None
) -> dict[str, Any]:
    """Do one batch of a fanned-out source and stage it as its own part (no shared file)."""
    settings, workspace, run = _context(run_id, settings)
    with heartbeat(settings) as progress:
        part = source_spec(name).load()(settings, workspace).part(batch, progress)
    run.save(part, part=f"{index:05d}")
    return summary(part)


def _merged(
    spec: SourceSpec, run: StagedRun, settings: Settings, workspace: Workspace
) -> SourceResult | str:
    """A fanned-out source's merged result, or why it has none."""
    plan = run.plan(spec.name)
    parts = run.parts(spec.name)
    carried = parts.pop(CARRIED, None)
    if plan is None or carried is None:
        return run.failure(spec.name) or f"the {spec.name} plan did not run"
    if len(parts) < plan["batches"]:
        return (
            f"{plan['batches'] - len(parts)} of {plan['batches']} {spec.name} batches did not "
            "finish; the previous results were kept"
        )
    merged: SourceResult = spec.load()(settings, workspace).merge(carried, list(parts.values()))
    return merged


def staged_results(
    run: StagedRun, settings: Settings, workspace: Workspace
) -> tuple[dict[str, SourceResult], dict[str, str]]:
    """Every source's staged result, and why the others have none."""
    results: dict[str, SourceResult] = {}
    failures: dict[str, str] = {}
    for spec in SOURCES:
        found = _merged(spec, run, settings, workspace) if spec.fans_out else run.load(spec.name)
        if isinstance(found, SourceResult):
            results[spec.name] = found
        else:
            failures[spec.name] = (
                found or run.failure(spec.name) or "the task did not run or did not finish"
            )
    return results, failures


def _check_not_stale(run: StagedRun, store: SnapshotStore, previous: Snapshot | None) -> None:
    """Refuse when LATEST is neither the run's recorded base nor one the run published, or
    when the base is gone: publishing would put older data back, or mix two bases."""
    base = run.base_id(store)
    if previous is not None and previous.id not in {base, *run.published()}:
        raise StaleRunError(
            f"LATEST moved to {previous.id} after run {run.run_id} started from "
            f"{base or 'nothing'}: publishing would put older data back; "
            "clear the whole run to recompute it"
        )
    if base is not None and run.dirty():
        run.base(store)  # raises StaleRunError when the base was pruned


def publish_run(run_id: str, settings: Settings | None = None) -> dict[str, Any]:
    """Publish what the run staged (failed sources carry forward); idempotent."""
    settings, workspace, run = _context(run_id, settings)
    results, failures = staged_results(run, settings, workspace)
    with DataRootLock(workspace.lock, settings.lock_wait_seconds):
        store = open_store(settings, writing=True)
        store.clean_staging()
        previous = store.latest()
        ours = previous is not None and previous.manifest.get("run_id") == run_id
        if ours and previous is not None and previous.id not in run.published():
            run.record_published(previous)  # we crashed right after publishing it
        _check_not_stale(run, store, previous)
        snapshot: Snapshot | None = None
        if run.dirty() or previous is None or previous.id not in run.published():
            snapshot = publish_results(store, previous, results, failures, utcnow(), run_id)
        if snapshot is not None:
            run.record_published(snapshot)
            for line in describe(summarize(snapshot, previous)):
                log.info("%s", line)  # the tables it changed, the data problems by kind
        current = snapshot or previous
        pruned = after_publish(workspace, store, settings, current, snapshot is not None)
        if snapshot is not None:
            prune_runs(settings.keep_snapshots, run)
    return {
        "snapshot_id": current.id if current else None,
        "snapshot_path": str(current.path) if current else None,
        "published": snapshot is not None,
        "failures": failures,
        "pruned": pruned,
    }

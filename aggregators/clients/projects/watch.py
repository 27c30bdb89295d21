"""After a publish: re-evaluate the watched projects, record the transitions, notify.

Both entry points call :func:`run_after_publish`: ``seckb ingest`` once its run is over, and the
Airflow task ``projects`` after ``publish`` (whatever ``publish`` did: it also runs on a night
with nothing to publish). It

1. re-evaluates every project against the latest snapshot when something they depend on moved —
   a new snapshot, a project added, changed or removed, a triage decision recorded, or one
   expiring by its date — and otherwise does nothing;
2. writes the evaluation (``project_components``, ``project_findings``, ``project_events``) under
   ``SECKB_HOME/projects/evaluations/`` and points ``seckb.duckdb``'s views at it;
3. puts the run's ``seckb.events/1`` document in the outbox when there are events (a run with
   none sends nothing), then delivers the outbox — this run's document and whatever earlier runs
   could not deliver.

Steps 1-2 hold the data root's lock (no publish moves ``LATEST`` meanwhile) and the project
store's; delivery holds only the outbox's, so a slow receiver never blocks a run.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aggregators.clients.projects.documents import encode, events_document
from aggregators.clients.projects.evaluate import ProjectResult, component_rows, judge
from aggregators.clients.projects.events import Previous, previous_state, transitions
from aggregators.clients.projects.notify import DeliveryReport, Sender, deliver, receivers
from aggregators.clients.projects.triage import Decisions
from aggregators.core.clock import utcnow
from aggregators.core.config import Settings
from aggregators.core.contracts import contract
from aggregators.core.lock import DataRootLock
from aggregators.core.workspace import Workspace
from aggregators.store.locations import open_store
from aggregators.store.outbox import Outbox
from aggregators.store.projects import (
    Evaluation,
    ProjectStore,
    StoredProject,
    digest,
    evaluation_id,
)

if TYPE_CHECKING:
    import pyarrow as pa

    from aggregators.store.snapshots import Snapshot

log = logging.getLogger(__name__)
FILLED = frozenset(
    {"evaluation_id", "snapshot_id", "project", "first_seen_snapshot", "first_seen_at"}
)
"""``project_findings`` columns that do not come from the finding itself."""


@dataclass
class WatchReport:
    """What :func:`run_after_publish` did."""

    reason: str | None = None
    """Why the projects were re-evaluated (``None``: they were not)."""
    evaluation_id: str | None = None
    snapshot_id: str | None = None
    projects: int = 0
    counts: dict[str, int] = field(default_factory=dict)
    """Events per kind."""
    delivery: DeliveryReport | None = None

    @property
    def events(self) -> int:
        """How many events the evaluation found."""
        return sum(self.counts.values())

    def lines(self) -> list[str]:
        """What a person reads after ``seckb ingest`` (nothing when nothing happened)."""
        found = []
        if self.reason is not None:
            counts = ", ".join(f"{n} {k.replace('_', ' ')}" for k, n in self.counts.items())
            found.append(
                f"projects: {self.projects} re-evaluated ({self.reason}): {counts or 'no events'}"
            )
        delivery = self.delivery
        if delivery is not None and (delivery.delivered or delivery.pending):
            found.append(
                f"notifications: {len(delivery.delivered)} delivered, "
                f"{delivery.pending} document(s) left in the outbox"
            )
        return found

    def summary(self) -> dict[str, Any]:
        """A JSON-ready summary (the Airflow task's XCom)."""
        delivery = self.delivery
        return {
            "evaluated": self.reason is not None,
            "reason": self.reason,
            "evaluation_id": self.evaluation_id,
            "snapshot_id": self.snapshot_id,
            "projects": self.projects,
            "events": self.counts,
            "delivered": len(delivery.delivered) if delivery else 0,
            "undelivered": dict(delivery.failed) if delivery else {},
            "outbox_pending": delivery.pending if delivery else 0,
        }


def _state(store: ProjectStore, projects: list[StoredProject]) -> dict[str, Any]:
    """What an evaluation depends on besides the snapshot, per project."""
    return {
        p.name: {
            "digest": p.digest,
            "revision": p.revision,
            "triage": digest(store.decisions(p.name)),
        }
        for p in projects
    }


def why_evaluate(
    latest: Evaluation | None, snapshot: Snapshot | None, state: dict[str, Any], now: datetime
) -> str | None:
    """Why the projects must be evaluated again, or ``None`` when the last evaluation holds."""
    if snapshot is None:
        return None
    if latest is None:
        return "first evaluation" if state else None
    manifest = latest.manifest
    if manifest.get("snapshot_id") != snapshot.id:
        return f"new snapshot {snapshot.id}"
    if manifest.get("projects") != state:
        return "projects or triage decisions changed"
    expiry = manifest.get("next_expiry")
    if expiry and now >= datetime.fromisoformat(expiry):
        return f"a triage decision expired ({expiry[:10]})"
    return None


def _finding_columns(
    results: list[ProjectResult], previous: Previous, ids: tuple[str, str], now: datetime
) -> pa.Table:
    """The ``project_findings`` table (built column by column), first-seen carried from the
    previous evaluation."""
    import pyarrow as pa

    target = contract("project_findings")
    columns: dict[str, list[Any]] = {name: [] for name in target.schema.names}
    copied = [n for n in target.schema.names if n not in FILLED]
    for result in results:
        name = result.project.name
        for finding in result.findings:
            index = previous.find(
                name, (finding["package"], finding["version_canonical"], finding["advisory_id"])
            )
            for column in copied:
                columns[column].append(finding[column])
            columns["project"].append(name)
            seen = (ids[1], now) if index is None else previous.first_seen[index]
            columns["first_seen_snapshot"].append(seen[0])
            columns["first_seen_at"].append(seen[1])
    count = len(columns["project"])
    columns["evaluation_id"], columns["snapshot_id"] = [ids[0]] * count, [ids[1]] * count
    return target.conform(pa.Table.from_pydict(columns, schema=target.schema))


def _tables(
    results: list[ProjectResult],
    previous: Previous,
    events: list[dict[str, Any]],
    ids: tuple[str, str],
    now: datetime,
) -> dict[str, pa.Table]:
    evaluation, snapshot_id = ids
    components = [row for r in results for row in component_rows(r, evaluation, snapshot_id)]
    event_rows = [
        {
            "evaluation_id": evaluation,
            "snapshot_id": snapshot_id,
            "previous_snapshot": previous.snapshot_id,
            "created_at": now,
            **event,
        }
        for event in events
    ]
    return {
        "project_components": contract("project_components").table_from_rows(components),
        "project_findings": _finding_columns(results, previous, ids, now),
        "project_events": contract("project_events").table_from_rows(event_rows),
    }


def evaluate_projects(
    store: ProjectStore, snapshot: Snapshot | None, settings: Settings, now: datetime
) -> tuple[Evaluation | None, WatchReport]:
    """Evaluate every project when :func:`why_evaluate` says so and write the evaluation (its
    events document included; :func:`enqueue_new` puts it in the outbox). Hold the data root's
    lock and the project store's."""
    report = WatchReport(snapshot_id=snapshot.id if snapshot else None)
    projects = store.all()
    state = _state(store, projects)
    latest = store.latest_evaluation()
    decisions = {p.name: Decisions(store.decisions(p.name)) for p in projects}
    expiries = [e for d in decisions.values() if (e := d.next_expiry(now)) is not None]
    report.reason = why_evaluate(latest, snapshot, state, now)
    if report.reason is None or snapshot is None:
        return None, report
    previous = previous_state(latest)
    extra = previous.advisory_ids()
    results, details = judge(snapshot, projects, decisions, now, extra)
    events = transitions(previous, results, details)
    plans = _fix_plans(snapshot, projects, events, settings, now)
    outbox = Outbox(store)
    last = outbox.state()["last_enqueued"]
    sequence = max(latest.sequence if latest else 0, int(last[1:9]) if last else 0) + 1
    report.evaluation_id = evaluation_id(sequence, now.strftime("%Y%m%dT%H%M%SZ"))
    ids = (report.evaluation_id, snapshot.id)
    document = events_document(
        report.evaluation_id, now.isoformat(), snapshot, previous.snapshot_id, events
    )
    if plans:
        document["fixes"] = plans
    manifest = {
        "created_at": now.isoformat(),
        "snapshot_id": snapshot.id,
        "previous_evaluation": latest.id if latest else None,
        "previous_snapshot": previous.snapshot_id,
        "projects": state,
        "next_expiry": min(expiries).isoformat() if expiries else None,
        "reason": report.reason,
        "events": len(events),
    }
    tables = _tables(results, previous, events, ids, now)
    evaluation = store.write_evaluation(
        report.evaluation_id, tables, manifest, encode(document) if events else None
    )
    store.prune_evaluations(settings.keep_snapshots)
    report.projects, report.counts = len(projects), dict(document["counts"])
    return evaluation, report


def _fix_plans(
    snapshot: Snapshot,
    projects: list[StoredProject],
    events: list[dict[str, Any]],
    settings: Settings,
    now: datetime,
) -> dict[str, dict[str, Any]]:
    """The fix plans of the projects with newly affected components, each such event told
    what its component becomes (``fix``: ``{"to"}`` or ``{"to": None, "why"}``)."""
    from aggregators.clients.projects.fixing import project_plans

    affected = {e["project"] for e in events if e["event"] == "newly_affected"}
    if not affected:
        return {}
    plans = project_plans(snapshot, [p for p in projects if p.name in affected], settings, now)
    for event in events:
        plan = plans.get(event["project"])
        if event["event"] != "newly_affected" or plan is None:
            continue
        moved = {c["package"]: c["to"] for c in plan.get("changes", [])}
        held = {u["package"]: f"{u['reason']}: {u['message']}" for u in plan.get("unfixable", [])}
        package = event["package"]
        if package in moved:
            event["fix"] = {"to": moved[package]}
        else:
            event["fix"] = {"to": None, "why": held.get(package) or plan.get("error")}
    return plans


def enqueue_new(store: ProjectStore, settings: Settings) -> None:
    """Put the documents of evaluations not enqueued yet in the outbox (idempotent: also
    repairs a crash between writing an evaluation and enqueueing its document)."""
    outbox = Outbox(store)
    last = outbox.state()["last_enqueued"]
    for evaluation in store.evaluations_kept():
        if last is not None and evaluation.id <= last:
            continue
        body = evaluation.events_document()
        if body is not None:
            outbox.enqueue(evaluation.id, body, deliver=bool(receivers(settings)))


def run_after_publish(
    settings: Settings,
    now: datetime | None = None,
    sender: Sender | None = None,
    deliver_outbox: bool = True,
) -> WatchReport:
    """Re-evaluate the projects if needed, record the events, deliver the outbox."""
    workspace = Workspace(settings.home)
    if not workspace.projects.is_dir():
        return WatchReport()  # nothing was ever watched
    now = now or utcnow()
    store = ProjectStore(workspace)
    with DataRootLock(workspace.lock, settings.lock_wait_seconds):
        snapshot = open_store(settings).latest()  # the data root's, or the store's
        with store.lock():
            store.clean()
            evaluation, report = evaluate_projects(store, snapshot, settings, now)
            enqueue_new(store, settings)
        if evaluation is not None and snapshot is not None:
            from aggregators.store.views import refresh  # DuckDB only when the views change

            refresh(workspace.duckdb, snapshot)
    if evaluation is not None:
        log.info("evaluated %d project(s): %s", report.projects, report.counts or "no events")
    if deliver_outbox:
        report.delivery = deliver(Outbox(store), settings, sender)
    return report

"""What ``seckb project`` and the server's ``/v1/projects`` endpoints do: one implementation.

Writes (add, remove, triage, VEX import) hold the project store's lock; reads judge a project
against a snapshot on the fly with :func:`aggregators.clients.projects.evaluate.judge`, the
function the nightly re-evaluation runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pyarrow.parquet as pq

from aggregators.clients.audit import AuditOptions, mark_failures
from aggregators.clients.projects.documents import project_info
from aggregators.clients.projects.evaluate import ProjectResult, judge
from aggregators.clients.projects.triage import Decision, Decisions, TriageError, make_decision
from aggregators.clients.projects.vex import export_vex, import_vex
from aggregators.core.names import normalize_name
from aggregators.store.outbox import Outbox
from aggregators.store.projects import ProjectError, ProjectStore, StoredProject, check_name

if TYPE_CHECKING:
    from aggregators.store.snapshots import Snapshot

MAX_COMPONENTS = 50_000
"""Most components one project may hold."""


@dataclass
class Added:
    """What ``add`` did."""

    project: StoredProject
    change: str
    """``added``, ``replaced`` or ``unchanged``."""
    imported: list[Decision] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)


def _same(a: Decision, b: Decision) -> bool:
    keys = ("state", "justification", "reason", "until")
    return all(getattr(a, k) == getattr(b, k) for k in keys)


def add_project(
    store: ProjectStore,
    name: str,
    read: tuple[list[dict[str, Any]], list[str], dict[str, Any]],
    version: str | None,
    now: datetime,
    vex: tuple[Any, str, str] | None = None,
) -> Added:
    """Store a project's components (``read``: components, notes, source, as read by
    :mod:`.inputs`); with ``vex`` (document, origin, who), import its decisions too (those equal
    to the decision already in force are skipped, so importing twice changes nothing)."""
    check_name(name)
    components, notes, source = read
    if not any(c.get("package") for c in components):
        raise ProjectError(f"{source.get('path', 'the input')} lists no PyPI package to watch")
    if len(components) > MAX_COMPONENTS:
        raise ProjectError(f"{len(components)} components: at most {MAX_COMPONENTS} per project")
    with store.lock():
        project, change = store.put(name, version, source, components, notes, now.isoformat())
        added = Added(project, change, notes=list(notes))
        if vex is not None:
            document, origin, by = vex
            decisions, vex_notes = import_vex(document, origin, components, by, now)
            trail = Decisions(store.decisions(name))
            fresh = []
            for decision in decisions:
                latest = trail.latest(decision.advisory_id, (), decision.package or "")
                if (
                    latest is None
                    or latest.package != decision.package
                    or not _same(latest, decision)
                ):
                    fresh.append(decision)
            if fresh:
                store.add_decisions(name, [d.to_json() for d in fresh])
            added.imported, added.notes = fresh, added.notes + vex_notes
    return added


def remove_project(store: ProjectStore, name: str) -> bool:
    """Delete a project, its history and its decisions; ``False`` when there was none."""
    check_name(name)
    with store.lock():
        return store.remove(name)


@dataclass(frozen=True)
class AdvisoryRef:
    """An advisory of a snapshot, found by id or alias."""

    id: str
    modified: str | None
    packages: tuple[str, ...]


def find_advisory(snapshot: Snapshot, text: str) -> AdvisoryRef | None:
    """The advisory ``text`` names (its id, or one of its aliases), or ``None``."""
    table = pq.read_table(
        snapshot.table_path("advisories"), columns=["id", "aliases", "modified", "packages"]
    )
    wanted = text.strip().upper()
    rows = table.to_pylist()
    for exact in (True, False):
        for row in rows:
            names = [row["id"]] if exact else row["aliases"]
            if wanted in (n.upper() for n in names):
                modified = row["modified"].isoformat() if row["modified"] else None
                return AdvisoryRef(row["id"], modified, tuple(row["packages"]))
    return None


def record_decision(
    store: ProjectStore,
    name: str,
    snapshot: Snapshot,
    advisory: str,
    fields: Mapping[str, Any],
    by: str,
    now: datetime,
) -> Decision:
    """Record one decision (``fields``: ``package``, ``state``, ``justification``, ``reason``,
    ``until``) about an advisory of ``snapshot`` named by id or alias."""
    project = store.require(check_name(name))
    found = find_advisory(snapshot, advisory)
    if found is None:
        raise TriageError(f"snapshot {snapshot.id} has no advisory {advisory!r}")
    package = normalize_name(fields["package"]) if fields.get("package") else None
    if package is not None and package not in {c["package"] for c in project.components}:
        raise TriageError(f"project {name} has no component named {package}")
    decision = make_decision(
        found.id,
        package,
        fields["state"],
        by=by,
        at=now,
        source=str(fields.get("source") or "cli"),
        justification=fields.get("justification"),
        reason=fields.get("reason"),
        until=fields.get("until"),
        advisory_modified=found.modified,
    )
    with store.lock():
        store.add_decisions(name, [decision.to_json()])
    return decision


def show_project(
    store: ProjectStore,
    name: str,
    snapshot: Snapshot,
    options: AuditOptions,
    now: datetime,
) -> tuple[ProjectResult, int]:
    """A project judged against ``snapshot`` now, and how many entries fail ``options``
    (``--fail-on``, ``--allow-*``) — as ``seckb audit`` counts them."""
    project = store.require(check_name(name))
    decisions = {name: Decisions(store.decisions(name))}
    results, _details = judge(snapshot, [project], decisions, now)
    failing = mark_failures(results[0].rows, options)
    return results[0], failing


def list_projects(store: ProjectStore) -> dict[str, Any]:
    """Every project, with the latest evaluation's counts and the outbox's backlog."""
    latest = store.latest_evaluation()
    counts: dict[str, dict[str, int]] = {}
    if latest is not None:
        table = latest.read("project_findings").select(["project", "suppressed"]).to_pylist()
        for row in table:
            item = counts.setdefault(row["project"], {"findings": 0, "suppressed": 0})
            item["suppressed" if row["suppressed"] else "findings"] += 1
    projects = []
    for project in store.all():
        evaluated = latest is not None and project.name in latest.manifest.get("projects", {})
        entry = project_info(project)
        entry["evaluation"] = (
            {"id": latest.id, "snapshot_id": latest.manifest.get("snapshot_id")}
            | counts.get(project.name, {"findings": 0, "suppressed": 0})
            if evaluated and latest is not None
            else None
        )
        projects.append(entry)
    return {
        "schema": "seckb.projects/1",
        "projects": projects,
        "outbox": {"pending": len(Outbox(store).pending())},
    }


def vex_document(
    store: ProjectStore, name: str, snapshot: Snapshot | None, now: datetime
) -> dict[str, Any]:
    """The CycloneDX VEX document of a project's decisions."""
    project = store.require(check_name(name))
    decisions = Decisions(store.decisions(name))
    named: dict[str, Sequence[str]] = {}
    if snapshot is not None:
        for decision in decisions.current():
            if decision.package is None:
                found = find_advisory(snapshot, decision.advisory_id)
                named[decision.advisory_id] = found.packages if found else ()
    return export_vex(project, decisions, named, now)

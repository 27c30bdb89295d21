"""The JSON documents of watched projects (fields are only ever added, as for the others):

* ``seckb.events/1`` — one run's transitions, POSTed to the webhooks (docs/projects.md);
* ``seckb.project/1`` — a project judged against a snapshot (``seckb project show --json``,
  ``GET /v1/projects/{name}``): the ``seckb.audit/1`` rows with each advisory's details and
  the triage decision in force;
* a short human summary of an events document, for the Apprise channels.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from aggregators.clients.audit import AuditOptions, summary
from aggregators.clients.documents import audit_row, snapshot_info
from aggregators.clients.projects.events import KINDS

if TYPE_CHECKING:
    from aggregators.clients.projects.evaluate import Finding, ProjectResult
    from aggregators.store.projects import StoredProject
    from aggregators.store.snapshots import Snapshot

EVENTS_SCHEMA = "seckb.events/1"
PROJECT_SCHEMA = "seckb.project/1"
SUMMARY_LINES = 20


def events_document(
    evaluation_id: str,
    created_at: str,
    snapshot: Snapshot,
    previous_snapshot: str | None,
    events: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    """The ``seckb.events/1`` document of one evaluation's events."""
    counts = Counter(e["event"] for e in events)
    return {
        "schema": EVENTS_SCHEMA,
        "id": evaluation_id,
        "created_at": created_at,
        "snapshot": snapshot_info(snapshot),
        "previous_snapshot": previous_snapshot,
        "counts": {kind: counts[kind] for kind in KINDS if counts[kind]},
        "projects": sorted({e["project"] for e in events}),
        "events": [{**e, "snapshot_id": snapshot.id} for e in events],
    }


def encode(document: Mapping[str, Any]) -> bytes:
    """The bytes sent (and signed): compact JSON, UTF-8."""
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _line(event: Mapping[str, Any]) -> str:
    kind, where = event["event"], f"{event['project']}:"
    component = f"{event['package']} {event['version']}" if event.get("package") else ""
    if event.get("advisory_id"):
        severity = " ".join(
            str(p) for p in (event.get("severity"), event.get("cvss_score")) if p is not None
        )
        extra = f" ({severity})" if severity else ""
        fixed = f", fixed in {event['fixed_in']}" if event.get("fixed_in") else ""
        verb = {
            "newly_affected": "affected by",
            "malicious": "MALICIOUS, named by",
            "retracted": "retracted:",
        }.get(kind, "no longer affected by")
        return f"{where} {component} {verb} {event['advisory_id']}{extra}{fixed}{_fix(event)}"
    if component:
        return f"{where} {component}: {event['reason']}"
    return f"{where} {kind.replace('_', ' ')}: {event['reason']}"


def _fix(event: Mapping[str, Any]) -> str:
    """`` — fix: upgrade to 2.2.5`` (what the project's fix plan says of this component)."""
    fix = event.get("fix")
    if not isinstance(fix, Mapping):
        return ""
    if fix.get("to"):
        return f" — fix: {event['package']} {fix['to']}"
    return f" — cannot be fixed: {fix.get('why') or 'see seckb project show --fix'}"


def summary_text(document: Mapping[str, Any]) -> tuple[str, str]:
    """A title and a short body for people (chat, e-mail)."""
    counts = document.get("counts", {})
    parts = [f"{n} {kind.replace('_', ' ')}" for kind, n in counts.items()]
    title = f"seckb: {', '.join(parts) or 'no events'} in {len(document['projects'])} project(s)"
    events = document["events"]
    lines = [_line(e) for e in events[:SUMMARY_LINES]]
    if len(events) > SUMMARY_LINES:
        lines.append(f"... and {len(events) - SUMMARY_LINES} more (see project_events)")
    lines.append(f"snapshot {document['snapshot']['id']}")
    return title, "\n".join(lines)


def _advisory(finding: Finding) -> dict[str, Any]:
    decision = finding.decision
    return {
        "id": finding["advisory_id"],
        "aliases": finding["aliases"],
        "summary": finding.get("summary"),
        "severity": finding["severity"],
        "cvss_score": finding["cvss_score"],
        "fixed_in": finding["fixed_in"],
        "suppressed": finding["suppressed"],
        "analysis": None
        if decision is None
        else {**decision.to_json(), "lapsed": finding["lapse"]},
    }


def project_info(project: StoredProject) -> dict[str, Any]:
    """What ``list`` says of a project."""
    return {
        "name": project.name,
        "version": project.version,
        "revision": project.revision,
        "source": project.source,
        "components": len(project.components),
        "added_at": project.added_at,
        "updated_at": project.updated_at,
    }


def project_document(
    result: ProjectResult,
    snapshot: Snapshot,
    options: AuditOptions,
    exit_code: int,
    warnings: Sequence[str],
) -> dict[str, Any]:
    """The ``seckb.project/1`` document (``options``: ``--fail-on`` and the ``--allow-*`` flags)."""
    by_component: dict[tuple[str, str], list[dict[str, Any]]] = {}
    for finding in result.findings:
        key = (finding["package"], finding["version"])
        by_component.setdefault(key, []).append(_advisory(finding))
    components = []
    for row in result.rows:
        entry = audit_row(row)
        entry["findings"] = by_component.get((row.package, row.version or ""), [])
        components.append(entry)
    return {
        "schema": PROJECT_SCHEMA,
        "snapshot": snapshot_info(snapshot),
        "project": project_info(result.project),
        **options.to_json(),
        "exit_code": exit_code,
        "summary": summary(result.rows),
        "components": components,
        "notes": list(result.project.notes),
        "warnings": list(warnings),
    }

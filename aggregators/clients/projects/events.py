"""Transitions between two evaluations of the watched projects (pure, given both).

A finding counts when no decision silences it. Between the previous evaluation and this one:

* ``project_added`` / ``project_changed`` — a project seen for the first time, or whose
  component list (or version label) is not the one evaluated last time;
* ``malicious`` — a new finding whose advisory is a malicious-package record: the component is
  malware, and the event comes first in the run's document (a receiver is told in the run that
  learns it, before any ordinary advisory);
* ``suspect`` — a component that became ``suspect``: a malicious-package record covers its whole
  project, though no record lists this version;
* ``newly_affected`` — a finding that was not there (a new advisory, an advisory that now covers
  the version, a component added) or was silenced by a decision no longer in force;
* ``retracted`` — a finding gone because its advisory was withdrawn or removed from the
  advisory-db;
* ``no_longer_affected`` — a finding gone while its advisory is still active: the advisory no
  longer covers the version, or the component left the project;
* ``bandit_partial`` / ``bandit_high_findings`` — a component's release whose Bandit analysis
  became partial, or that has more high-severity, high-confidence findings than before.

A finding that a new decision silences produces no event: whoever decided knows.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aggregators.core.versions import canonical_version

if TYPE_CHECKING:
    import pyarrow as pa

    from aggregators.clients.projects.evaluate import Details, Finding, ProjectResult
    from aggregators.store.projects import Evaluation

KINDS = (
    "project_added",
    "project_changed",
    "malicious",
    "suspect",
    "newly_affected",
    "retracted",
    "no_longer_affected",
    "bandit_partial",
    "bandit_high_findings",
)
FindingKey = tuple[str, str, str]
"""(package, canonical version, advisory id): a finding within a project."""


@dataclass
class Previous:
    """What the previous evaluation found, kept lean: the findings' keys, whether each was
    silenced and when it was first seen, as plain lists (repeated texts shared); whole rows are
    read from the Arrow table only for the few findings that become events."""

    snapshot_id: str | None = None
    projects: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Project name -> ``{"digest", "revision", ...}`` as evaluated."""
    components: dict[str, dict[tuple[str, str], tuple[str | None, int | None, str]]] = field(
        default_factory=dict
    )
    """Project -> (package, canonical version) -> (Bandit status, high findings, status)."""
    findings: dict[str, dict[FindingKey, int]] = field(default_factory=dict)
    """Project -> finding -> its row in :attr:`table` (silenced findings included)."""
    suppressed: list[bool] = field(default_factory=list)
    first_seen: list[tuple[str, Any]] = field(default_factory=list)
    """(snapshot, time) each finding was first seen in."""
    table: pa.Table | None = None
    """The previous ``project_findings`` table."""

    def find(self, project: str, key: FindingKey) -> int | None:
        """The row of a previous finding, or ``None``."""
        return self.findings.get(project, {}).get(key)

    def row(self, index: int) -> dict[str, Any]:
        """A previous finding as a row."""
        assert self.table is not None
        found: dict[str, Any] = self.table.slice(index, 1).to_pylist()[0]
        return found

    def advisory_ids(self) -> set[str]:
        """Every advisory the previous evaluation found."""
        return {key[2] for found in self.findings.values() for key in found}


_KEPT = (
    "project",
    "package",
    "version_canonical",
    "advisory_id",
    "first_seen_snapshot",
    "first_seen_at",
)


def _values(column: pa.ChunkedArray) -> list[Any]:
    """A column as a list holding one Python object per distinct value (ids repeat a lot)."""
    encoded = column.combine_chunks().dictionary_encode()
    distinct = encoded.dictionary.to_pylist()
    return [distinct[i] for i in encoded.indices.to_pylist()]


def previous_state(evaluation: Evaluation | None) -> Previous:
    """The :class:`Previous` of an evaluation (empty before the first one)."""
    if evaluation is None:
        return Previous()
    found = Previous(evaluation.manifest.get("snapshot_id"), dict(evaluation.manifest["projects"]))
    shared: dict[str, str] = {}  # one object per distinct name
    names = ["project", "package", "version", "bandit_status", "bandit_high_findings", "status"]
    components = evaluation.read("project_components").select(names)
    for project, package, version, bandit, high, status in zip(
        *(components.column(n).to_pylist() for n in names), strict=True
    ):
        key = (shared.setdefault(package, package), canonical_version(version or ""))
        found.components.setdefault(project, {})[key] = (bandit, high, status)
    found.table = evaluation.read("project_findings")
    columns = {name: _values(found.table.column(name)) for name in _KEPT}
    found.suppressed = found.table.column("suppressed").to_pylist()
    found.first_seen = list(
        zip(columns["first_seen_snapshot"], columns["first_seen_at"], strict=True)
    )
    keys = zip(*(columns[c] for c in _KEPT[:4]), strict=True)
    for index, (project, package, version, advisory_id) in enumerate(keys):
        found.findings.setdefault(project, {})[(package, version, advisory_id)] = index
    return found


def _event(kind: str, project: str, reason: str, **fields: Any) -> dict[str, Any]:
    event: dict[str, Any] = {
        "event": kind,
        "project": project,
        "package": None,
        "version": None,
        "advisory_id": None,
        "aliases": [],
        "severity": None,
        "cvss_score": None,
        "fixed_in": None,
        "reason": reason,
    }
    event.update(fields)
    return event


def _finding_event(
    kind: str, project: str, finding: Finding | Mapping[str, Any], reason: str
) -> dict[str, Any]:
    return _event(
        kind,
        project,
        reason,
        package=finding["package"],
        version=finding["version"],
        advisory_id=finding["advisory_id"],
        aliases=list(finding.get("aliases") or []),
        severity=finding.get("severity"),
        cvss_score=finding.get("cvss_score"),
        fixed_in=finding.get("fixed_in"),
    )


def transitions(
    previous: Previous, results: Sequence[ProjectResult], details: Details
) -> list[dict[str, Any]]:
    """Every transition, ordered by project, kind, package, version and advisory."""
    events: list[dict[str, Any]] = []
    for result in results:
        events += _project_events(previous, result)
        events += _new_findings(previous, result, details)
        events += _suspect_events(previous, result)
        events += _gone_findings(previous, result, details)
        events += _bandit_events(previous, result)
    order = {kind: i for i, kind in enumerate(KINDS)}
    return sorted(
        events,
        key=lambda e: (
            e["project"],
            order[e["event"]],
            e["package"] or "",
            canonical_version(e["version"] or ""),
            e["advisory_id"] or "",
        ),
    )


def _project_events(previous: Previous, result: ProjectResult) -> list[dict[str, Any]]:
    project = result.project
    before = previous.projects.get(project.name)
    source = f"{project.source.get('kind', '?')} {project.source.get('path', '')}".strip()
    if before is None:
        reason = f"{len(project.components)} component(s) from {source}"
        return [_event("project_added", project.name, reason)]
    if before.get("digest") == project.digest:
        return []
    old = set(previous.components.get(project.name, {}))
    new = {(c["package"], canonical_version(c.get("version") or "")) for c in project.components}
    reason = (
        f"revision {project.revision}: {len(new - old)} component(s) added, "
        f"{len(old - new)} removed ({source})"
    )
    return [_event("project_changed", project.name, reason)]


def _new_findings(
    previous: Previous, result: ProjectResult, details: Details
) -> list[dict[str, Any]]:
    name = result.project.name
    components = previous.components.get(name, {})
    events = []
    for finding in result.findings:
        if finding["suppressed"]:
            continue
        key = (finding["package"], finding["version_canonical"], finding["advisory_id"])
        before = previous.find(name, key)
        if before is not None and not previous.suppressed[before]:
            continue
        if before is not None:
            reason = finding["lapse"] or "the decision that silenced it was replaced"
        elif (finding["package"], finding["version_canonical"]) not in components:
            reason = "component added to the project"
        else:
            reason = "the advisory now affects this version"
        if details.info.get(finding["advisory_id"], {}).get("malicious"):
            reason = f"a malicious-package record names this release ({reason}): remove it"
            events.append(_finding_event("malicious", name, finding, reason))
        else:
            events.append(_finding_event("newly_affected", name, finding, reason))
    return events


def _suspect_events(previous: Previous, result: ProjectResult) -> list[dict[str, Any]]:
    components = previous.components.get(result.project.name, {})
    events = []
    for row in result.rows:
        key = (row.package, canonical_version(row.version or ""))
        if row.status == "suspect" and components.get(key, (None, None, None))[2] != "suspect":
            where = {"package": row.package, "version": row.version}
            events.append(_event("suspect", result.project.name, row.note or "suspect", **where))
    return events


def _gone_findings(
    previous: Previous, result: ProjectResult, details: Details
) -> list[dict[str, Any]]:
    name = result.project.name
    now = {(f["package"], f["version_canonical"], f["advisory_id"]) for f in result.findings}
    present = {
        (c["package"], canonical_version(c.get("version") or "")) for c in result.project.components
    }
    events = []
    for key, index in previous.findings.get(name, {}).items():
        if key in now or previous.suppressed[index]:
            continue
        info = details.info.get(key[2])
        if info is None:
            kind, reason = "retracted", "the advisory was removed from the advisory-db"
        elif info.get("withdrawn"):
            kind, reason = "retracted", f"the advisory was withdrawn on {info['withdrawn'][:10]}"
        elif (key[0], key[1]) not in present:
            kind, reason = "no_longer_affected", "component no longer in the project"
        else:
            kind, reason = "no_longer_affected", "the advisory no longer covers this version"
        events.append(_finding_event(kind, name, previous.row(index), reason))
    return events


def _bandit_events(previous: Previous, result: ProjectResult) -> list[dict[str, Any]]:
    name = result.project.name
    components = previous.components.get(name, {})
    events = []
    for row in result.rows:
        if not row.version:
            continue
        status, old_high, _ = components.get(
            (row.package, canonical_version(row.version)), (None, 0, None)
        )
        where = {"package": row.package, "version": row.version}
        if row.bandit_status == "partial" and status != "partial":
            reason = f"Bandit analysis became partial (was {status or 'none'})"
            events.append(_event("bandit_partial", name, reason, **where))
        high, old_high = row.bandit_high_findings or 0, old_high or 0
        if high > old_high:
            reason = f"{high} high-severity, high-confidence Bandit finding(s) (was {old_high})"
            events.append(_event("bandit_high_findings", name, reason, **where))
    return events

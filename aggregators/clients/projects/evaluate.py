"""Judge watched projects against a snapshot: ``seckb audit``'s matching, then the triage.

Every project's components go through :func:`aggregators.clients.audit.audit` — the function
``seckb audit`` runs — over one :class:`~aggregators.clients.lookup.KnowledgeBase` opened for the
union of all projects' packages: names PEP 503, versions PEP 440, versions PyPI does not list
judged from the advisories' lists and ranges. There is no second matcher here. What this module
adds is per advisory: its aliases, severity and fixed version (:class:`Details`), and the triage
decision in force (:mod:`.triage`), which may silence it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from aggregators.clients.audit import AuditRow, advisory_scores, audit
from aggregators.clients.evaluation import (
    AdvisoryFacts,
    read_package_advisories,
    read_rows,
    worst_severity,
)
from aggregators.clients.lookup import KnowledgeBase
from aggregators.clients.projects.inputs import to_requirements
from aggregators.clients.projects.triage import Decision, Decisions
from aggregators.core.versions import canonical_version, parse_version

if TYPE_CHECKING:
    from aggregators.store.projects import StoredProject
    from aggregators.store.snapshots import Snapshot


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


@dataclass
class Details:
    """What findings and events say about each advisory, read once per snapshot."""

    info: dict[str, dict[str, Any]] = field(default_factory=dict)
    """Advisory id -> ``aliases``, ``summary``, ``modified``, ``withdrawn`` (ISO text),
    ``cvss_score``, ``cvss_rating``, ``malicious``; absent: the snapshot has no such
    advisory."""
    facts: dict[str, AdvisoryFacts] = field(default_factory=dict)
    fixed: dict[tuple[str, str], list[str]] = field(default_factory=dict)
    """(package, advisory id) -> the valid ECOSYSTEM ``fixed`` versions, in version order."""

    def aliases(self, advisory_id: str) -> list[str]:
        """The advisory's other ids (one list shared by every finding: do not change it)."""
        found: list[str] = self.info.get(advisory_id, {}).get("aliases") or []
        return found

    def fixed_above(self, package: str, advisory_id: str, version: str) -> str | None:
        """The advisory's lowest fixed version above ``version`` (``None``: none)."""
        parsed = parse_version(version)
        for fixed in self.fixed.get((package, advisory_id), ()):
            candidate = parse_version(fixed)
            if parsed is None or (candidate is not None and candidate > parsed):
                return fixed
        return None


def read_details(snapshot: Snapshot, ids: Iterable[str], packages: Iterable[str]) -> Details:
    """The :class:`Details` of advisories ``ids`` and the fixed versions of ``packages``."""
    columns = [
        "id", "aliases", "summary", "modified", "withdrawn", "cvss_score", "cvss_rating",
        "malicious",
    ]  # fmt: skip
    rows = read_rows(snapshot, "advisories", "id", sorted(set(ids)), columns=columns)
    details = Details()
    for row in rows:
        row["modified"], row["withdrawn"] = _iso(row["modified"]), _iso(row["withdrawn"])
        details.info[row["id"]] = row
        details.facts[row["id"]] = AdvisoryFacts(
            row["withdrawn"] is not None,
            row["cvss_score"],
            row["cvss_rating"],
            malicious=bool(row["malicious"]),
        )
    for package, item in read_package_advisories(snapshot, packages).items():
        for advisory_id, versions in item.fixed.items():
            details.fixed[(package, advisory_id)] = versions
    return details


@dataclass(slots=True)
class Finding:
    """One active advisory affecting one component of a project, with the decision on it (and
    why an older decision no longer holds, ``lapse``). Readable as a mapping too
    (``finding["advisory_id"]``), as the table rows it becomes."""

    package: str
    version: str
    version_canonical: str
    advisory_id: str
    aliases: list[str]
    summary: str | None
    severity: str | None
    cvss_score: float | None
    fixed_in: str | None
    analysis_state: str | None
    analysis_justification: str | None
    analysis_until: date | None
    suppressed: bool
    decision: Decision | None
    lapse: str | None

    def __getitem__(self, key: str) -> Any:
        """A field by name."""
        return getattr(self, key)

    def get(self, key: str, default: Any = None) -> Any:
        """A field by name, or ``default``."""
        return getattr(self, key, default)


@dataclass
class ProjectResult:
    """One project judged: its audit rows (after triage) and one finding per advisory."""

    project: StoredProject
    rows: list[AuditRow]
    findings: list[Finding]
    suppressed: dict[int, list[str]] = field(default_factory=dict)
    """Row index -> the advisories silenced by a decision."""


def judge(
    snapshot: Snapshot,
    projects: Sequence[StoredProject],
    decisions: Mapping[str, Decisions],
    now: datetime,
    extra_ids: Iterable[str] = (),
) -> tuple[list[ProjectResult], Details]:
    """Judge every project; ``extra_ids``: advisories to read details of besides the ones
    found (those of the previous evaluation's findings, to tell a withdrawal)."""
    packages = {c["package"] for p in projects for c in p.components if c.get("package")}
    kb = KnowledgeBase(snapshot, packages)
    # every version once, in one pass: the advisories of all packages are read together, and
    # each project's audit below finds its verdicts memoized
    kb.lookup_many(
        {
            (c["package"], c["version"])
            for p in projects
            for c in p.components
            if c.get("package") and c.get("version")
        }
    )
    scores = advisory_scores(snapshot)
    audited = [audit(to_requirements(p.components), kb, scores) for p in projects]
    ids = {a for rows in audited for row in rows for a in row.advisories}
    vulnerable = {row.package for rows in audited for row in rows if row.advisories}
    details = read_details(snapshot, ids | set(extra_ids), vulnerable)
    results = []
    for project, rows in zip(projects, audited, strict=True):
        found = decisions.get(project.name) or Decisions([])
        results.append(_triaged(project, rows, details, found, now))
    return results, details


def _triaged(
    project: StoredProject,
    rows: list[AuditRow],
    details: Details,
    decisions: Decisions,
    now: datetime,
) -> ProjectResult:
    """Findings of one project, with the decision in force; silence what it silences."""
    result = ProjectResult(project, rows, [])
    seen: set[tuple[str, str, str]] = set()
    for index, row in enumerate(rows):
        silenced = []
        for advisory_id in row.advisories:
            finding = _finding(row, advisory_id, details, decisions, now)
            if finding.suppressed:
                silenced.append(advisory_id)
            key = (row.package, finding.version_canonical, advisory_id)
            if key not in seen:
                seen.add(key)
                result.findings.append(finding)
        if silenced:
            result.suppressed[index] = silenced
            _silence(row, silenced, details)
    return result


def _finding(
    row: AuditRow, advisory_id: str, details: Details, decisions: Decisions, now: datetime
) -> Finding:
    """The finding of ``advisory_id`` on ``row``'s component."""
    version = row.version or ""
    info = details.info.get(advisory_id, {})
    decision = decisions.latest(advisory_id, details.aliases(advisory_id), row.package)
    lapse = decision.lapse(now, info.get("modified")) if decision else None
    in_force = decision if decision is not None and lapse is None else None
    return Finding(
        package=row.package,
        version=version,
        version_canonical=canonical_version(version),
        advisory_id=advisory_id,
        aliases=details.aliases(advisory_id),
        summary=info.get("summary"),
        severity=info.get("cvss_rating"),
        cvss_score=info.get("cvss_score"),
        fixed_in=details.fixed_above(row.package, advisory_id, version),
        analysis_state=in_force.state if in_force else None,
        analysis_justification=in_force.justification if in_force else None,
        analysis_until=in_force.until if in_force else None,
        suppressed=bool(in_force and in_force.silences),
        decision=decision,
        lapse=lapse,
    )


def _silence(row: AuditRow, silenced: Sequence[str], details: Details) -> None:
    """Take the silenced advisories out of ``row``; it is no longer vulnerable without any."""
    keep = [a for a in row.advisories if a not in silenced]
    row.advisories = keep
    row.unscored_advisories = [a for a in row.unscored_advisories if a in keep]
    row.max_cvss_score, row.max_cvss_rating = worst_severity(keep, details.facts)
    note = f"triaged not affected: {', '.join(silenced)}"
    if not keep and row.status == "vulnerable":
        unknown = "unknown_version" if row.listed is False else "unknown_package"
        row.status = "ok" if row.listed else unknown
    row.note = f"{row.note}; {note}" if row.note else note


def component_rows(
    result: ProjectResult, evaluation_id: str, snapshot_id: str
) -> list[dict[str, Any]]:
    """The ``project_components`` rows of one project."""
    return [
        {
            "evaluation_id": evaluation_id,
            "snapshot_id": snapshot_id,
            "project": result.project.name,
            "project_revision": result.project.revision,
            "package": row.package,
            "version": row.version,
            "where": row.where,
            "status": row.status,
            "listed": row.listed,
            "advisory_ids": list(row.advisories),
            "suppressed_advisory_ids": result.suppressed.get(index, []),
            "max_cvss_score": row.max_cvss_score,
            "max_cvss_rating": row.max_cvss_rating,
            "fixed_in": row.fixed_in,
            "bandit_status": row.bandit_status,
            "bandit_high_findings": row.bandit_high_findings,
            "scorecard_score": row.scorecard_score,
            "note": row.note,
        }
        for index, row in enumerate(result.rows)
    ]

"""``seckb query``: which advisories affect a package (at a version), from a snapshot.

Affected status is evaluated from the advisory's ranges and explicit list, for any version
asked (:mod:`aggregators.clients.evaluation`, the rule the lookup API and ``audit`` share), so a
version that no release list knows (a local build, a post-release) is still judged exactly as
``affected_versions`` judges known ones. A version query also reports the Bandit analysis of
that release (:func:`bandit_analysis`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pyarrow.compute as pc
import pyarrow.parquet as pq

from aggregators.clients.checks import Checks
from aggregators.clients.documents import QUERY_SCHEMA, query_document, snapshot_info
from aggregators.clients.evaluation import read_package_advisories, read_rows
from aggregators.core.names import normalize_name, repository_key
from aggregators.core.versions import canonical_version, parse_version
from aggregators.knowledge.security import NOT_ANALYSED
from aggregators.knowledge.signals import Signal, release_signals
from aggregators.knowledge.typosquat import Suspicion
from aggregators.store.snapshots import Snapshot

JSON_SCHEMA = QUERY_SCHEMA
SECURITY = "package_version_security"
RISK_ORDER = {"Critical": 4, "High": 3, "Medium": 2, "Low": 1}
"""Scorecard check risks, riskiest first (the ``risk`` column of ``scorecard_checks``)."""


@dataclass
class Match:
    """One advisory that names the package, with how it affects the asked version."""

    id: str
    aliases: list[str]
    summary: str | None
    published: str | None
    modified: str | None
    withdrawn: str | None
    severity: dict[str, Any] | None
    fixed_versions: list[str]
    affected_by: str | None
    affected_versions: int
    references: list[str]
    malicious: bool = False
    origin: str = "pypa"
    merged_into: str | None = None
    severity_from: str | None = None


@dataclass
class QueryResult:
    """The answer to ``seckb query``; :meth:`to_json` is the documented, stable JSON document."""

    snapshot: dict[str, Any]
    package: str
    version: str | None
    version_is_pep440: bool | None
    known_package: bool
    advisories: list[Match] = field(default_factory=list)
    repository: dict[str, Any] | None = None
    bandit: dict[str, Any] | None = None
    """For a version query: the Bandit analysis of that PyPI release (:func:`bandit_analysis`);
    ``None`` without a version or when the snapshot lists no such release."""
    malicious: bool | None = None
    """For a version query: a malicious-package record affects it."""
    malicious_project: bool = False
    """A malicious-package record covers the whole project."""
    suspicion: Suspicion | None = None
    names_checked: bool = False
    """Whether the snapshot could judge the name (it has ``package_popularity``)."""
    signals: list[Signal] = field(default_factory=list)
    """For a version query of a listed release: its new-release signals."""

    @property
    def suspect(self) -> bool | None:
        """For a version query: a version of a malicious project no record lists."""
        if self.version is None:
            return None
        return self.malicious_project and not self.malicious

    @property
    def vulnerable(self) -> bool | None:
        """For a version query: whether any active advisory affects it; else ``None``."""
        if self.version is None:
            return None
        return any(m.affected_by and not m.withdrawn for m in self.advisories)

    def to_json(self) -> dict[str, Any]:
        """The ``seckb.query/1`` document (built by :mod:`aggregators.clients.documents`)."""
        return query_document(self)


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def query(
    snapshot: Snapshot,
    package: str,
    version: str | None = None,
    include_withdrawn: bool = False,
    checks: Checks | None = None,
) -> QueryResult:
    """Advisories naming ``package`` in ``snapshot``; with ``version``, those affecting it;
    and what the knowledge base says of it (malicious, suspect, its name, its signals)."""
    name = normalize_name(package.strip())
    result = QueryResult(
        snapshot=snapshot_info(snapshot),
        package=name,
        version=version,
        version_is_pep440=None if version is None else parse_version(version) is not None,
        known_package=False,
    )
    result.repository = repository_health(snapshot, name)
    if version is not None:
        result.bandit = bandit_analysis(snapshot, name, version)
    _knowledge(snapshot, result, checks or Checks())
    named = read_package_advisories(snapshot, [name]).get(name)
    if named is None:
        return result
    result.known_package = True
    advisories = {row["id"]: row for row in read_rows(snapshot, "advisories", "id", named.ids)}
    counts = _affected_counts(snapshot, name)
    for adv_id in named.ids:
        adv = advisories.get(adv_id)
        if adv is None or (adv["withdrawn"] is not None and not include_withdrawn):
            continue
        how = None
        if version is not None:
            how = named.affected_by(adv_id, version)
            if how is None:
                continue
        match = _match(adv, how, counts.get(adv_id, 0))
        match.fixed_versions = list(named.fixed.get(adv_id, ()))
        result.advisories.append(match)
    result.advisories.sort(key=lambda m: (-_score(m), m.id))
    return result


def _knowledge(snapshot: Snapshot, result: QueryResult, checks: Checks) -> None:
    """Fill the verdicts the knowledge base gives: malicious, suspect, name, signals."""
    if SECURITY not in snapshot.tables:
        return
    from aggregators.clients.lookup import KnowledgeBase

    kb = KnowledgeBase(snapshot, [result.package])
    result.names_checked = kb.popularity.known
    result.suspicion = kb.popularity.check(result.package, checks.names)
    result.malicious_project = kb.is_malicious_project(result.package)
    if result.version is None:
        return
    found = kb.lookup(result.package, result.version)
    result.malicious = bool(found and found.malicious)
    if found is not None and found.listed:
        result.signals = release_signals(
            found.first_upload, found.days_since_previous, checks.at(), checks.signals
        )


def _affected_counts(snapshot: Snapshot, package: str) -> dict[str, int]:
    """Rows of ``affected_versions`` per advisory of ``package``."""
    affected = pq.read_table(
        snapshot.table_path("affected_versions"),
        columns=["advisory_id"],
        filters=[("package", "=", package)],
    )
    tallies = pc.value_counts(affected.column("advisory_id"))
    return dict(
        zip(tallies.field("values").to_pylist(), tallies.field("counts").to_pylist(), strict=True)
    )


def _match(adv: dict[str, Any], how: str | None, affected_versions: int) -> Match:
    """An ``advisories`` row as a :class:`Match` (``fixed_versions`` left empty)."""
    severity = None
    if adv["severity_type"]:
        severity = {
            "type": adv["severity_type"],
            "vector": adv["severity_vector"],
            "score": adv["cvss_score"],
            "rating": adv["cvss_rating"],
        }
    return Match(
        id=adv["id"],
        aliases=list(adv["aliases"]),
        summary=adv["summary"],
        published=_iso(adv["published"]),
        modified=_iso(adv["modified"]),
        withdrawn=_iso(adv["withdrawn"]),
        severity=severity,
        fixed_versions=[],
        affected_by=how,
        affected_versions=int(affected_versions),
        references=[ref["url"] for ref in adv["references"]],
        malicious=bool(adv.get("malicious")),
        origin=adv.get("origin") or "pypa",
        merged_into=adv.get("merged_into"),
        severity_from=adv.get("severity_from"),
    )


def bandit_analysis(snapshot: Snapshot, package: str, version: str) -> dict[str, Any] | None:
    """The Bandit analysis of the PyPI release ``version`` (matched by PEP 440 equality):
    ``{"status", "reason", "files_analysed", "files_skipped", "high_findings"}`` from
    ``package_version_security`` and that release's ``bandit_scans`` row.

    ``status`` is ``not_analysed`` (other fields null) for a listed release nobody analysed;
    ``partial`` means some Python files were not analysed, so ``high_findings`` is a lower
    bound. ``None`` when the snapshot lists no such release: nothing was analysed.
    """
    canonical = canonical_version(version)
    columns = ["version_canonical", "bandit_status", "bandit_high_findings"]
    releases = [
        row
        for row in read_rows(snapshot, SECURITY, "package", [package], columns)
        if row["version_canonical"] == canonical
    ]
    if not releases:
        return None
    release = releases[0]
    analysis: dict[str, Any] = {
        "status": release["bandit_status"],
        "reason": None,
        "files_analysed": None,
        "files_skipped": None,
        "high_findings": release["bandit_high_findings"],
    }
    if release["bandit_status"] == NOT_ANALYSED:
        return analysis
    scans = [
        row
        for row in read_rows(snapshot, "bandit_scans", "package", [package])
        if canonical_version(row["version"]) == canonical
    ]
    if scans:
        scan = scans[0]
        analysis.update(
            reason=scan.get("reason"),
            files_analysed=scan.get("files_analysed"),  # absent from bandit_scans v1
            files_skipped=scan.get("files_skipped"),
        )
    return analysis


def repository_health(snapshot: Snapshot, package: str) -> dict[str, Any] | None:
    """The package's source repository with its Scorecard score and weakest checks, if known."""
    if "packages" not in snapshot.tables:
        return None
    rows = read_rows(snapshot, "packages", "package", [package])
    url = rows[0]["repository_url"] if rows else None
    if not url:
        return None
    health: dict[str, Any] = {
        "url": url,
        "status": None,
        "score": None,
        "result_date": None,
        "stale": None,
        "weakest_checks": [],
    }
    key = repository_key(url)
    if key is None or "scorecards" not in snapshot.tables:
        return health
    cards = read_rows(snapshot, "scorecards", "repository", [key])
    if cards:
        card = cards[0]
        health.update(
            status=card["status"],
            score=card["score"],
            result_date=_iso(card["result_date"]),
            stale=card["stale"],
        )
        checks = read_rows(snapshot, "scorecard_checks", "repository", [key])
        health["weakest_checks"] = [
            {"check": c["check"], "score": c["score"], "risk": c["risk"], "reason": c["reason"]}
            for c in weakest(checks)
        ]
    return health


def _score(match: Match) -> float:
    score = (match.severity or {}).get("score")
    return float(score) if score is not None else -1.0


def weakest(checks: list[dict[str, Any]], count: int = 3) -> list[dict[str, Any]]:
    """The lowest-scored conclusive checks, the riskier first among equal scores."""
    scored = [c for c in checks if c["score"] is not None]
    return sorted(
        scored, key=lambda c: (c["score"], -RISK_ORDER.get(c["risk"] or "", 0), c["check"])
    )[:count]

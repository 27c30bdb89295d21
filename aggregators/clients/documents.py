"""The stable JSON documents of the clients, built in one place.

``seckb.query/1``, ``seckb.audit/1``, ``seckb.recommend/1`` and ``seckb.diff/1`` are read by
resolvers and CI gates: their fields are only ever added, never removed or renamed (the manual,
docs/, documents each). Every command and client builds its document here.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import asdict
from typing import TYPE_CHECKING, Any

from aggregators.clients.audit import AuditOptions, summary
from aggregators.clients.diff import group_changes

if TYPE_CHECKING:
    from aggregators.clients.audit import AuditRow
    from aggregators.clients.lookup import Recommendation, VersionSecurity
    from aggregators.clients.query import QueryResult
    from aggregators.knowledge.typosquat import Suspicion
    from aggregators.store.snapshots import Snapshot

QUERY_SCHEMA = "seckb.query/1"
AUDIT_SCHEMA = "seckb.audit/1"
RECOMMEND_SCHEMA = "seckb.recommend/1"
DIFF_SCHEMA = "seckb.diff/1"


def snapshot_info(snapshot: Snapshot) -> dict[str, Any]:
    """``{"id", "created_at", "advisory_db_commit"}``: which snapshot a document was read from."""
    lineage = snapshot.source("advisories").get("lineage", {})
    return {
        "id": snapshot.id,
        "created_at": snapshot.manifest.get("created_at"),
        "advisory_db_commit": lineage.get("commit"),
    }


def query_document(result: QueryResult) -> dict[str, Any]:
    """The ``seckb.query/1`` document of a :class:`~aggregators.clients.query.QueryResult`."""
    return {
        "schema": QUERY_SCHEMA,
        "snapshot": result.snapshot,
        "package": result.package,
        "version": result.version,
        "version_is_pep440": result.version_is_pep440,
        "known_package": result.known_package,
        "vulnerable": result.vulnerable,
        "advisories": [asdict(m) for m in result.advisories],
        "repository": result.repository,
        "bandit": result.bandit,
        "malicious": result.malicious,
        "suspect": result.suspect,
        "malicious_project": result.malicious_project,
        "names_checked": result.names_checked,
        "suspicion": suspicion_json(result.suspicion),
        "signals": [signal.to_json() for signal in result.signals],
    }


def audit_row(row: AuditRow) -> dict[str, Any]:
    """One entry of ``packages`` in the ``seckb.audit/1`` document."""
    return {
        "package": row.package,
        "version": row.version,
        "where": row.where,
        "status": row.status,
        "advisories": row.advisories,
        "unscored_advisories": row.unscored_advisories,
        "max_cvss_score": row.max_cvss_score,
        "max_cvss_rating": row.max_cvss_rating,
        "fixed_in": row.fixed_in,
        "fixed_in_from": row.fixed_in_from,
        "yanked": row.yanked,
        "bandit_status": row.bandit_status,
        "bandit_high_findings": row.bandit_high_findings,
        "scorecard_score": row.scorecard_score,
        "listed": row.listed,
        "marker": row.marker,
        "note": row.note,
        "suspicion": suspicion_json(row.suspicion),
        "signals": [signal.to_json() for signal in row.signals],
        "fails": row.fails,
    }


def suspicion_json(suspicion: Suspicion | None) -> dict[str, Any] | None:
    """A suspicious name as the documents show it (``None``: none)."""
    if suspicion is None:
        return None
    return {
        "resembles": suspicion.resembles,
        "rule": suspicion.rule,
        "detail": suspicion.detail,
        "resembles_rank": suspicion.resembles_rank,
        "rank": suspicion.rank,
        "message": suspicion.message(),
    }


def audit_document(
    snapshot: Snapshot,
    source: Mapping[str, Any],
    rows: Sequence[AuditRow],
    notes: Sequence[str],
    warnings: Sequence[str],
    options: AuditOptions,
    exit_code: int,
) -> dict[str, Any]:
    """The ``seckb.audit/1`` document."""
    return {
        "schema": AUDIT_SCHEMA,
        "snapshot": snapshot_info(snapshot),
        "source": dict(source),
        **options.to_json(),
        "exit_code": exit_code,
        "summary": summary(rows),
        "packages": [audit_row(row) for row in rows],
        "notes": list(notes),
        "warnings": list(warnings),
    }


def recommend_document(
    snapshot: Snapshot,
    recommendation: Recommendation,
    *,
    prereleases: bool,
    known_package: bool,
    release: VersionSecurity | None,
    warnings: Sequence[str],
) -> dict[str, Any]:
    """The ``seckb.recommend/1`` document (``release``: what the snapshot knows of the version
    recommended, ``None`` when none qualifies)."""
    return {
        "schema": RECOMMEND_SCHEMA,
        "snapshot": snapshot_info(snapshot),
        "package": recommendation.package,
        "specifier": recommendation.specifier,
        "prereleases": prereleases,
        "known_package": known_package,
        "version": recommendation.version,
        "release": release.to_json() if release else None,
        "skipped": [{"version": v, "reason": r} for v, r in recommendation.skipped],
        "warnings": list(warnings),
    }


def diff_document(
    old: Snapshot, new: Snapshot, rows: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """The ``seckb.diff/1`` document of the ``changes`` rows between two snapshots."""
    return {
        "schema": DIFF_SCHEMA,
        "old": snapshot_info(old),
        "new": snapshot_info(new),
        "counts": {kind: len(items) for kind, items in group_changes(rows).items()},
        "changes": [{k: v for k, v in row.items() if k != "previous_snapshot"} for row in rows],
    }

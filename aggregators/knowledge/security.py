"""``package_version_security``: one row per (package, version), joining every source (pure).

Inputs are the snapshot's tables; the output is what resolvers read. ``version_rank`` orders a
package's releases the way a reader expects "newest" to work: PEP 440 versions in PEP 440
order, and each release whose version is not PEP 440 (``0.7.4.svn.r2010``) just after the
greatest PEP 440 version uploaded before it (those without an upload time come last), so the
greatest rank is the newest PEP 440 release unless something was uploaded after it.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from aggregators.core.contracts import contract
from aggregators.core.names import repository_key
from aggregators.core.versions import parse_version, version_sort_key
from aggregators.knowledge.affected import Entry, collect_entries
from aggregators.knowledge.malicious import covers_whole_project

NOT_ANALYSED = "not_analysed"
ANALYSED = frozenset({"scanned", "partial"})
"""Bandit statuses whose finding counts mean something (a lower bound when partial)."""


def _active_affected(
    affected: pa.Table | None, merged: dict[str, str]
) -> dict[tuple[str, str], list[str]]:
    """(package, canonical version) -> the active advisories affecting it, a merged record
    counted through the one it merges into."""
    if affected is None:
        return {}
    active = affected.filter(pc.invert(affected.column("withdrawn")))
    found: dict[tuple[str, str], list[str]] = defaultdict(list)
    for package, canonical, advisory in zip(
        active.column("package").to_pylist(),
        active.column("version_canonical").to_pylist(),
        active.column("advisory_id").to_pylist(),
        strict=True,
    ):
        found[(package, canonical)].append(merged.get(advisory, advisory))
    return found


def _malicious_projects(
    tables: dict[str, pa.Table], malicious: set[str], releases: dict[str, list[dict[str, Any]]]
) -> set[str]:
    """The packages an active malicious record covers whole (:mod:`.malicious`)."""
    packages, ranges = tables.get("advisory_packages"), tables.get("advisory_ranges")
    if not malicious or packages is None or ranges is None:
        return set()
    wanted = pa.array(sorted(malicious), pa.string())
    entries = collect_entries(
        packages.filter(pc.is_in(packages.column("advisory_id"), wanted)).to_pylist(),
        ranges.filter(pc.is_in(ranges.column("advisory_id"), wanted)).to_pylist(),
    )
    published = {
        row["id"]: row["published"]
        for row in tables["advisories"].select(["id", "published"]).to_pylist()
    }
    popularity = tables.get("package_popularity")
    popular = set(popularity.column("package").to_pylist()) if popularity is not None else set()
    grouped: dict[tuple[str, str], list[Entry]] = defaultdict(list)
    for entry in entries:
        grouped[(entry.advisory_id, entry.package)].append(entry)
    return {
        package
        for (advisory_id, package), group in grouped.items()
        if covers_whole_project(
            group,
            published.get(advisory_id),
            [(r["version"], r["upload_time"]) for r in releases.get(package, ())],
            package in popular,
        )
    }


def _bandit(
    scans: pa.Table | None, findings: pa.Table | None
) -> tuple[dict[tuple[str, str], str], dict[tuple[str, str], int]]:
    status: dict[tuple[str, str], str] = {}
    high: dict[tuple[str, str], int] = defaultdict(int)
    if scans is not None:
        for row in scans.select(["package", "version", "status"]).to_pylist():
            status[(row["package"], row["version"])] = row["status"]
    if findings is not None:
        mask = pc.and_(
            pc.and_(
                pc.equal(findings.column("severity"), "HIGH"),
                pc.equal(findings.column("confidence"), "HIGH"),
            ),
            pc.not_equal(findings.column("path_class"), "tests"),
        )
        for row in findings.filter(mask).select(["package", "version"]).to_pylist():
            high[(row["package"], row["version"])] += 1
    return status, high


def _scorecards(
    packages: pa.Table | None, cards: pa.Table | None
) -> dict[str, tuple[float | None, Any]]:
    if packages is None or cards is None:
        return {}
    by_repo = {
        row["repository"]: (row["score"], row["result_date"])
        for row in cards.select(["repository", "score", "result_date"]).to_pylist()
    }
    found: dict[str, tuple[float | None, Any]] = {}
    for row in packages.select(["package", "repository_url"]).to_pylist():
        key = repository_key(row["repository_url"])
        if key in by_repo:
            found[row["package"]] = by_repo[key]
    return found


def release_order(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """A package's releases in ``version_rank`` order (see the module's docstring)."""
    pep = sorted(
        (r for r in rows if parse_version(r["version"]) is not None),
        key=lambda r: version_sort_key(r["version"]),
    )
    others = sorted(
        (r for r in rows if parse_version(r["version"]) is None),
        key=lambda r: (r["upload_time"] is None, r["upload_time"] or 0, r["version"]),
    )
    after: dict[int, list[dict[str, Any]]] = defaultdict(list)  # PEP 440 index -> others
    for row in others:
        uploaded = row["upload_time"]
        anchor = len(pep) - 1  # no upload time: after everything
        if uploaded is not None:
            earlier = [
                i for i, r in enumerate(pep) if r["upload_time"] and r["upload_time"] <= uploaded
            ]
            anchor = max(earlier, default=-1)
        after[anchor].append(row)
    ordered = list(after[-1])
    for index, row in enumerate(pep):
        ordered.append(row)
        ordered.extend(after[index])
    return ordered


def _advisory_facts(
    advisories: pa.Table | None,
) -> tuple[dict[str, tuple[float | None, str | None]], dict[str, str], set[str]]:
    """Each advisory's (score, rating), the merged ones' primaries, the active malicious ids."""
    scores: dict[str, tuple[float | None, str | None]] = {}
    merged: dict[str, str] = {}
    malicious: set[str] = set()
    if advisories is None:
        return scores, merged, malicious
    for row in advisories.select(
        ["id", "cvss_score", "cvss_rating", "merged_into", "malicious", "withdrawn"]
    ).to_pylist():
        scores[row["id"]] = (row["cvss_score"], row["cvss_rating"])
        if row["merged_into"] is not None:
            merged[row["id"]] = row["merged_into"]
        if row["malicious"] and row["withdrawn"] is None:
            malicious.add(row["id"])
    return scores, merged, malicious


def upload_gaps(rows: list[dict[str, Any]]) -> dict[str, float]:
    """Version -> days since the upload before it (by upload time), for a package's releases."""
    uploaded = sorted((r["upload_time"], r["version"]) for r in rows if r["upload_time"])
    return {
        version: (when - before).total_seconds() / 86400
        for (before, _v), (when, version) in itertools.pairwise(uploaded)
    }


def _fixed_versions(
    versions: list[dict[str, Any]], ids: list[list[str]], malicious_project: bool
) -> list[str | None]:
    """For each affected release (in rank order), the lowest later clean final release; scanned
    from the newest. No release of a malicious project is clean (each is suspect)."""
    fixed: list[str | None] = [None] * len(versions)
    best: str | None = None
    for i in range(len(versions) - 1, -1, -1):
        fixed[i] = best if ids[i] else None
        release = versions[i]
        clean = not ids[i] and not malicious_project
        if clean and not release["yanked"] and release["is_prerelease"] is False:
            best = release["version"]
    return fixed


def build_package_version_security(tables: dict[str, pa.Table], snapshot_id: str) -> pa.Table:
    """The knowledge table from a snapshot's tables (empty without a ``releases`` table)."""
    schema = contract("package_version_security")
    releases = tables.get("releases")
    if releases is None:
        return schema.empty()
    scores, merged, malicious = _advisory_facts(tables.get("advisories"))
    affected = _active_affected(tables.get("affected_versions"), merged)
    status, high = _bandit(tables.get("bandit_scans"), tables.get("bandit_findings"))
    cards = _scorecards(tables.get("packages"), tables.get("scorecards"))

    by_package: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in releases.select(
        ["package", "version", "version_canonical", "is_prerelease", "yanked", "upload_time"]
    ).to_pylist():
        by_package[row["package"]].append(row)
    whole = _malicious_projects(tables, malicious, by_package)

    rows: list[dict[str, Any]] = []
    for package, versions in by_package.items():
        versions = release_order(versions)
        ids = [sorted(set(affected.get((package, r["version_canonical"]), ()))) for r in versions]
        fixed = _fixed_versions(versions, ids, package in whole)
        score, date = cards.get(package, (None, None))
        gaps = upload_gaps(versions)
        first = min((r["upload_time"] for r in versions if r["upload_time"]), default=None)
        for rank, (release, advisory_ids) in enumerate(zip(versions, ids, strict=True)):
            rated = [scores[a] for a in advisory_ids if scores.get(a, (None, None))[0] is not None]
            top = max(rated, key=lambda s: s[0]) if rated else (None, None)  # type: ignore[arg-type,return-value]
            bandit_status = status.get((package, release["version"]), NOT_ANALYSED)
            rows.append(
                {
                    **release,
                    "version_rank": rank,
                    "advisory_ids": advisory_ids,
                    "advisory_count": len(advisory_ids),
                    "malicious": any(a in malicious for a in advisory_ids),
                    "malicious_project": package in whole,
                    "max_cvss_score": top[0],
                    "max_cvss_rating": top[1],
                    "fixed_in": fixed[rank],
                    "first_upload": first,
                    "days_since_previous": gaps.get(release["version"]),
                    "bandit_status": bandit_status,
                    "bandit_high_findings": (
                        high.get((package, release["version"]), 0)
                        if bandit_status in ANALYSED
                        else None
                    ),
                    "scorecard_score": score,
                    "scorecard_date": date,
                    "snapshot_id": snapshot_id,
                }
            )
    return schema.table_from_rows(rows)

"""``package_version_security``: one row per (package, version), joining every source (pure).

Inputs are the snapshot's tables; the output is what resolvers read. ``version_rank`` orders a
package's releases the way a reader expects "newest" to work: PEP 440 versions in PEP 440
order, and each release whose version is not PEP 440 (``0.7.4.svn.r2010``) just after the
greatest PEP 440 version uploaded before it (those without an upload time come last), so the
greatest rank is the newest PEP 440 release unless something was uploaded after it.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from aggregators.core.contracts import contract
from aggregators.core.names import repository_key
from aggregators.core.versions import parse_version, version_sort_key

NOT_ANALYSED = "not_analysed"
ANALYSED = frozenset({"scanned", "partial"})
"""Bandit statuses whose finding counts mean something (a lower bound when partial)."""


def _active_affected(
    affected: pa.Table | None, advisories: pa.Table | None
) -> dict[tuple[str, str], list[str]]:
    if affected is None or advisories is None:
        return {}
    active = affected.filter(pc.invert(affected.column("withdrawn")))
    found: dict[tuple[str, str], list[str]] = defaultdict(list)
    for package, canonical, advisory in zip(
        active.column("package").to_pylist(),
        active.column("version_canonical").to_pylist(),
        active.column("advisory_id").to_pylist(),
        strict=True,
    ):
        found[(package, canonical)].append(advisory)
    return found


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


def build_package_version_security(tables: dict[str, pa.Table], snapshot_id: str) -> pa.Table:
    """The knowledge table from a snapshot's tables (empty without a ``releases`` table)."""
    schema = contract("package_version_security")
    releases = tables.get("releases")
    if releases is None:
        return schema.empty()
    advisories = tables.get("advisories")
    scores: dict[str, tuple[float | None, str | None]] = {}
    if advisories is not None:
        for row in advisories.select(["id", "cvss_score", "cvss_rating"]).to_pylist():
            scores[row["id"]] = (row["cvss_score"], row["cvss_rating"])
    affected = _active_affected(tables.get("affected_versions"), advisories)
    status, high = _bandit(tables.get("bandit_scans"), tables.get("bandit_findings"))
    cards = _scorecards(tables.get("packages"), tables.get("scorecards"))

    by_package: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for row in releases.select(
        ["package", "version", "version_canonical", "is_prerelease", "yanked", "upload_time"]
    ).to_pylist():
        by_package[row["package"]].append(row)

    rows: list[dict[str, Any]] = []
    for package, versions in by_package.items():
        versions = release_order(versions)
        ids = [sorted(set(affected.get((package, r["version_canonical"]), ()))) for r in versions]
        # scan from the newest: the lowest clean final release above each version
        fixed: list[str | None] = [None] * len(versions)
        best: str | None = None
        for i in range(len(versions) - 1, -1, -1):
            fixed[i] = best if ids[i] else None
            release = versions[i]
            if not ids[i] and not release["yanked"] and release["is_prerelease"] is False:
                best = release["version"]
        score, date = cards.get(package, (None, None))
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
                    "max_cvss_score": top[0],
                    "max_cvss_rating": top[1],
                    "fixed_in": fixed[rank],
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

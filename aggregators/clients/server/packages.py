"""The documents of ``GET /v1/packages/{name}`` and ``GET /v1/packages/{name}/versions/{v}``
(the HTML page draws the first). Built from the clients the command line uses: the lookup API
(``package_version_security``), ``seckb query`` (advisories, repository, Bandit analysis) and the
snapshot's Bandit and Scorecard tables.
"""

from __future__ import annotations

from typing import Any

from aggregators.clients.checks import Checks
from aggregators.clients.documents import snapshot_info
from aggregators.clients.evaluation import read_rows
from aggregators.clients.lookup import KnowledgeBase, VersionSecurity
from aggregators.clients.query import query
from aggregators.clients.server.errors import ApiError
from aggregators.clients.server.view import View
from aggregators.core.names import repository_key
from aggregators.core.versions import canonical_version
from aggregators.knowledge.signals import release_signals

PACKAGE_SCHEMA = "seckb.package/1"
VERSION_SCHEMA = "seckb.version/1"
SEVERITIES = ("high", "medium", "low")
SCAN_FIELDS = ("status", "reason", "files", "files_analysed", "files_skipped", "loc")


def _iso(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def releases_of(view: View, package: str, checks: Checks | None = None) -> list[dict[str, Any]]:
    """The package's PyPI releases, oldest first, as the lookup API gives them, with their
    upload time and new-release signals."""
    checks = checks or Checks()
    now = checks.at()
    if view.kb is None:
        return []
    uploads = {
        canonical_version(row["version"]): row["upload_time"]
        for row in read_rows(
            view.snapshot,
            "package_version_security",
            "package",
            [package],
            ["version", "upload_time"],
        )
    }
    found = []
    for release in view.kb.versions(package):
        item = release.to_json()
        item["advisory_count"] = len(release.advisory_ids)
        item["upload_time"] = _iso(uploads.get(canonical_version(release.version)))
        item["signals"] = [
            s.to_json()
            for s in release_signals(
                release.first_upload, release.days_since_previous, now, checks.signals
            )
        ]
        found.append(item)
    return found


def bandit_scans(view: View, package: str) -> list[dict[str, Any]]:
    """One entry per analysed release: status, what was analysed, findings by severity."""
    scans = []
    for row in read_rows(view.snapshot, "bandit_scans", "package", [package]):
        entry = {key: row.get(key) for key in ("version", *SCAN_FIELDS)}
        entry["findings"] = {
            severity: sum(row.get(f"{severity}_{c}") or 0 for c in SEVERITIES)
            for severity in SEVERITIES
        }
        entry["scanned_at"] = _iso(row.get("scanned_at"))
        scans.append(entry)
    return scans


def scorecard_checks(view: View, repository_url: str | None) -> list[dict[str, Any]]:
    """Every Scorecard check of the repository, by name."""
    key = repository_key(repository_url)
    if key is None:
        return []
    rows = read_rows(view.snapshot, "scorecard_checks", "repository", [key])
    return [
        {
            "check": row["check"],
            "score": row["score"],
            "risk": row["risk"],
            "inconclusive": row["inconclusive"],
            "reason": row["reason"],
        }
        for row in sorted(rows, key=lambda r: r["check"])
    ]


def package_document(view: View, package: str, checks: Checks | None = None) -> dict[str, Any]:
    """``seckb.package/1``: releases with advisory counts, Bandit status and Scorecard, the
    advisories naming the package (as ``seckb query`` lists them), Bandit scans, Scorecard
    checks. ``404`` when the snapshot knows nothing of the package."""
    releases = releases_of(view, package, checks)
    result = query(view.snapshot, package, include_withdrawn=True, checks=checks)
    if not releases and not result.known_package:
        raise ApiError(
            404, f"no advisory names {package} and no release of it is in snapshot {view.id}"
        )
    document = result.to_json()
    repository = document.get("repository")
    return {
        "schema": PACKAGE_SCHEMA,
        "snapshot": snapshot_info(view.snapshot),
        "package": package,
        "known_package": result.known_package,
        "malicious_project": document["malicious_project"],
        "names_checked": document["names_checked"],
        "suspicion": document["suspicion"],
        "releases": releases,
        "advisories": document["advisories"],
        "repository": repository,
        "scorecard_checks": scorecard_checks(view, repository and repository.get("url")),
        "bandit_scans": bandit_scans(view, package),
    }


def findings_summary(view: View, package: str, version: str) -> dict[str, Any] | None:
    """The Bandit analysis of one release: the scan's counts, findings per test."""
    canonical = canonical_version(version)
    scan = next(
        (s for s in bandit_scans(view, package) if canonical_version(s["version"]) == canonical),
        None,
    )
    if scan is None:
        return None
    by_test: dict[str, dict[str, Any]] = {}
    for row in read_rows(view.snapshot, "bandit_findings", "package", [package]):
        if canonical_version(row["version"]) != canonical:
            continue
        test = by_test.setdefault(
            row["test_id"], {"test_id": row["test_id"], "test_name": row["test_name"], "count": 0}
        )
        test["count"] += 1
    scan["by_test"] = sorted(by_test.values(), key=lambda t: (-t["count"], t["test_id"]))
    return scan


def _release(view: View, package: str, version: str) -> VersionSecurity | None:
    """What the lookup API says of ``version``: a listed release from the served view, else
    the verdict of a one-off lookup (so the served view memoizes nothing per request)."""
    if view.kb is None:
        return None
    canonical = canonical_version(version)
    if any(canonical_version(r.version) == canonical for r in view.kb.versions(package)):
        return view.kb.lookup(package, version)
    return KnowledgeBase(view.snapshot, [package]).lookup(package, version)


def version_document(
    view: View, package: str, version: str, checks: Checks | None = None
) -> dict[str, Any]:
    """``seckb.version/1``: the ``package_version_security`` row (or the verdict on a version
    PyPI does not list), the advisories affecting it, its Bandit findings summary and the
    repository's Scorecard checks."""
    release = _release(view, package, version)
    result = query(view.snapshot, package, version, checks=checks)
    if release is None and not result.known_package:
        raise ApiError(
            404, f"no advisory names {package} and no release of it is in snapshot {view.id}"
        )
    document = result.to_json()
    repository = document.get("repository")
    return {
        "schema": VERSION_SCHEMA,
        "snapshot": snapshot_info(view.snapshot),
        "package": package,
        "version": version,
        "vulnerable": document["vulnerable"],
        "malicious": document["malicious"],
        "suspect": document["suspect"],
        "malicious_project": document["malicious_project"],
        "names_checked": document["names_checked"],
        "suspicion": document["suspicion"],
        "signals": document["signals"],
        "release": release.to_json() if release is not None else None,
        "advisories": document["advisories"],
        "bandit": document.get("bandit"),
        "bandit_findings": findings_summary(view, package, version),
        "repository": repository,
        "scorecard_checks": scorecard_checks(view, repository and repository.get("url")),
    }

"""``package_version_security`` and ``affected_versions`` from hand-built source tables."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from aggregators.core.contracts import contract
from aggregators.core.versions import canonical_version, parse_version
from aggregators.knowledge.affected_table import build_affected_versions, release_lists
from aggregators.knowledge.security import build_package_version_security

DATE = datetime(2026, 11, 20, tzinfo=UTC)


def table(name: str, rows: Sequence[dict[str, Any]]) -> pa.Table:
    return contract(name).table_from_rows(rows)


def release(package: str, version: str, *, yanked: bool = False) -> dict[str, Any]:
    parsed = parse_version(version)
    return {
        "package": package,
        "version": version,
        "version_canonical": canonical_version(version),
        "is_pep440": parsed is not None,
        "is_prerelease": parsed.is_prerelease if parsed is not None else None,
        "upload_time": None,
        "yanked": yanked,
        "yanked_reason": None,
        "requires_python": None,
        "sdist_filename": None,
        "sdist_url": None,
        "sdist_sha256": None,
        "sdist_size": None,
        "has_wheel": True,
        "files": 1,
    }


def releases(package: str, *versions: str, yanked: Sequence[str] = ()) -> list[dict[str, Any]]:
    return [release(package, v, yanked=v in yanked) for v in versions]


def advisory(
    adv_id: str,
    score: float | None = None,
    rating: str | None = None,
    *,
    withdrawn: bool = False,
) -> dict[str, Any]:
    return {
        "id": adv_id,
        "summary": None,
        "details": None,
        "aliases": [],
        "related": [],
        "packages": ["flask"],
        "published": None,
        "modified": None,
        "withdrawn": DATE if withdrawn else None,
        "severity_type": "CVSS_V3" if score is not None else None,
        "severity_vector": None,
        "cvss_score": score,
        "cvss_rating": rating,
        "references": [],
        "source_commit": "c0ffee",
        "source_path": f"vulns/flask/{adv_id}.yaml",
        "source_blob": adv_id,
        "origin": "pypa",
        "malicious": False,
        "merged_into": None,
        "severity_from": None,
    }


def affected(
    adv_id: str, package: str, *versions: str, withdrawn: bool = False
) -> list[dict[str, Any]]:
    return [
        {
            "advisory_id": adv_id,
            "package": package,
            "version": v,
            "version_canonical": canonical_version(v),
            "in_list": True,
            "in_ranges": False,
            "origin": "list",
            "withdrawn": withdrawn,
        }
        for v in versions
    ]


def scan(package: str, version: str, status: str = "scanned") -> dict[str, Any]:
    counts = dict.fromkeys(
        (f"{s}_{c}" for s in ("high", "medium", "low") for c in ("high", "medium", "low")), 0
    )
    return {
        "package": package,
        "version": version,
        "sdist_filename": f"{package}-{version}.tar.gz",
        "sdist_sha256": "0" * 64,
        "status": status,
        "reason": None if status == "scanned" else "something",
        "files": 1,
        "files_analysed": 0 if status == "partial" else 1,
        "files_skipped": 1 if status == "partial" else 0,
        "loc": 10,
        "files_from_cache": 0,
        **counts,
        "bandit_version": "1.9.4",
        "config_hash": "abc",
        "duration_ms": 1,
        "scanned_at": DATE,
    }


def finding(
    package: str,
    version: str,
    severity: str = "HIGH",
    confidence: str = "HIGH",
    path_class: str = "code",
    line: int = 1,
) -> dict[str, Any]:
    return {
        "package": package,
        "version": version,
        "path": f"{path_class}/x.py",
        "test_id": "B602",
        "test_name": "subprocess_popen_with_shell_equals_true",
        "severity": severity,
        "confidence": confidence,
        "cwe": 78,
        "line": line,
        "line_range": [line],
        "code_sha256": "f" * 64,
        "path_class": path_class,
    }


def package(name: str, repository_url: str | None) -> dict[str, Any]:
    return {
        "package": name,
        "display_name": name,
        "status": "ok",
        "reason": None,
        "latest_version": None,
        "summary": None,
        "last_serial": 1,
        "releases": 1,
        "repository_url": repository_url,
        "repository_found_in": "project_urls.Source" if repository_url else None,
        "etag": None,
        "fetched_at": DATE,
    }


def scorecard(repository: str, score: float | None) -> dict[str, Any]:
    return {
        "repository": repository,
        "asked_as": repository.removeprefix("https://"),
        "packages": [],
        "status": "ok" if score is not None else "not_scanned",
        "reason": None,
        "result_date": DATE if score is not None else None,
        "repo_name": None,
        "repo_commit": None,
        "scorecard_version": None,
        "scorecard_commit": None,
        "score": score,
        "stale": False,
        "fetched_at": DATE,
    }


def build(**rows: Sequence[dict[str, Any]]) -> dict[tuple[str, str], dict[str, Any]]:
    """Build the table from ``name=rows`` and return its rows by (package, version)."""
    result = build_package_version_security(
        {name: table(name, r) for name, r in rows.items()}, "snap-1"
    )
    return {(r["package"], r["version"]): r for r in result.to_pylist()}


def test_version_rank_follows_pep440_with_other_strings_last() -> None:
    rows = releases("a", "1.10", "not-a-version", "1.9", "2.0", "1.0rc1") + releases(
        "b", "0.2", "0.1"
    )
    result = build_package_version_security({"releases": table("releases", rows)}, "snap-1")
    assert result.schema.equals(contract("package_version_security").schema)
    ordered = [(r["package"], r["version"], r["version_rank"]) for r in result.to_pylist()]
    assert ordered == [
        ("a", "1.0rc1", 0),
        ("a", "1.9", 1),
        ("a", "1.10", 2),
        ("a", "2.0", 3),
        ("a", "not-a-version", 4),
        ("b", "0.1", 0),
        ("b", "0.2", 1),
    ]
    assert set(result.column("snapshot_id").to_pylist()) == {"snap-1"}


def test_only_active_advisories_are_listed() -> None:
    rows = build(
        releases=releases("flask", "1.0", "1.1"),
        advisories=[advisory("A-1"), advisory("A-2"), advisory("W-1", withdrawn=True)],
        affected_versions=affected("A-2", "flask", "1.0")
        + affected("A-1", "flask", "1.0")
        + affected("W-1", "flask", "1.0", "1.1", withdrawn=True),
    )
    assert rows["flask", "1.0"]["advisory_ids"] == ["A-1", "A-2"]
    assert rows["flask", "1.0"]["advisory_count"] == 2
    assert rows["flask", "1.1"]["advisory_ids"] == []
    assert rows["flask", "1.1"]["advisory_count"] == 0


def test_max_cvss_is_the_highest_scored_advisory() -> None:
    rows = build(
        releases=releases("flask", "1.0", "1.1", "1.2"),
        advisories=[
            advisory("A-low", 5.3, "Medium"),
            advisory("B-top", 9.8, "Critical"),
            advisory("C-none"),
        ],
        affected_versions=affected("A-low", "flask", "1.0", "1.1")
        + affected("B-top", "flask", "1.0")
        + affected("C-none", "flask", "1.0", "1.1", "1.2"),
    )
    top = rows["flask", "1.0"]
    assert (top["max_cvss_score"], top["max_cvss_rating"]) == (9.8, "Critical")
    assert (rows["flask", "1.1"]["max_cvss_score"], rows["flask", "1.1"]["max_cvss_rating"]) == (
        5.3,
        "Medium",
    )
    unscored = rows["flask", "1.2"]
    assert unscored["advisory_ids"] == ["C-none"]
    assert (unscored["max_cvss_score"], unscored["max_cvss_rating"]) == (None, None)


def test_fixed_in_is_the_lowest_later_clean_final_release() -> None:
    rows = build(
        releases=releases(
            "flask",
            "1.0",
            "1.1",
            "1.2rc1",  # clean, but a pre-release
            "1.2",  # clean, but yanked
            "1.3",
            "1.4",
            "2.0",
            "weird",  # clean, not PEP 440
            yanked=["1.2"],
        ),
        advisories=[advisory("A-1"), advisory("A-2")],
        affected_versions=affected("A-1", "flask", "1.0", "1.1", "1.2rc1")
        + affected("A-2", "flask", "2.0"),
    )
    fixed = {version: row["fixed_in"] for (_, version), row in rows.items()}
    assert fixed == {
        "1.0": "1.3",
        "1.1": "1.3",
        "1.2rc1": "1.3",
        "1.2": None,  # not affected: no fix needed
        "1.3": None,
        "1.4": None,
        "2.0": None,  # nothing later is a clean final release
        "weird": None,
    }


def test_no_fix_when_only_prereleases_and_yanked_follow() -> None:
    rows = build(
        releases=releases("flask", "1.0", "1.1", "2.0b1", yanked=["1.1"]),
        advisories=[advisory("A-1")],
        affected_versions=affected("A-1", "flask", "1.0"),
    )
    assert rows["flask", "1.0"]["fixed_in"] is None


def test_bandit_status_and_high_findings() -> None:
    rows = build(
        releases=releases("flask", "1.0", "1.1", "1.2", "1.3", "1.4"),
        bandit_scans=[
            scan("flask", "1.0"),
            scan("flask", "1.1", "timeout"),
            scan("flask", "1.3"),
            scan("flask", "1.4", "partial"),
        ],
        bandit_findings=[
            finding("flask", "1.0", line=1),
            finding("flask", "1.0", line=2),
            finding("flask", "1.0", path_class="vendored", line=3),
            finding("flask", "1.0", path_class="tests", line=4),  # tests do not count
            finding("flask", "1.0", confidence="MEDIUM", line=5),
            finding("flask", "1.0", severity="MEDIUM", line=6),
            finding("flask", "1.0", severity="LOW", confidence="LOW", line=7),
            finding("flask", "1.1"),  # not scanned: no count
            finding("flask", "1.4"),  # partial: what was analysed counts
        ],
    )
    assert rows["flask", "1.0"]["bandit_status"] == "scanned"
    assert rows["flask", "1.0"]["bandit_high_findings"] == 3
    assert rows["flask", "1.1"]["bandit_status"] == "timeout"
    assert rows["flask", "1.1"]["bandit_high_findings"] is None
    assert rows["flask", "1.2"]["bandit_status"] == "not_analysed"
    assert rows["flask", "1.2"]["bandit_high_findings"] is None  # never "clean"
    assert rows["flask", "1.3"]["bandit_high_findings"] == 0  # scanned and clean
    assert rows["flask", "1.4"]["bandit_status"] == "partial"  # never shown as scanned
    assert rows["flask", "1.4"]["bandit_high_findings"] == 1  # a lower bound


def test_no_bandit_tables_means_not_analysed() -> None:
    rows = build(releases=releases("flask", "1.0"))
    assert rows["flask", "1.0"]["bandit_status"] == "not_analysed"
    assert rows["flask", "1.0"]["bandit_high_findings"] is None


def test_scorecard_joined_through_the_repository_url() -> None:
    rows = build(
        releases=releases("flask", "1.0", "2.0")
        + releases("gitlab-pkg", "1.0")
        + releases("orphan", "1.0")
        + releases("unscored", "1.0"),
        packages=[
            package("flask", "https://github.com/Pallets/Flask"),
            package("gitlab-pkg", "https://gitlab.com/pallets/flask"),
            package("orphan", None),
            package("unscored", "https://github.com/x/y"),
        ],
        scorecards=[
            scorecard("https://github.com/pallets/flask", 6.5),
            scorecard("https://github.com/x/y", None),
        ],
    )
    for version in ("1.0", "2.0"):
        assert rows["flask", version]["scorecard_score"] == 6.5
        assert rows["flask", version]["scorecard_date"] == DATE
    for name in ("gitlab-pkg", "orphan", "unscored"):
        assert rows[name, "1.0"]["scorecard_score"] is None
        assert rows[name, "1.0"]["scorecard_date"] is None


def test_without_releases_the_table_is_empty() -> None:
    spec = contract("package_version_security")
    others = {"advisories": table("advisories", [advisory("A-1")])}
    for tables in ({}, others, {**others, "releases": table("releases", [])}):
        result = build_package_version_security(tables, "snap-1")
        assert result.num_rows == 0
        assert result.schema.equals(spec.schema)


def advisory_tables(
    adv_id: str,
    package_name: str,
    versions: Sequence[str],
    events: Sequence[tuple[str, str]],
    *,
    withdrawn: bool = False,
) -> tuple[pa.Table, pa.Table, pa.Table]:
    """``advisories``, ``advisory_packages`` and ``advisory_ranges`` of one advisory."""
    entry = {
        "advisory_id": adv_id,
        "entry_index": 0,
        "package": package_name,
        "package_name": package_name,
        "ecosystem": "PyPI",
        "purl": None,
        "versions": list(versions),
        "source_path": f"vulns/{package_name}/{adv_id}.yaml",
    }
    ranges = [
        {
            "advisory_id": adv_id,
            "package": package_name,
            "entry_index": 0,
            "range_index": 0,
            "range_type": "ECOSYSTEM",
            "repo": None,
            "event_index": i,
            "event": kind,
            "version": version,
            "valid": True,
            "source_path": entry["source_path"],
        }
        for i, (kind, version) in enumerate(events)
    ]
    return (
        table("advisories", [advisory(adv_id, withdrawn=withdrawn)]),
        table("advisory_packages", [entry]),
        table("advisory_ranges", ranges),
    )


def test_pep440_equality_between_advisory_and_release_spellings() -> None:
    known = releases("flask", "2.1", "2.2.0", "2.3", "3.0.0")
    advisories, packages, ranges = advisory_tables(
        "A-1", "flask", ["2.2"], [("introduced", "3.0"), ("fixed", "3.1")]
    )
    lists = release_lists(table("releases", known))
    result = build_affected_versions(advisories, packages, ranges, lists)
    assert result.schema.equals(contract("affected_versions").schema)
    by_version = {
        r["version"]: (r["version_canonical"], r["origin"], r["withdrawn"])
        for r in result.to_pylist()
    }
    assert by_version == {"2.2.0": ("2.2", "list", False), "3.0.0": ("3", "ranges", False)}

    rows = build(
        releases=known,
        advisories=advisories.to_pylist(),
        affected_versions=result.to_pylist(),
    )
    affected_ids = {version: row["advisory_ids"] for (_, version), row in rows.items()}
    assert affected_ids == {"2.1": [], "2.2.0": ["A-1"], "2.3": [], "3.0.0": ["A-1"]}
    assert rows["flask", "2.2.0"]["fixed_in"] == "2.3"


def test_withdrawn_advisory_rows_are_kept_but_not_active() -> None:
    known = releases("flask", "1.0", "1.1")
    advisories, packages, ranges = advisory_tables(
        "W-1", "flask", [], [("introduced", "0"), ("fixed", "1.1")], withdrawn=True
    )
    result = build_affected_versions(advisories, packages, ranges, {"flask": ["1.0", "1.1"]})
    assert [(r["version"], r["withdrawn"]) for r in result.to_pylist()] == [("1.0", True)]
    rows = build(
        releases=known, advisories=advisories.to_pylist(), affected_versions=result.to_pylist()
    )
    assert rows["flask", "1.0"]["advisory_ids"] == []


def test_release_lists() -> None:
    assert release_lists(None) == {}
    rows = releases("b", "2.0", "1.0") + releases("a", "0.1")
    lists = release_lists(table("releases", rows))
    assert lists == {"a": ["0.1"], "b": ["1.0", "2.0"]}  # in the table's (sorted) order


def test_a_release_that_is_not_pep440_ranks_by_its_upload_time() -> None:
    """ipython's 0.7.4.svn.r2010 (2008) must not rank above 9.18.1: the greatest rank is the
    newest release, as the README's "riskiest packages" query expects."""

    def at(version: str, year: int | None) -> dict[str, Any]:
        row = release("ipython", version)
        row["upload_time"] = datetime(year, 1, 1, tzinfo=UTC) if year else None
        return row

    rows = [
        at("9.18.1", 2025),
        at("0.7.4.svn.r2010", 2008),
        at("0.8", 2009),
        at("0.7.3", 2007),
        at("0.7.4.svn.r2011", 2008),
        at("0.1-prehistory", 2001),
        at("dev-snapshot", None),
        at("1.0", 2013),
    ]
    result = build_package_version_security({"releases": table("releases", rows)}, "snap-1")
    ranked = [r["version"] for r in sorted(result.to_pylist(), key=lambda r: r["version_rank"])]
    assert ranked == [
        "0.1-prehistory",  # uploaded before every PEP 440 release
        "0.7.3",
        "0.7.4.svn.r2010",  # just after the greatest version uploaded before it, in upload order
        "0.7.4.svn.r2011",
        "0.8",
        "1.0",
        "9.18.1",
        "dev-snapshot",  # no upload time: last
    ]
    newest = max(
        result.to_pylist(), key=lambda r: (r["upload_time"] is not None, r["version_rank"])
    )
    assert newest["version"] == "9.18.1"

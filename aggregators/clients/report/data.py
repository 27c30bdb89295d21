"""What ``seckb report`` shows, read from one snapshot with DuckDB (in memory, over its files)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import duckdb

from aggregators.store.snapshots import Snapshot

RATINGS = ("Critical", "High", "Medium", "Low", "None", "unscored")
FIX_BUCKETS = (
    ("before disclosure", None, 0),
    ("same day", 0, 1),
    ("1-7 days", 1, 8),
    ("8-30 days", 8, 31),
    ("31-90 days", 31, 91),
    ("91-365 days", 91, 366),
    ("over a year", 366, None),
)
"""Buckets of days from an advisory's publication to the upload of its fixed release."""

COUNTS_SQL = """
SELECT
  (SELECT count(*) FROM advisories WHERE withdrawn IS NULL) AS active_advisories,
  (SELECT count(*) FROM advisories WHERE withdrawn IS NOT NULL) AS withdrawn_advisories,
  (SELECT count(DISTINCT package) FROM advisory_packages) AS advisory_packages,
  (SELECT count(*) FROM releases) AS releases,
  (SELECT count(*) FROM package_version_security WHERE advisory_count > 0) AS affected_releases,
  (SELECT count(*) FROM bandit_scans) AS bandit_scans,
  (SELECT count(*) FROM bandit_findings) AS bandit_findings,
  (SELECT count(*) FROM scorecards WHERE score IS NOT NULL) AS scored_repositories
"""
BY_YEAR_SQL = """
SELECT year(published) AS year, coalesce(cvss_rating, 'unscored') AS rating, count(*) AS n
FROM advisories WHERE withdrawn IS NULL AND published IS NOT NULL
GROUP BY ALL ORDER BY ALL
"""
FIX_DAYS_SQL = """
SELECT date_diff('day', a.published, min(r.upload_time)) AS days
FROM advisory_ranges AS f
JOIN advisories AS a ON a.id = f.advisory_id AND a.withdrawn IS NULL
JOIN releases AS r ON r.package = f.package AND r.version = f.version
WHERE f.event = 'fixed' AND f.range_type = 'ECOSYSTEM' AND f.valid
  AND a.published IS NOT NULL AND r.upload_time IS NOT NULL
GROUP BY f.advisory_id, f.package, f.version, a.published
"""
FINDINGS_SQL = """
SELECT test_id, any_value(test_name) AS test_name, severity, count(*) AS n
FROM bandit_findings WHERE path_class <> 'tests'
GROUP BY test_id, severity ORDER BY test_id, severity
"""
SCORES_SQL = """
SELECT repository, score, list_sort(packages) AS packages FROM scorecards
WHERE score IS NOT NULL ORDER BY score, repository
"""
RISKIEST_SQL = """
WITH pvs AS (
  SELECT *, max(version_rank) OVER (PARTITION BY package) AS newest FROM package_version_security
)
SELECT package,
       bool_or(version_rank = newest AND advisory_count > 0) AS newest_affected,
       count(*) FILTER (WHERE advisory_count > 0) AS affected_releases,
       count(*) AS releases,
       max(max_cvss_score) AS worst_cvss,
       any_value(scorecard_score) AS scorecard
FROM pvs GROUP BY package HAVING affected_releases > 0
ORDER BY newest_affected DESC, affected_releases DESC, worst_cvss DESC NULLS LAST, package
LIMIT ?
"""


@dataclass
class ReportData:
    """Everything the report page shows."""

    snapshot_id: str
    created_at: str
    sources: dict[str, dict[str, Any]]
    counts: dict[str, int]
    by_year: list[tuple[int, str, int]] = field(default_factory=list)
    fix_days: list[int] = field(default_factory=list)
    findings: list[tuple[str, str, str, int]] = field(default_factory=list)
    scores: list[tuple[str, float, list[str]]] = field(default_factory=list)
    riskiest: list[dict[str, Any]] = field(default_factory=list)


def _connect(snapshot: Snapshot) -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB with one view per table (and placeholder) of the snapshot."""
    con = duckdb.connect()
    for name in {*snapshot.tables, *snapshot.placeholders}:
        path = snapshot.file_of(name)
        if path is not None:
            quoted = str(path).replace("'", "''")
            con.execute(f"CREATE VIEW \"{name}\" AS SELECT * FROM read_parquet('{quoted}')")
    return con


def _has(snapshot: Snapshot, *names: str) -> bool:
    return all(snapshot.file_of(name) is not None for name in names)


def fix_buckets(days: list[int]) -> list[tuple[str, int]]:
    """How many fixes fall in each bucket of :data:`FIX_BUCKETS`."""
    counts = []
    for label, low, high in FIX_BUCKETS:
        counts.append(
            (
                label,
                sum(1 for d in days if (low is None or d >= low) and (high is None or d < high)),
            )
        )
    return counts


def load(snapshot: Snapshot, riskiest: int = 20) -> ReportData:
    """Read what the report shows from ``snapshot`` (missing tables show as empty)."""
    data = ReportData(
        snapshot.id,
        str(snapshot.manifest.get("created_at", "")),
        dict(snapshot.manifest.get("sources", {})),
        {},
    )
    needed = ("advisories", "advisory_packages", "advisory_ranges", "releases")
    if not _has(snapshot, *needed, "package_version_security", "bandit_findings", "scorecards"):
        return data  # a snapshot older than placeholders, without some tables: show nothing
    con = _connect(snapshot)
    try:
        cursor = con.execute(COUNTS_SQL)
        names = [d[0] for d in cursor.description or []]
        data.counts = dict(zip(names, cursor.fetchone() or (), strict=False))
        data.by_year = [(int(y), str(r), int(n)) for y, r, n in con.execute(BY_YEAR_SQL).fetchall()]
        data.fix_days = [int(d) for (d,) in con.execute(FIX_DAYS_SQL).fetchall() if d is not None]
        data.findings = [
            (str(a), str(b), str(c), int(n)) for a, b, c, n in con.execute(FINDINGS_SQL).fetchall()
        ]
        data.scores = [
            (str(r), float(s), list(p)) for r, s, p in con.execute(SCORES_SQL).fetchall()
        ]
        cursor = con.execute(RISKIEST_SQL, [riskiest])
        names = [d[0] for d in cursor.description or []]
        data.riskiest = [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]
    finally:
        con.close()
    return data

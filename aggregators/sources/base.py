"""What every source returns to the pipeline."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

    from aggregators.store.snapshots import Snapshot

SOURCE_TABLES: dict[str, tuple[str, ...]] = {
    "advisories": ("advisories", "advisory_packages", "advisory_ranges"),
    "pypi": ("packages", "releases"),
    "bandit": ("bandit_scans", "bandit_findings", "bandit_errors"),
    "scorecards": ("scorecards", "scorecard_checks"),
}
"""The tables each source owns (``ingest_errors`` is shared, partitioned by its ``source``)."""

UPDATED = "updated"
UNCHANGED = "unchanged"
FAILED = "failed"


@dataclass
class SourceResult:
    """The outcome of one source's update.

    ``tables`` holds the source's complete new tables when ``status`` is ``updated`` (its rows of
    ``ingest_errors`` included); an ``unchanged`` source carries its previous tables forward.
    """

    name: str
    status: str
    lineage: dict[str, Any]
    tables: dict[str, pa.Table] = field(default_factory=dict)
    stats: dict[str, int] = field(default_factory=dict)


@dataclass
class RunState:
    """What a source can see during a run: earlier sources' fresh tables, else the previous
    snapshot's, plus the run's package filter and what the fetch phase returned."""

    previous: Snapshot | None
    results: dict[str, SourceResult] = field(default_factory=dict)
    packages: list[str] | None = None
    fetched: dict[str, Any] = field(default_factory=dict)

    def table(self, name: str) -> pa.Table | None:
        """The newest version of a table: from a source updated in this run, else the previous
        snapshot, else ``None``."""
        for result in self.results.values():
            if result.status == UPDATED and name in result.tables:
                return result.tables[name]
        return self.previous.read(name) if self.previous is not None else None


def error_row(
    source: str, path: str, reason: str, level: str = "error", advisory_id: str | None = None
) -> dict[str, Any]:
    """One ``ingest_errors`` row: ``level`` error (record skipped) or warning (record kept)."""
    return {
        "source": source,
        "path": path,
        "advisory_id": advisory_id,
        "level": level,
        "reason": reason,
    }

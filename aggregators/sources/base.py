"""What a source is, what it sees during a run and what it returns (the source contract).

A source is a class built from ``(settings, workspace)`` with either ``update`` (one step) or
``plan`` / ``part`` / ``merge`` (fanned out over batches of work, each part computed
separately, possibly on another worker). It reads the previous snapshot through the small
:class:`PreviousSnapshot` protocol, so sources never depend on how snapshots are stored.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

if TYPE_CHECKING:
    import pyarrow as pa

    from aggregators.core.progress import Progress

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


class PreviousSnapshot(Protocol):
    """What a source may know of the snapshot a run builds on."""

    @property
    def id(self) -> str:
        """The snapshot's id."""

    @property
    def tables(self) -> list[str]:
        """Names of the tables it holds."""

    def read(self, name: str) -> pa.Table | None:
        """A table, or ``None`` when the snapshot does not hold it."""

    def source(self, name: str) -> dict[str, Any]:
        """The manifest's record of one source (empty when it never ran)."""


@dataclass
class RunState:
    """What a source can see during a run: earlier sources' fresh tables, else the previous
    snapshot's, plus the run's package filter and what the fetch phase returned."""

    previous: PreviousSnapshot | None
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


@dataclass
class Plan:
    """What a fanned-out source decided: the result carried forward without new work, and the
    work items (JSON-ready dicts, so they can travel as Airflow XCom) left to do."""

    carried: SourceResult
    work: list[dict[str, Any]] = field(default_factory=list)


class Source(Protocol):
    """A source updated in one step."""

    name: str

    def update(self, state: RunState, progress: Progress) -> SourceResult:
        """The source's new tables (or ``unchanged``); raise ``SourceError`` when it failed."""


class FanOutSource(Protocol):
    """A source whose work is split into parts, computed independently and merged."""

    name: str

    def plan(self, state: RunState) -> Plan:
        """Decide the work; carry forward what needs none."""

    def part(self, work: Sequence[dict[str, Any]], progress: Progress) -> SourceResult:
        """Do one batch of the planned work."""

    def merge(self, carried: SourceResult, parts: Sequence[SourceResult]) -> SourceResult:
        """The source's complete result from the carried part and every work part."""


def concat_results(name: str, parts: Sequence[SourceResult], tables: Sequence[str]) -> SourceResult:
    """One result from several parts: tables concatenated, integer stats summed, updated when
    any part is, the first part's lineage."""
    import pyarrow as pa

    merged = {
        table: pa.concat_tables([p.tables[table] for p in parts if table in p.tables])
        for table in tables
        if any(table in p.tables for p in parts)
    }
    stats: dict[str, int] = {}
    for part in parts:
        for key, value in part.stats.items():
            if isinstance(value, int):
                stats[key] = stats.get(key, 0) + value
    status = UPDATED if any(p.status == UPDATED for p in parts) else UNCHANGED
    return SourceResult(name, status, parts[0].lineage if parts else {}, merged, stats)


def same_content(old: pa.Table | None, new: pa.Table, volatile: Sequence[str] = ()) -> bool:
    """Whether ``new`` holds the same rows as ``old`` (both sorted by their contract), ignoring
    ``volatile`` columns such as fetch times: a source decides "changed" on content, never on
    whether a server answered 200 or 304."""
    if old is None or old.num_rows != new.num_rows or old.schema.names != new.schema.names:
        return False
    drop = [name for name in volatile if name in new.schema.names]
    return bool(old.drop_columns(drop).equals(new.drop_columns(drop)))

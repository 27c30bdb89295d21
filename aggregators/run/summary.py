"""What a run changed, for people: the tables it touched and the upstream data problems by kind.

Both entry points use it: ``seckb ingest`` prints it, the Airflow ``publish`` task logs it. A
problem is "new" when the previous snapshot did not record the same row of ``ingest_errors``, so
a problem that upstream has had for months is counted, not announced again every night.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from aggregators.store.snapshots import Snapshot

_URL = re.compile(r"https?://\S+")
_QUOTED = re.compile(r"'[^']*'|\"[^\"]*\"")
_ID = re.compile(r"\b[A-Z]{2,}-[0-9A-Za-z]{2,}(?:-[0-9A-Za-z]+)*\b")
_PATH = re.compile(r"(?<![\w'])[\w.+-]*/[\w./+-]+")
_NUMBER = re.compile(r"(?<!PEP )(?<![\w.])\d+(?:[.,]\d+)*(?![\w])")


def problem_kind(reason: str) -> str:
    """The kind of a problem: its reason with the particulars (quoted values, URLs, ids, paths,
    numbers) replaced, so ``version '0.9-eevee' is not PEP 440`` and ``version 'a3' is not PEP
    440`` are one kind."""
    text = _URL.sub("<url>", reason)
    text = _QUOTED.sub("'…'", text)
    text = _ID.sub("<id>", text)
    text = _PATH.sub("<path>", text)
    return _NUMBER.sub("N", text).strip()


@dataclass(frozen=True)
class TableChange:
    """A table whose content changed: rows now, and before (``None`` when it is new)."""

    name: str
    rows: int
    before: int | None


@dataclass(frozen=True)
class ProblemKind:
    """Upstream data problems of one kind: how many the snapshot holds, how many are new."""

    source: str
    level: str
    kind: str
    total: int
    new: int


@dataclass
class RunSummary:
    """The tables a publish changed and the snapshot's data problems by kind."""

    tables: list[TableChange] = field(default_factory=list)
    problems: list[ProblemKind] = field(default_factory=list)
    first: bool = False
    """No previous snapshot: every table and every problem is new."""

    @property
    def total_problems(self) -> int:
        """Rows of ``ingest_errors`` in the snapshot."""
        return sum(p.total for p in self.problems)

    @property
    def new_problems(self) -> int:
        """Rows the previous snapshot did not have."""
        return sum(p.new for p in self.problems)


def _error_rows(snapshot: Snapshot | None) -> list[tuple[Any, ...]]:
    table = snapshot.read("ingest_errors") if snapshot is not None else None
    if table is None:
        return []
    columns = ["source", "path", "advisory_id", "level", "reason"]
    return list(zip(*(table.column(c).to_pylist() for c in columns), strict=True))


def problems(current: Snapshot, previous: Snapshot | None) -> list[ProblemKind]:
    """``current``'s ingest_errors by (source, level, kind), biggest first, with how many rows
    ``previous`` did not hold."""
    old = set(_error_rows(previous))
    totals: Counter[tuple[str, str, str]] = Counter()
    new: Counter[tuple[str, str, str]] = Counter()
    for row in _error_rows(current):
        key = (row[0], row[3], problem_kind(row[4]))
        totals[key] += 1
        if row not in old:
            new[key] += 1
    ordered = sorted(totals.items(), key=lambda item: (-item[1], item[0]))
    return [
        ProblemKind(s, level, kind, n, new[(s, level, kind)]) for (s, level, kind), n in ordered
    ]


def table_changes(current: Snapshot, previous: Snapshot | None) -> list[TableChange]:
    """Tables of ``current`` whose file differs from ``previous``'s (all of them on a first
    publish), in name order."""
    before = previous.manifest.get("tables", {}) if previous is not None else {}
    changed = []
    for name, info in sorted(current.manifest.get("tables", {}).items()):
        old = before.get(name)
        if old is None or old.get("sha256") != info.get("sha256"):
            changed.append(TableChange(name, int(info["rows"]), old and int(old["rows"])))
    return changed


def summarize(current: Snapshot, previous: Snapshot | None) -> RunSummary:
    """What publishing ``current`` on top of ``previous`` changed."""
    return RunSummary(
        table_changes(current, previous), problems(current, previous), previous is None
    )


def describe(summary: RunSummary, kinds: int = 5) -> list[str]:
    """The summary as lines of plain text (the Airflow task logs them)."""
    lines = []
    if summary.tables:
        lines.append("tables changed: " + ", ".join(table_text(t) for t in summary.tables))
    lines.extend(problem_lines(summary, kinds))
    return lines


def table_text(change: TableChange) -> str:
    """``advisories 2,541 (+2)``, or ``osv_records 2,541 (new)``."""
    if change.before is None:
        return f"{change.name} {change.rows:,} (new)"
    delta = change.rows - change.before
    return f"{change.name} {change.rows:,}" + (f" ({delta:+,})" if delta else " (rewritten)")


def problem_lines(summary: RunSummary, kinds: int = 5) -> list[str]:
    """One line with the totals, then the biggest ``kinds`` kinds when any problem is new."""
    total, new = summary.total_problems, summary.new_problems
    if not total:
        return []
    since = "" if summary.first else " since the previous snapshot"
    head = (
        f"data problems: {total:,} recorded upstream, {new:,} new{since} (seckb errors lists them)"
    )
    if not new:
        return [head]
    shown = summary.problems[:kinds]
    lines = [head]
    for p in shown:
        fresh = f", {p.new:,} new" if p.new and not summary.first else ""
        lines.append(f"  {p.source} {p.level}: {p.total:,} × {p.kind}{fresh}")
    if len(summary.problems) > kinds:
        lines.append(f"  … and {len(summary.problems) - kinds} more kind(s)")
    return lines

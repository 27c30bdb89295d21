"""The change feed between two snapshots (pure): advisories, affected versions, Bandit, scores."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pyarrow as pa

from aggregators.core.contracts import contract

Reader = Callable[[str], pa.Table | None]


def _rows(read: Reader, table: str, columns: list[str]) -> list[dict[str, Any]]:
    data = read(table)
    if data is None:
        return []
    rows: list[dict[str, Any]] = data.select(
        [c for c in columns if c in data.column_names]
    ).to_pylist()
    return rows


class _Feed:
    """Collects ``changes`` rows against one previous snapshot."""

    def __init__(self, previous_id: str | None) -> None:
        self.previous_id = previous_id
        self.rows: list[dict[str, Any]] = []

    def add(
        self,
        change: str,
        package: str | None = None,
        version: str | None = None,
        advisory: str | None = None,
        before: Any = None,
        after: Any = None,
    ) -> None:
        self.rows.append(
            {
                "change": change,
                "package": package,
                "version": version,
                "advisory_id": advisory,
                "old_value": None if before is None else str(before),
                "new_value": None if after is None else str(after),
                "previous_snapshot": self.previous_id,
            }
        )


def _advisory_changes(feed: _Feed, old: Reader, new: Reader) -> None:
    cols = ["id", "source_blob", "withdrawn"]
    before = {r["id"]: r for r in _rows(old, "advisories", cols)}
    after = {r["id"]: r for r in _rows(new, "advisories", cols)}
    for adv_id, row in sorted(after.items()):
        was = before.get(adv_id)
        if was is None:
            feed.add("advisory_added", advisory=adv_id)
        elif row["withdrawn"] is not None and was["withdrawn"] is None:
            feed.add("advisory_withdrawn", advisory=adv_id, after=row["withdrawn"].isoformat())
        elif row["source_blob"] != was["source_blob"]:
            feed.add("advisory_changed", advisory=adv_id)
    for adv_id in sorted(set(before) - set(after)):
        feed.add("advisory_removed", advisory=adv_id)


def _release_changes(feed: _Feed, old: Reader, new: Reader) -> None:
    cols = [
        "package",
        "version",
        "advisory_ids",
        "bandit_status",
        "bandit_high_findings",
        "scorecard_score",
    ]
    table = "package_version_security"
    old_pvs = {(r["package"], r["version"]): r for r in _rows(old, table, cols)}
    new_pvs = {(r["package"], r["version"]): r for r in _rows(new, table, cols)}
    for (package, version), row in sorted(new_pvs.items()):
        was = old_pvs.get((package, version), {})
        ids, old_ids = set(row["advisory_ids"]), set(was.get("advisory_ids") or ())
        for adv_id in sorted(ids - old_ids):
            feed.add("version_newly_affected", package, version, adv_id)
        for adv_id in sorted(old_ids - ids):
            feed.add("version_no_longer_affected", package, version, adv_id)
        status, old_status = row["bandit_status"], was.get("bandit_status")
        if status == "partial" and old_status != "partial":
            feed.add("bandit_partial", package, version, before=old_status, after=status)
        high, old_high = row["bandit_high_findings"], was.get("bandit_high_findings")
        if high and high > (old_high or 0):
            feed.add("new_high_findings", package, version, before=old_high, after=high)
    scores_before = {key[0]: row["scorecard_score"] for key, row in old_pvs.items()}
    scores_after = {key[0]: row["scorecard_score"] for key, row in sorted(new_pvs.items())}
    for package, score in sorted(scores_after.items()):
        was_score = scores_before.get(package)
        if score is not None and was_score is not None and score < was_score:
            feed.add("scorecard_drop", package, before=was_score, after=score)


def diff_rows(old: Reader, new: Reader, previous_id: str | None) -> list[dict[str, Any]]:
    """Changes from the tables ``old`` reads to those ``new`` reads, as ``changes`` rows."""
    feed = _Feed(previous_id)
    _advisory_changes(feed, old, new)
    _release_changes(feed, old, new)
    return feed.rows


def diff_table(old: Reader, new: Reader, previous_id: str | None) -> pa.Table:
    """The ``changes`` table between two snapshots' tables."""
    return contract("changes").table_from_rows(diff_rows(old, new, previous_id))

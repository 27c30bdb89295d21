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


def diff_rows(old: Reader, new: Reader, previous_id: str | None) -> list[dict[str, Any]]:
    """Changes from the tables ``old`` reads to those ``new`` reads, as ``changes`` rows."""
    out: list[dict[str, Any]] = []

    def add(
        change: str,
        package: str | None = None,
        version: str | None = None,
        advisory: str | None = None,
        before: Any = None,
        after: Any = None,
    ) -> None:
        out.append(
            {
                "change": change,
                "package": package,
                "version": version,
                "advisory_id": advisory,
                "old_value": None if before is None else str(before),
                "new_value": None if after is None else str(after),
                "previous_snapshot": previous_id,
            }
        )

    cols = ["id", "source_blob", "withdrawn"]
    before = {r["id"]: r for r in _rows(old, "advisories", cols)}
    after = {r["id"]: r for r in _rows(new, "advisories", cols)}
    for adv_id, row in sorted(after.items()):
        was = before.get(adv_id)
        if was is None:
            add("advisory_added", advisory=adv_id)
        elif row["withdrawn"] is not None and was["withdrawn"] is None:
            add("advisory_withdrawn", advisory=adv_id, after=row["withdrawn"].isoformat())
        elif row["source_blob"] != was["source_blob"]:
            add("advisory_changed", advisory=adv_id)
    for adv_id in sorted(set(before) - set(after)):
        add("advisory_removed", advisory=adv_id)

    cols = ["package", "version", "advisory_ids", "bandit_high_findings", "scorecard_score"]
    old_pvs = {
        (r["package"], r["version"]): r for r in _rows(old, "package_version_security", cols)
    }
    new_pvs = {
        (r["package"], r["version"]): r for r in _rows(new, "package_version_security", cols)
    }
    scores_before: dict[str, Any] = {}
    scores_after: dict[str, Any] = {}
    for key, row in sorted(new_pvs.items()):
        was = old_pvs.get(key, {})
        for adv_id in sorted(set(row["advisory_ids"]) - set(was.get("advisory_ids") or ())):
            add("version_newly_affected", key[0], key[1], adv_id)
        for adv_id in sorted(set(was.get("advisory_ids") or ()) - set(row["advisory_ids"])):
            add("version_no_longer_affected", key[0], key[1], adv_id)
        high, old_high = row["bandit_high_findings"], was.get("bandit_high_findings")
        if high and high > (old_high or 0):
            add("new_high_findings", key[0], key[1], before=old_high, after=high)
        scores_after[key[0]] = row["scorecard_score"]
    for key, row in old_pvs.items():
        scores_before[key[0]] = row["scorecard_score"]
    for package, score in sorted(scores_after.items()):
        was_score = scores_before.get(package)
        if score is not None and was_score is not None and score < was_score:
            add("scorecard_drop", package, before=was_score, after=score)
    return out


def diff_table(old: Reader, new: Reader, previous_id: str | None) -> pa.Table:
    """The ``changes`` table between two snapshots' tables."""
    return contract("changes").table_from_rows(diff_rows(old, new, previous_id))

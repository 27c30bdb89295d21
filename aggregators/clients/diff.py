"""``seckb diff``: what changed between two snapshots, as ``changes`` rows grouped by kind."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from aggregators.core.errors import SeckbError

if TYPE_CHECKING:
    from aggregators.store.snapshots import Snapshot, SnapshotStore

CHANGE_KINDS = (  # the order seckb diff shows them in
    "advisory_added",
    "advisory_changed",
    "advisory_withdrawn",
    "advisory_removed",
    "version_newly_affected",
    "version_no_longer_affected",
    "new_high_findings",
    "bandit_partial",
    "scorecard_drop",
)


def snapshots_to_compare(
    store: SnapshotStore, old_id: str | None, new_id: str | None
) -> tuple[Snapshot, Snapshot]:
    """The (old, new) pair to compare: ``new_id`` or the latest, and ``old_id`` or the snapshot
    created last before the new one. Raise :class:`SeckbError` when there is none."""
    new = store.get(new_id) if new_id else store.latest()
    if new is None:
        from aggregators.store.locations import where

        raise SeckbError(f"no snapshots yet in {where(store)}; run 'seckb ingest' first")
    if old_id:
        return store.get(old_id), new
    created = new.manifest.get("created_at", "")
    earlier = [
        s for s in store.all() if s.id != new.id and s.manifest.get("created_at", "") <= created
    ]
    if not earlier:
        raise SeckbError(f"no snapshot before {new.id} to compare with")
    return earlier[-1], new


def diff(old: Snapshot, new: Snapshot) -> list[dict[str, Any]]:
    """The ``changes`` rows from ``old`` to ``new``."""
    from aggregators.knowledge.changes import diff_rows

    return diff_rows(old.read, new.read, old.id)


def group_changes(rows: Sequence[Mapping[str, Any]]) -> dict[str, list[Mapping[str, Any]]]:
    """Rows by kind of change, in :data:`CHANGE_KINDS` order (unknown kinds last); kinds without
    rows are left out."""
    kinds: dict[str, list[Mapping[str, Any]]] = {kind: [] for kind in CHANGE_KINDS}
    for row in rows:
        kinds.setdefault(row["change"], []).append(row)
    return {kind: items for kind, items in kinds.items() if items}

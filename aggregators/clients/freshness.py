"""How old a snapshot and its sources are, for the warnings of query, audit and recommend."""

from __future__ import annotations

from datetime import datetime, timedelta

from aggregators.store.snapshots import Snapshot


def staleness_warnings(snapshot: Snapshot, max_age: timedelta, now: datetime) -> list[str]:
    """One line per problem: the snapshot, or a source's data, older than ``max_age``; a source
    whose last run failed."""
    warnings: list[str] = []
    created = datetime.fromisoformat(snapshot.manifest["created_at"])
    if now - created > max_age:
        warnings.append(f"snapshot {snapshot.id} is {_age(now - created)} old")
    for name, entry in sorted(snapshot.manifest.get("sources", {}).items()):
        refreshed = entry.get("refreshed_at")
        if entry.get("status") == "failed":
            warnings.append(f"source {name} failed in the last run: {entry.get('error')}")
        if refreshed and now - datetime.fromisoformat(refreshed) > max_age:
            warnings.append(
                f"source {name} data is {_age(now - datetime.fromisoformat(refreshed))} old"
            )
    return warnings


def _age(delta: timedelta) -> str:
    hours = delta.total_seconds() / 3600
    return f"{hours / 24:.1f} days" if hours >= 48 else f"{hours:.0f} hours"

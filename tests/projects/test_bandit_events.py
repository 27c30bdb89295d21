"""A component's release whose Bandit analysis becomes partial, or gains high-severity findings,
is an event; the same analysis on the next snapshot is not."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from kb_snapshots import build_home
from projects.receiver import receiving
from projects.support import add, settings_for

from aggregators.clients.projects.watch import run_after_publish
from aggregators.core.contracts import contract
from aggregators.core.workspace import Workspace
from aggregators.store.snapshots import SnapshotStore


def republish(home: Path, bandit: dict[tuple[str, str], tuple[str, int | None]], tag: str) -> str:
    """Publish the latest snapshot's tables again, with these Bandit results in the knowledge
    table (as a publish after a Bandit run would)."""
    store = SnapshotStore(Workspace(home))
    latest = store.latest()
    assert latest is not None
    tables = {name: table for name in latest.tables if (table := latest.read(name)) is not None}
    rows = tables["package_version_security"].to_pylist()
    for row in rows:
        if (row["package"], row["version"]) in bandit:
            row["bandit_status"], row["bandit_high_findings"] = bandit[
                row["package"], row["version"]
            ]
    tables["package_version_security"] = contract("package_version_security").table_from_rows(rows)
    now = datetime.now(UTC)
    snapshot_id = f"{now:%Y%m%dT%H%M%SZ}-{tag}"
    return store.publish(tables, latest.manifest["sources"], now, latest, snapshot_id).id


def test_new_partial_and_high_severity_bandit_results_are_events(tmp_path: Path) -> None:
    home, _ids = build_home(tmp_path)
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("flask==1.2\nrequests==2.2\n", encoding="utf-8")
    assert add(home, "shop", requirements, "requirements") == "added"
    with receiving() as receiver:
        settings = settings_for(home, str(tmp_path), notify_webhooks=receiver.url)
        first = run_after_publish(settings)
        assert first.counts.get("bandit_partial") is None
        analysed = {("flask", "1.2"): ("partial", 0), ("requests", "2.2"): ("scanned", 3)}
        republish(home, analysed, "b1")
        second = run_after_publish(settings)
        assert second.counts == {"bandit_partial": 1, "bandit_high_findings": 1}
        republish(home, analysed, "b2")
        third = run_after_publish(settings)  # same analyses: re-evaluated, nothing to say
        assert third.reason is not None and third.counts == {}
        events = receiver.received[1].document()["events"]
    assert [(e["event"], e["package"], e["version"]) for e in events] == [
        ("bandit_partial", "flask", "1.2"),
        ("bandit_high_findings", "requests", "2.2"),
    ]
    assert events[0]["reason"] == "Bandit analysis became partial (was not_analysed)"
    assert events[1]["reason"].startswith("3 high-severity, high-confidence Bandit finding(s)")
    assert len(receiver.received) == 2

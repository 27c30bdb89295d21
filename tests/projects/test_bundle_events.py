"""On the real advisory-db: two projects (a CycloneDX SBOM and a requirements file) watched
while the advisory-db moves from 2023-06-06 to 2023-12-23. The events name exactly the
advisories that became applicable in between — checked against an independent reading of the
OSV files — and a loopback webhook receives each run's document once, correctly signed."""

from __future__ import annotations

from pathlib import Path

from projects.receiver import receiving
from projects.support import (
    HEAD,
    OLD,
    add,
    affected_ids,
    bundle_remote,
    cyclonedx,
    move,
    osv_files,
    run,
    settings_for,
    write_json,
)

from aggregators.core.workspace import Workspace
from aggregators.store.projects import ProjectStore
from aggregators.store.views import connect

SECRET = "s3cret-for-the-test"
SHOP = [
    ("Django", "3.2.18"),
    ("aiohttp", "3.8.4"),
    ("urllib3", "1.26.15"),
    ("Pillow", "9.4.0"),
    ("redis", "4.5.5"),
    ("GitPython", "3.1.30"),
    ("langchain", "0.0.200"),
    ("scipy", "1.10.0"),
    ("selenium", "4.9.0"),  # PYSEC-2023-101: added and withdrawn in between: no event
    ("requests", "2.28.0"),
]
API = {
    "apache-airflow": "2.6.1",
    "Flask": "2.2.2",
    "werkzeug": "2.2.2",
    "jupyter_server": "2.6.0",
    "matrix-synapse": "1.85.0",
    "paddlepaddle": "2.4.2",
    "vyper": "0.3.7",
    "django": "4.2.0.post1",  # PyPI does not list it: judged from the ranges
}


def expected_new(remote: Path, components: dict[str, dict[str, str]]) -> set[tuple[str, ...]]:
    """(project, package, version, advisory) that apply at HEAD and did not at OLD."""
    folders = {name for pins in components.values() for name in pins}
    old, new = osv_files(remote, OLD, folders), osv_files(remote, HEAD, folders)
    found = set()
    for project, pins in components.items():
        for package, version in pins.items():
            for advisory in affected_ids(new, package, version) - affected_ids(
                old, package, version
            ):
                found.add((project, package, version, advisory))
    return found


def test_events_name_exactly_the_advisories_that_became_applicable(
    bundle: Path, tmp_path: Path
) -> None:
    remote = bundle_remote(bundle, tmp_path, OLD)
    sbom = cyclonedx(
        SHOP,
        extra=[
            {"type": "library", "name": "libssl", "purl": "pkg:deb/debian/libssl3@3.0.11"},
            {"type": "application", "name": "shop-internal", "version": "1.0"},
        ],
    )
    sbom_path = write_json(tmp_path / "bom.json", sbom)
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("".join(f"{p}=={v}\n" for p, v in API.items()), encoding="utf-8")
    home = tmp_path / "home"
    with receiving() as receiver:
        settings = settings_for(
            home, str(remote), notify_webhooks=receiver.url, notify_secret=SECRET
        )
        assert add(home, "shop", sbom_path, "cyclonedx", "1.0") == "added"
        assert add(home, "api", requirements, "requirements") == "added"
        first = run(settings)
        assert first.reason == "first evaluation"
        assert first.counts["project_added"] == 2

        move(remote, HEAD)
        second = run(settings)
        assert second.reason is not None and second.reason.startswith("new snapshot")
        third = run(settings)  # nothing moved: nothing evaluated, nothing sent
        assert third.reason is None and third.delivery is not None
        assert third.delivery.delivered == []

        deliveries = receiver.received
        assert [d.answered for d in deliveries] == [204, 204]  # each document once
        assert all(d.signature_valid(SECRET) for d in deliveries)
        assert not deliveries[0].signature_valid("another secret")
        documents = [d.document() for d in deliveries]
    assert [d.headers["x-seckb-delivery"] for d in deliveries] == [d["id"] for d in documents]
    assert documents[0]["id"] == first.evaluation_id
    assert documents[1]["id"] == second.evaluation_id
    assert all(d["schema"] == "seckb.events/1" for d in documents)
    assert documents[1]["snapshot"]["advisory_db_commit"] == HEAD
    assert documents[1]["previous_snapshot"] == documents[0]["snapshot"]["id"]

    events = documents[1]["events"]
    normalized = {"shop": {}, "api": {}}  # type: dict[str, dict[str, str]]
    for name, version in SHOP:
        normalized["shop"][name.lower().replace("_", "-")] = version
    for name, version in API.items():
        normalized["api"][name.lower().replace("_", "-")] = version
    newly = {
        (e["project"], e["package"], e["version"], e["advisory_id"])
        for e in events
        if e["event"] == "newly_affected"
    }
    expected = expected_new(remote, normalized)
    assert len(expected) >= 15  # the six months brought real advisories for these pins
    assert newly == expected
    assert all(e["snapshot_id"] == documents[1]["snapshot"]["id"] for e in events)
    retracted = [e for e in events if e["event"] == "retracted"]
    assert [(e["project"], e["package"], e["advisory_id"]) for e in retracted] == [
        ("shop", "redis", "PYSEC-2023-73")
    ]
    assert "withdrawn on 2023-06-06" in retracted[0]["reason"]
    assert not any(e["advisory_id"] == "PYSEC-2023-101" for e in events)  # came and went

    # the table holds the same transitions, each with the snapshot that caused it
    store = ProjectStore(Workspace(home))
    evaluation = store.latest_evaluation()
    assert evaluation is not None and evaluation.id == second.evaluation_id
    table = evaluation.read("project_events").to_pylist()
    assert {(r["project"], r["event"], r["package"], r["advisory_id"]) for r in table} == {
        (e["project"], e["event"], e["package"], e["advisory_id"]) for e in events
    }
    con = connect(Workspace(home).duckdb)
    try:
        rows = con.execute(
            "SELECT count(*), count(DISTINCT evaluation_id) FROM project_events"
        ).fetchone()
        first_seen = con.execute(
            "SELECT project, package, version, advisory_id, first_seen_snapshot "
            "FROM project_findings"
        ).fetchall()
        components = con.execute(
            "SELECT status FROM project_components WHERE package = 'shop-internal'"
        ).fetchone()
    finally:
        con.close()
    assert rows == (len(documents[0]["events"]) + len(events), 2)
    snapshots = [d["snapshot"]["id"] for d in documents]
    assert (
        first_seen
        and {row[:4]: row[4] for row in first_seen}
        == {  # each finding remembers the snapshot it was first seen in
            row[:4]: snapshots[1] if row[:4] in expected else snapshots[0] for row in first_seen
        }
    )
    assert components == ("unknown_package",)

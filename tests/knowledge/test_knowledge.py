"""The knowledge table, the change feed and the resolver API, on a full pipeline run."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta

import pytest
from fakes import Reply, json_reply, make_sdist, pypi_file, serving

from aggregators.clients.freshness import staleness_warnings
from aggregators.clients.lookup import KnowledgeBase
from aggregators.core.config import Settings
from aggregators.core.errors import SeckbError
from aggregators.core.workspace import Workspace
from aggregators.run.ingest import ingest
from aggregators.store.snapshots import SnapshotStore
from helpers import AdvisoryRepo, advisory_yaml

VERSIONS = ("0.12.2", "1.0", "1.1", "1.2", "2.0rc1")


@pytest.fixture
def settings(
    advisory_repo: AdvisoryRepo, make_settings: Callable[..., Settings]
) -> Iterator[Settings]:
    advisory_repo.write("vulns/flask/PYSEC-1.yaml", advisory_yaml("PYSEC-1", fixed="1.0"))
    advisory_repo.write(
        "vulns/flask/PYSEC-2.yaml",
        advisory_yaml(
            "PYSEC-2",
            introduced="1.0",
            fixed="1.1",
            extra="severity:\n- type: CVSS_V3\n  score: "
            "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H\n",
        ),
    )
    advisory_repo.commit()
    with serving() as pypi, serving() as scorecard:
        import hashlib

        releases = {}
        for version in VERSIONS:
            code = "import subprocess\n\ndef run(c):\n    subprocess.call(c, shell=True)\n"
            data = make_sdist("flask", version, {"flask/app.py": code})
            name = f"flask-{version}.tar.gz"
            pypi.routes[f"/packages/{name}"] = Reply(200, data)
            releases[version] = [
                pypi_file(
                    name,
                    sha256=hashlib.sha256(data).hexdigest(),
                    size=len(data),
                    yanked=version == "1.1",
                )
            ]
        pypi.routes["/pypi/flask/json"] = json_reply(
            {
                "info": {
                    "name": "Flask",
                    "version": "1.2",
                    "project_urls": {"Source": "https://github.com/pallets/flask"},
                },
                "last_serial": 1,
                "releases": releases,
            }
        )
        scorecard.routes["/projects/github.com/pallets/flask"] = json_reply(
            {
                "date": "2026-11-20",
                "repo": {"name": "x", "commit": "c"},
                "score": 6.0,
                "scorecard": {"version": "v5", "commit": "s"},
                "checks": [],
            }
        )
        yield make_settings(
            advisory_repo.url,
            pypi_url=pypi.url,
            scorecard_url=scorecard.url,
            http_attempts=2,
            http_backoff_max_seconds=0.01,
        )


def test_knowledge_table_and_api(settings: Settings) -> None:
    report = ingest(settings)
    assert not report.failures
    kb = KnowledgeBase.open(settings.home)
    old = kb.lookup("Flask", "0.12.2.0")  # PEP 503 name, PEP 440 equality
    assert old is not None and old.advisory_ids == ("PYSEC-1",)
    assert old.fixed_in == "1.2"  # 1.0 is affected by PYSEC-2, 1.1 is yanked
    one = kb.lookup("flask", "1.0")
    assert one is not None and one.advisory_ids == ("PYSEC-2",)
    assert one.max_cvss_score == 9.8 and one.max_cvss_rating == "Critical"
    latest = kb.lookup("flask", "1.2")
    assert latest is not None and not latest.vulnerable and latest.fixed_in is None
    assert latest.bandit_status == "scanned" and latest.bandit_high_findings == 1
    assert latest.scorecard_score == 6.0
    yanked = kb.lookup("flask", "1.1")
    assert yanked is not None and yanked.yanked and yanked.bandit_status == "not_analysed"
    assert yanked.bandit_high_findings is None  # not analysed is never clean
    unlisted = kb.lookup("flask", "9.9")  # PyPI does not list it: judged from the advisories
    assert unlisted is not None and not unlisted.listed and not unlisted.vulnerable
    assert kb.lookup("nope", "1.0") is None  # nothing is known of the package
    assert [r.version for r in kb.versions("flask")] == list(VERSIONS)
    many = kb.lookup_many([("flask", "1.0"), ("flask", "0.0"), ("FLASK", "1.2")])
    assert [(m.version, m.listed) if m else None for m in many] == [
        ("1.0", True),
        ("0.0", False),
        ("1.2", True),
    ]
    assert many[1] is not None and many[1].vulnerable  # 0.0 falls in PYSEC-1's range

    rec = kb.recommend("flask")
    assert rec.version == "1.2" and rec.skipped == []
    below = kb.recommend("flask", "<1.2")
    assert below.version is None
    assert below.skipped == [
        ("1.1", "yanked"),
        ("1.0", "affected by PYSEC-2"),
        ("0.12.2", "affected by PYSEC-1"),
    ]
    assert kb.recommend("flask", ">=1.2", prereleases=True).version == "2.0rc1"
    with pytest.raises(SeckbError, match="invalid version specifier"):
        kb.recommend("flask", "=>1")


def test_change_feed(settings: Settings, advisory_repo: AdvisoryRepo) -> None:
    ingest(settings)
    advisory_repo.write(
        "vulns/flask/PYSEC-3.yaml", advisory_yaml("PYSEC-3", introduced="1.2", fixed="2.0")
    )
    advisory_repo.write(
        "vulns/flask/PYSEC-1.yaml",
        advisory_yaml("PYSEC-1", fixed="1.0", withdrawn="2026-11-21T00:00:00Z"),
    )
    advisory_repo.commit()
    report = ingest(settings, "advisories")
    assert report.snapshot is not None
    changes = report.snapshot.read("changes")
    assert changes is not None
    rows = {(r["change"], r["advisory_id"], r["version"]) for r in changes.to_pylist()}
    assert ("advisory_added", "PYSEC-3", None) in rows
    assert ("advisory_withdrawn", "PYSEC-1", None) in rows
    assert ("version_newly_affected", "PYSEC-3", "1.2") in rows
    assert ("version_no_longer_affected", "PYSEC-1", "0.12.2") in rows
    previous = {r["previous_snapshot"] for r in changes.to_pylist()}
    assert len(previous) == 1 and None not in previous


def test_staleness_warnings(settings: Settings) -> None:
    ingest(settings)
    snapshot = SnapshotStore(Workspace(settings.home)).latest()
    assert snapshot is not None
    now = datetime.now(UTC)
    assert staleness_warnings(snapshot, timedelta(hours=48), now) == []
    later = staleness_warnings(snapshot, timedelta(hours=48), now + timedelta(days=3))
    assert any("snapshot" in w and "days old" in w for w in later)
    assert any(w.startswith("source advisories data is") for w in later)


def test_knowledge_base_can_load_only_some_packages(settings: Settings) -> None:
    report = ingest(settings)
    assert report.snapshot is not None
    only = KnowledgeBase(report.snapshot, ["FLASK"])
    assert only.lookup("flask", "1.0") is not None
    assert KnowledgeBase(report.snapshot, ["requests"]).lookup("flask", "1.0") is None
    assert KnowledgeBase(report.snapshot, []).knows("flask") is False

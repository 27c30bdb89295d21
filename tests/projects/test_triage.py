"""Triage: a ``not_affected`` decision silences a finding and its notifications until its date,
or until the advisory changes; decisions go out and come back in as CycloneDX VEX."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from projects.receiver import receiving
from projects.support import settings_for

from aggregators.cli.main import main
from aggregators.clients.audit import AuditOptions
from aggregators.clients.projects.service import show_project
from aggregators.clients.projects.watch import run_after_publish
from aggregators.core.workspace import Workspace
from aggregators.run.ingest import ingest
from aggregators.store.projects import ProjectStore
from aggregators.store.snapshots import SnapshotStore
from helpers import AdvisoryRepo, advisory_yaml

HIGH = "severity:\n- type: CVSS_V3\n  score: CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N\n"


def cli(capsys: pytest.CaptureFixture[str], home: Path, *args: str) -> tuple[int, str]:
    code = main([*args, "--home", str(home)])
    return code, capsys.readouterr().out


@pytest.fixture
def shop(
    advisory_repo: AdvisoryRepo,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    clean_env: None,
) -> Path:
    """A data root with one snapshot (PYSEC-1, High, on flask < 1.0) and the project ``shop``
    (flask 0.12.2, requests 2.0)."""
    advisory_repo.write(
        "vulns/flask/PYSEC-1.yaml", advisory_yaml("PYSEC-1", fixed="1.0", extra=HIGH)
    )
    advisory_repo.commit()
    home = tmp_path / "home"
    ingest(settings_for(home, advisory_repo.url), "advisories")
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("flask==0.12.2\nrequests==2.0\n", encoding="utf-8")
    code, out = cli(capsys, home, "project", "add", "shop", "-r", str(requirements))
    assert code == 0 and "added (revision 1, 2 component(s))" in out
    return home


def test_not_affected_silences_until_its_date(
    shop: Path, advisory_repo: AdvisoryRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    show = ["project", "show", "shop", "--json", "--fail-on", "low", "--allow-unknown"]
    code, out = cli(capsys, shop, *show)
    assert code == 1 and json.loads(out)["exit_code"] == 1  # like audit: High >= low
    code, out = cli(
        capsys,
        shop,
        *("project", "triage", "shop", "CVE-EC-1", "--state", "not_affected"),
        *("--justification", "code_not_reachable", "--reason", "we never call it"),
        *("--until", "2030-01-01"),
    )
    assert (
        code == 0 and "PYSEC-1 (every affected component) is not_affected until 2030-01-01" in out
    )
    code, out = cli(capsys, shop, *show)
    document = json.loads(out)
    assert code == 0 and document["summary"]["failing"] == 0
    flask = document["components"][0]
    assert flask["advisories"] == [] and "triaged not affected: PYSEC-1" in flask["note"]
    finding = flask["findings"][0]
    assert finding["suppressed"] is True and finding["analysis"]["state"] == "not_affected"
    assert finding["analysis"]["reason"] == "we never call it"

    with receiving() as receiver:
        settings = settings_for(shop, advisory_repo.url, notify_webhooks=receiver.url)
        before = run_after_publish(settings, now=datetime(2029, 12, 31, 23, 59, tzinfo=UTC))
        assert before.counts == {"project_added": 1}  # the finding sends nothing
        quiet = run_after_publish(settings, now=datetime(2029, 12, 31, 23, 59, 30, tzinfo=UTC))
        assert quiet.reason is None
        expired = run_after_publish(settings, now=datetime(2030, 1, 1, tzinfo=UTC))
        assert expired.reason == "a triage decision expired (2030-01-01)"
        assert expired.counts == {"newly_affected": 1}
        documents = [d.document() for d in receiver.received]
    assert len(documents) == 2
    event = documents[1]["events"][0]
    assert (event["event"], event["advisory_id"]) == ("newly_affected", "PYSEC-1")
    assert event["reason"] == "the not_affected decision expired on 2030-01-01"

    store = ProjectStore(Workspace(shop))
    snapshot = SnapshotStore(Workspace(shop)).latest()
    assert snapshot is not None
    result, failing = show_project(
        store, "shop", snapshot, AuditOptions("low", True), datetime(2030, 1, 2, tzinfo=UTC)
    )
    assert failing == 1 and result.rows[0].advisories == ["PYSEC-1"]


def test_a_changed_advisory_ends_the_decision(
    shop: Path, advisory_repo: AdvisoryRepo, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ("project", "triage", "shop", "PYSEC-1", "--package", "flask", "--state")
    assert cli(capsys, shop, *args, "false_positive")[0] == 0
    with receiving() as receiver:
        settings = settings_for(shop, advisory_repo.url, notify_webhooks=receiver.url)
        assert run_after_publish(settings).counts == {"project_added": 1}
        text = advisory_yaml("PYSEC-1", fixed="1.0", extra=HIGH).replace(
            "modified: '2023-01-02T00:00:00Z'", "modified: '2024-05-05T00:00:00Z'"
        )
        advisory_repo.write("vulns/flask/PYSEC-1.yaml", text)
        advisory_repo.commit()
        ingest(settings, "advisories")
        report = run_after_publish(settings)
        assert report.counts == {"newly_affected": 1}
        reason = receiver.received[-1].document()["events"][0]["reason"]
    assert reason.startswith("the advisory changed (2024-05-05") and "false_positive" in reason


def test_decisions_round_trip_through_cyclonedx_vex(
    shop: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    triage = ("project", "triage", "shop", "PYSEC-1", "--state")
    assert cli(capsys, shop, *triage, "in_triage")[0] == 0
    assert cli(capsys, shop, *triage, "not_affected", "--reason", "sandboxed")[0] == 0
    code, out = cli(capsys, shop, "project", "vex", "shop")
    vex = json.loads(out)
    assert code == 0 and vex["bomFormat"] == "CycloneDX" and vex["specVersion"] == "1.6"
    [entry] = vex["vulnerabilities"]  # the decision in force, not the whole trail
    assert entry["id"] == "PYSEC-1" and entry["analysis"]["state"] == "not_affected"
    assert entry["analysis"]["detail"] == "sandboxed"
    assert entry["affects"] == [{"ref": "pkg:pypi/flask@0.12.2"}]
    path = tmp_path / "vex.json"
    path.write_text(out, encoding="utf-8")
    requirements = tmp_path / "requirements.txt"
    add = ("project", "add", "other", "-r", str(requirements), "--vex", str(path))
    code, out = cli(capsys, shop, *add)
    assert code == 0 and "imported 1 decision(s)" in out
    code, out = cli(capsys, shop, *add)  # importing again changes nothing
    assert code == 0 and "unchanged" in out and "imported 0 decision(s)" in out
    code, out = cli(capsys, shop, "project", "show", "other", "--json")
    finding = json.loads(out)["components"][0]["findings"][0]
    assert finding["suppressed"] is True and finding["analysis"]["source"] == "vex:vex.json"
    assert ProjectStore(Workspace(shop)).decisions("other")[0]["by"]  # who decided is kept


def test_triage_refuses_what_it_cannot_record(
    shop: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    bad = [
        ("shop", "PYSEC-404", "--state", "not_affected"),
        ("shop", "PYSEC-1", "--state", "not_affected", "--until", "next week"),
        ("shop", "PYSEC-1", "--state", "not_affected", "--justification", "trust me"),
        ("shop", "PYSEC-1", "--state", "not_affected", "--package", "django"),
        ("nope", "PYSEC-1", "--state", "not_affected"),
    ]
    for args in bad:
        assert main(["project", "triage", *args, "--home", str(shop)]) == 2, args
    errors = capsys.readouterr().err
    assert "has no advisory 'PYSEC-404'" in errors and "--until must be a date" in errors
    assert "justification must be one of" in errors and "no component named django" in errors
    assert "no project named 'nope'" in errors
    assert ProjectStore(Workspace(shop)).decisions("shop") == []

"""``seckb project`` and ``seckb ingest`` end to end: add, list, show, remove; the run that
publishes re-evaluates and notifies (webhook and Apprise); errors are one line, exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from projects.receiver import receiving
from projects.support import cyclonedx, write_json

from aggregators.cli.main import main
from helpers import AdvisoryRepo, advisory_yaml


def cli(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    code = main(list(args))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_project_commands_and_the_ingest_that_notifies(
    advisory_repo: AdvisoryRepo,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    clean_env: None,
) -> None:
    advisory_repo.write("vulns/flask/PYSEC-1.yaml", advisory_yaml("PYSEC-1", fixed="1.0"))
    advisory_repo.commit()
    home = str(tmp_path / "home")
    sbom = write_json(tmp_path / "bom.json", cyclonedx([("flask", "0.12.2"), ("idna", "3.4")]))
    with receiving() as receiver:
        monkeypatch.setenv("SECKB_ADVISORY_DB_URL", advisory_repo.url)
        monkeypatch.setenv("SECKB_NOTIFY_WEBHOOKS", receiver.url)
        code, out, _ = cli(capsys, "project", "add", "shop", "--sbom", str(sbom), "--home", home)
        assert code == 0 and "shop: added" in out
        code, out, _ = cli(capsys, "project", "list", "--home", home)
        assert code == 0 and "not evaluated yet" in out and "1 project(s)" in out

        code, out, _ = cli(capsys, "ingest", "--sources", "advisories", "--home", home)
        assert code == 0, out
        assert (
            "projects: 1 re-evaluated (first evaluation): 1 project added, 1 newly affected" in out
        )
        assert "notifications: 1 delivered, 0 document(s) left in the outbox" in out
        assert len(receiver.received) == 1

        code, out, _ = cli(capsys, "ingest", "--sources", "advisories", "--home", home)
        assert code == 0 and "projects:" not in out and len(receiver.received) == 1

    code, out, _ = cli(capsys, "project", "list", "--json", "--home", home)
    listed = json.loads(out)
    [project] = listed["projects"]
    assert project["evaluation"]["findings"] == 1 and listed["outbox"] == {"pending": 0}

    code, out, err = cli(capsys, "project", "show", "shop", "--home", home)
    assert code == 0 and "PYSEC-1" in out and "flask" in out and "idna" in out
    code, out, err = cli(capsys, "project", "show", "shop", "--fail-on", "high", "--home", home)
    assert code == 1 and "failing --fail-on high" in err
    code, out, _ = cli(capsys, "project", "remove", "shop", "--home", home)
    assert code == 0 and "removed" in out
    code, _, err = cli(capsys, "project", "remove", "shop", "--home", home)
    assert code == 2 and "no project named 'shop'" in err


def test_bad_input_is_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], clean_env: None
) -> None:
    home = str(tmp_path / "home")
    broken = tmp_path / "broken.json"
    broken.write_text("{", encoding="utf-8")
    good = write_json(tmp_path / "bom.json", cyclonedx([("flask", "1.0")]))
    cases = [
        (("add", "../x", "--sbom", str(good)), "invalid project name"),
        (("add", "shop", "--sbom", str(broken)), "is not valid JSON"),
        (("add", "shop", "-r", str(tmp_path / "missing.txt")), "cannot read"),
        (("add", "shop", "--sbom", str(good), "--vex", str(broken)), "cannot read the VEX"),
        (("show", "shop"), "no snapshot"),
    ]
    for args, words in cases:
        code, _, err = cli(capsys, "project", *args, "--home", home)
        assert code == 2 and words in err, (args, err)
        assert len(err.strip().splitlines()) == 1
    assert not (tmp_path / "home" / "projects" / "items").exists()


def test_apprise_channels_get_a_summary(
    advisory_repo: AdvisoryRepo,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    clean_env: None,
) -> None:
    pytest.importorskip("apprise")
    advisory_repo.write("vulns/flask/PYSEC-1.yaml", advisory_yaml("PYSEC-1", fixed="1.0"))
    advisory_repo.commit()
    home = str(tmp_path / "home")
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("flask==0.12.2\n", encoding="utf-8")
    with receiving() as receiver:
        apprise_url = receiver.url.replace("http://", "json://")  # Apprise's JSON POST
        monkeypatch.setenv("SECKB_ADVISORY_DB_URL", advisory_repo.url)
        monkeypatch.setenv("SECKB_NOTIFY_APPRISE_URLS", apprise_url)
        assert (
            cli(capsys, "project", "add", "shop", "-r", str(requirements), "--home", home)[0] == 0
        )
        code, out, _ = cli(capsys, "ingest", "--sources", "advisories", "--home", home)
        assert code == 0 and "1 delivered" in out
    [message] = [d.document() for d in receiver.received]
    assert message["title"] == "seckb: 1 project added, 1 newly affected in 1 project(s)"
    assert "shop: flask 0.12.2 affected by PYSEC-1, fixed in 1.0" in message["message"]

"""On the real advisory-db (2023-12 bundle): ``seckb audit`` judges a version PyPI does not list
(``django==2.2.3.post1``) against the advisories' ranges, and agrees with ``seckb query``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aggregators.cli.main import main
from aggregators.clients.lookup import KnowledgeBase
from aggregators.clients.query import query
from aggregators.core.config import load_settings
from aggregators.run.ingest import ingest


def test_unlisted_django_is_vulnerable_in_audit_as_in_query(
    bundle: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], clean_env: None
) -> None:
    home = tmp_path / "home"
    report = ingest(load_settings(env={}, home=home, advisory_db_url=str(bundle)), "advisories")
    assert report.snapshot is not None
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("django==2.2.3.post1\nidna==2.8+local\n", encoding="utf-8")
    args = ["audit", "-r", str(requirements), "--json", "--fail-on", "high", "--allow-unknown"]
    code = main([*args, "--home", str(home)])
    doc = json.loads(capsys.readouterr().out)
    django, idna = doc["packages"]
    answer = query(report.snapshot, "django", "2.2.3.post1")
    assert answer.vulnerable is True
    assert django["status"] == "vulnerable" and django["fails"] is True
    assert django["advisories"] == sorted(m.id for m in answer.advisories)
    assert "PYSEC-2019-11" in django["advisories"]  # CVE-2019-14232, fixed in 2.2.4
    assert django["listed"] is None  # the snapshot has no PyPI data: nothing said either way
    assert "judged from the advisories" in django["note"]
    assert idna["status"] == "unknown_package"  # no advisory of 2023 names idna
    assert code == 1 and doc["exit_code"] == 1

    info = KnowledgeBase(report.snapshot).lookup("Django", "2.2.3.post1")
    assert info is not None and info.listed is False
    assert list(info.advisory_ids) == django["advisories"]

"""``seckb query PACKAGE VERSION`` shows the Bandit analysis of that release (issue 10): a partial
analysis never reads as clean, a release nobody analysed says so."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from fakes import make_sdist, serve_project, serving

from aggregators.cli.main import main
from aggregators.core.config import load_settings
from aggregators.run.ingest import ingest
from helpers import AdvisoryRepo, advisory_yaml

SHELL = "import subprocess\n\n\ndef run(cmd):\n    subprocess.call(cmd, shell=True)\n"
PYTHON2 = 'print "hello"\n'  # Bandit cannot parse it: the release is partial


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """flask 0.5 (not analysed: older than the latest two), 1.0 (scanned, one high finding),
    2.0 (one file analysed with a high finding, one Python 2 file skipped: partial)."""
    root = tmp_path_factory.mktemp("bandit-kb")
    repo = AdvisoryRepo(root / "advisory-db")
    repo.write("vulns/flask/PYSEC-1.yaml", advisory_yaml("PYSEC-1", fixed="1.0"))
    repo.commit()
    sdists = {
        "0.5": make_sdist("flask", "0.5", {"flask/app.py": SHELL}),
        "1.0": make_sdist("flask", "1.0", {"flask/app.py": SHELL}),
        "2.0": make_sdist("flask", "2.0", {"flask/app.py": SHELL, "flask/old.py": PYTHON2}),
    }
    with serving() as pypi:
        serve_project(pypi, "flask", sdists)
        settings = load_settings(
            env={},
            home=root / "home",
            advisory_db_url=repo.url,
            pypi_url=pypi.url,
            scan_latest=2,
        )
        report = ingest(settings, "advisories,pypi,bandit")
    assert not report.failures and report.snapshot is not None
    return root / "home"


@pytest.fixture
def run(home: Path, capsys: pytest.CaptureFixture[str], clean_env: None) -> Any:
    def query(*args: str) -> tuple[str, Any]:
        assert main(["query", *args, "--home", str(home)]) == 0
        out = capsys.readouterr().out
        return out, json.loads(out) if "--json" in args else None

    return query


def test_query_document_has_the_bandit_analysis(run: Any) -> None:
    _, partial = run("flask", "2.0", "--json")
    bandit = partial["bandit"]
    assert set(bandit) == {"status", "reason", "files_analysed", "files_skipped", "high_findings"}
    assert bandit["status"] == "partial" and bandit["reason"]
    assert (bandit["files_analysed"], bandit["files_skipped"]) == (1, 1)
    assert bandit["high_findings"] == 1  # a lower bound: only the analysed file counts
    _, scanned = run("flask", "1.0.0", "--json")  # PEP 440 equality: 1.0.0 is 1.0
    assert scanned["bandit"] == {
        "status": "scanned",
        "reason": None,
        "files_analysed": 1,
        "files_skipped": 0,
        "high_findings": 1,
    }
    _, old = run("flask", "0.5", "--json")
    assert old["bandit"] == {
        "status": "not_analysed",
        "reason": None,
        "files_analysed": None,
        "files_skipped": None,
        "high_findings": None,
    }
    _, unlisted = run("flask", "2.0.post1", "--json")
    assert unlisted["bandit"] is None  # no such release: nothing was analysed
    _, whole = run("flask", "--json")
    assert whole["bandit"] is None  # no version asked


def test_query_text_shows_the_bandit_line(run: Any) -> None:
    out, _ = run("flask", "2.0")
    assert "bandit: partial — 1 of 2 Python file(s) not analysed" in out
    assert "scanned" not in out
    out, _ = run("flask", "1.0")
    assert "bandit: scanned — 1 Python file(s) analysed, 1 high-severity" in out
    out, _ = run("flask", "0.5")
    assert "bandit: not analysed" in out
    out, _ = run("flask", "3.0")
    assert "bandit: not analysed — the snapshot lists no such PyPI release" in out

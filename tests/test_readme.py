"""The manual's promises: its SQL examples run, and CI calls the README's test command."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb
from fakes import json_reply, make_sdist, serve_project, serving

from aggregators.core.config import load_settings
from aggregators.core.workspace import Workspace
from aggregators.run.ingest import ingest
from helpers import ROOT, AdvisoryRepo, advisory_yaml

README = (ROOT / "README.md").read_text(encoding="utf-8")
SQL_PAGE = (ROOT / "docs" / "sql.md").read_text(encoding="utf-8")


def sql_examples() -> list[str]:
    """The statements of the analysts' SQL page (```sql blocks), in order."""
    blocks = re.findall(r"```sql\n(.*?)```", SQL_PAGE, re.DOTALL)
    statements = [s.strip() for block in blocks for s in block.split(";")]
    return [
        s
        for s in statements
        if s and not all(line.strip().startswith("--") for line in s.splitlines())
    ]


def test_readme_sql_examples_run(advisory_repo: AdvisoryRepo, tmp_path: Path) -> None:
    advisory_repo.write(
        "vulns/flask/PYSEC-2018-66.yaml",
        advisory_yaml("PYSEC-2018-66", fixed="0.12.3", versions=("0.12.2",)),
    )
    advisory_repo.commit()
    home = tmp_path / "home"
    with serving() as pypi, serving() as scorecard:
        code = "import subprocess\n\ndef run(cmd):\n    subprocess.call(cmd, shell=True)\n"
        serve_project(
            pypi,
            "flask",
            {"0.12.2": make_sdist("flask", "0.12.2", {"app.py": code})},
            project_urls={"Source": "https://github.com/pallets/flask"},
        )
        scorecard.routes["/projects/github.com/pallets/flask"] = json_reply(
            {
                "date": "2026-11-01",
                "repo": {"name": "x", "commit": "c"},
                "score": 3.0,
                "scorecard": {"version": "v5", "commit": "s"},
                "checks": [],
            }
        )
        settings = load_settings(
            env={},
            home=home,
            advisory_db_url=advisory_repo.url,
            pypi_url=pypi.url,
            scorecard_url=scorecard.url,
        )
        report = ingest(settings)
    assert not report.failures
    statements = sql_examples()
    assert len(statements) >= 9
    con = duckdb.connect(str(Workspace(home).duckdb), read_only=True)
    try:
        results = [con.execute(statement).fetchall() for statement in statements]
    finally:
        con.close()
    assert results[0] == [("PYSEC-2018-66", "both")]
    assert all(isinstance(r, list) for r in results)
    assert [row[:2] for row in results[-1]] == [("flask", 3.0)]  # low Scorecard, vulnerable
    assert any(row[:2] == ("flask", "0.12.2") for row in results[-3])  # shell=True, HIGH/HIGH


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "exec scripts/test.sh" in ci
    assert "scripts/test.sh" in README and "scripts/ingest.sh" in README

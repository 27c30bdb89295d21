"""The README's promises: its SQL examples run, and CI calls its test command."""

from __future__ import annotations

import re
from pathlib import Path

import duckdb

from aggregators.config import load_settings
from aggregators.pipeline import ingest
from aggregators.workspace import Workspace
from helpers import ROOT, AdvisoryRepo, advisory_yaml

README = (ROOT / "README.md").read_text(encoding="utf-8")


def sql_examples() -> list[str]:
    blocks = re.findall(r"```sql\n(.*?)```", README, re.DOTALL)
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
    ingest(load_settings(env={}, home=home, advisory_db_url=advisory_repo.url), "advisories")
    statements = sql_examples()
    assert len(statements) >= 6
    con = duckdb.connect(str(Workspace(home).duckdb), read_only=True)
    try:
        results = [con.execute(statement).fetchall() for statement in statements]
    finally:
        con.close()
    assert results[0] == [("PYSEC-2018-66", "both")]
    assert all(isinstance(r, list) for r in results)


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "exec scripts/test.sh" in ci
    assert "scripts/test.sh" in README and "scripts/ingest.sh" in README

"""``fixed in`` for a package the snapshot has no PyPI release list of: the advisories' own
fixed versions, the lowest that none of them affects, and marked as coming from them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aggregators.cli.main import main
from aggregators.core.config import load_settings
from aggregators.run.ingest import ingest
from helpers import AdvisoryRepo, advisory_yaml


def test_audit_names_the_fix_the_advisories_give(
    advisory_repo: AdvisoryRepo,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    clean_env: None,
) -> None:
    advisory_repo.write("vulns/flask/PYSEC-1.yaml", advisory_yaml("PYSEC-1", fixed="1.0"))
    advisory_repo.write(
        "vulns/flask/PYSEC-2.yaml", advisory_yaml("PYSEC-2", introduced="1.0", fixed="1.1")
    )
    advisory_repo.commit()
    home = tmp_path / "home"
    settings = load_settings(env={}, home=home, advisory_db_url=advisory_repo.url)
    assert ingest(settings, "advisories").snapshot is not None  # no PyPI release list
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("flask==0.9\nflask==1.1\n", encoding="utf-8")
    main(["audit", "-r", str(requirements), "--json", "--home", str(home)])
    rows = json.loads(capsys.readouterr().out)["packages"]
    vulnerable = rows[0]
    assert vulnerable["status"] == "vulnerable"
    # 1.0 fixes PYSEC-1 but PYSEC-2 affects it: the lowest version none affects is 1.1
    assert (vulnerable["fixed_in"], vulnerable["fixed_in_from"]) == ("1.1", "advisories")
    assert "fixed in 1.1 by the advisories' fixed versions" in vulnerable["note"]
    assert rows[1]["status"] == "unknown_package" and rows[1]["fixed_in"] is None
    main(["audit", "-r", str(requirements), "--home", str(home)])
    table = capsys.readouterr().out
    assert "1.1" in table.splitlines()[1]  # the table's "fixed in" column, not "-"

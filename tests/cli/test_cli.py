"""The ``seckb`` command line, run in-process through ``main``."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aggregators.cli.main import main
from helpers import AdvisoryRepo, advisory_yaml

CRITICAL = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"


@pytest.fixture
def home(
    tmp_path: Path, advisory_repo: AdvisoryRepo, monkeypatch: pytest.MonkeyPatch, clean_env: None
) -> Path:
    advisory_repo.write(
        "vulns/flask/PYSEC-2018-66.yaml",
        advisory_yaml("PYSEC-2018-66", fixed="0.12.3", versions=("0.12.2", "0.12")),
    )
    advisory_repo.write(
        "vulns/flask/GHSA-aaaa-bbbb-cccc.yaml",
        advisory_yaml(
            "GHSA-aaaa-bbbb-cccc",
            introduced="2.0",
            fixed="2.2.5",
            extra=f"severity:\n- type: CVSS_V3\n  score: {CRITICAL}\n",
        ),
    )
    advisory_repo.commit()
    monkeypatch.setenv("SECKB_ADVISORY_DB_URL", advisory_repo.url)
    return tmp_path / "home"


def test_ingest_query_snapshots(home: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["ingest", "--home", str(home), "--sources", "advisories"]) == 0
    out = capsys.readouterr().out
    assert "published snapshot" in out and "advisories: updated" in out and "2 new" in out

    assert main(["ingest", "--home", str(home), "--sources", "advisories"]) == 0
    assert "nothing changed" in capsys.readouterr().out

    assert main(["query", "flask", "0.12.2", "--json", "--home", str(home)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["schema"] == "seckb.query/1"
    assert doc["package"] == "flask" and doc["version"] == "0.12.2"
    assert doc["vulnerable"] is True and doc["version_is_pep440"] is True
    assert [a["id"] for a in doc["advisories"]] == ["PYSEC-2018-66"]
    first = doc["advisories"][0]
    assert first["fixed_versions"] == ["0.12.3"] and first["affected_by"] == "both"
    assert set(first) == {
        "id",
        "aliases",
        "summary",
        "published",
        "modified",
        "withdrawn",
        "severity",
        "fixed_versions",
        "affected_by",
        "affected_versions",
        "references",
        "malicious",
        "origin",
        "merged_into",
        "severity_from",
    }

    assert main(["query", "Flask", "--json", "--home", str(home)]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["vulnerable"] is None
    ids = [a["id"] for a in doc["advisories"]]
    assert ids == ["GHSA-aaaa-bbbb-cccc", "PYSEC-2018-66"]  # highest score first
    assert doc["advisories"][0]["severity"]["rating"] == "Critical"
    assert [a["affected_versions"] for a in doc["advisories"]] == [1, 2]

    assert main(["query", "flask", "0.12.3", "--home", str(home)]) == 0
    assert "no known advisory" in capsys.readouterr().out
    assert main(["query", "flask", "2.1", "--home", str(home)]) == 0
    assert "VULNERABLE" in capsys.readouterr().out
    assert main(["query", "nope", "1.0", "--home", str(home)]) == 0
    assert "no advisory names this package" in capsys.readouterr().out
    assert main(["query", "flask", "not a version", "--home", str(home)]) == 0
    assert "not a PEP 440 version" in capsys.readouterr().err

    sql = "SELECT advisory_id FROM vulnerable_versions WHERE version_canonical = '0.12'"
    assert main(["sql", sql, "--json", "--home", str(home)]) == 0
    assert json.loads(capsys.readouterr().out) == [{"advisory_id": "PYSEC-2018-66"}]
    assert main(["sql", "SELECT nope FROM advisories", "--home", str(home)]) == 2
    assert "SQL error" in capsys.readouterr().err

    assert main(["snapshots", "--json", "--home", str(home)]) == 0
    docs = json.loads(capsys.readouterr().out)
    assert len(docs) == 1 and docs[0]["latest"] is True
    assert docs[0]["tables"]["advisories"]["rows"] == 2
    assert main(["snapshots", "--home", str(home)]) == 0
    assert docs[0]["snapshot_id"] in capsys.readouterr().out


def test_errors_are_one_line_with_exit_code_2(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    assert main(["query", "flask", "--home", str(home)]) == 2
    assert "run 'seckb ingest' first" in capsys.readouterr().err

    assert main(["ingest", "--home", str(home), "--sources", "advisories,nope"]) == 2
    assert "unknown source 'nope'" in capsys.readouterr().err

    monkeypatch.setenv("SECKB_ADVISORY_DB_URL", str(tmp_path / "missing.git"))
    assert main(["ingest", "--home", str(home), "--sources", "advisories"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: cannot fetch advisory-db from")
    assert len(err.strip().splitlines()) == 1

    monkeypatch.setenv("SECKB_KEEP_SNAPSHOTS", "zero")
    assert main(["ingest", "--home", str(home), "--sources", "advisories"]) == 2
    assert "invalid value for SECKB_KEEP_SNAPSHOTS" in capsys.readouterr().err


def test_a_failed_first_run_exits_2_and_publishes_nothing(
    home: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SECKB_ADVISORY_DB_URL", str(tmp_path / "unreachable.git"))
    monkeypatch.setenv("SECKB_PYPI_URL", "http://127.0.0.1:9")  # never asked: nothing tracked
    monkeypatch.setenv("SECKB_SCORECARD_URL", "http://127.0.0.1:9")
    assert main(["ingest", "--home", str(home)]) == 2  # the default sources
    captured = capsys.readouterr()
    assert "published" not in captured.out.replace("nothing published", "")
    assert "nothing was published" in captured.err
    assert not (home / "snapshots" / "LATEST").exists()
    assert main(["query", "flask", "--home", str(home)]) == 2
    assert "run 'seckb ingest' first" in capsys.readouterr().err


def test_a_run_that_could_not_publish_says_so_before_any_work(
    home: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Without the advisories source and with no snapshot yet, nothing could be published:
    exit 2 at once, saying how to fix it (before, PyPI and Bandit ran for minutes first)."""
    monkeypatch.setenv("SECKB_PYPI_URL", "http://127.0.0.1:9")  # would fail if it were asked
    assert main(["ingest", "--home", str(home), "--sources", "pypi,bandit"]) == 2
    err = capsys.readouterr().err
    assert "nothing could be published: no snapshot yet in" in err
    assert "run 'seckb ingest --sources advisories,pypi,bandit'" in err
    assert len(err.strip().splitlines()) == 1
    assert not (home / "cache").exists() or not any((home / "cache").rglob("*.tar.gz"))


def test_a_relative_advisory_db_url_works_from_the_callers_directory(
    home: Path, advisory_repo: AdvisoryRepo, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(advisory_repo.path.parent)
    monkeypatch.setenv("SECKB_ADVISORY_DB_URL", advisory_repo.path.name)
    assert main(["ingest", "--home", str(home), "--sources", "advisories"]) == 0

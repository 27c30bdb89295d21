"""``seckb audit -r`` on requirements files pip accepts: includes in every spelling, options,
markers, URL and path requirements, editables and broken lines, against real snapshots."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from kb_snapshots import build_home

from aggregators.cli.main import main

REQUIREMENTS = """\
--index-url https://pypi.example.org/simple
-rbase.txt
-c constraints.txt
flask==1.0 ; python_version < "3.8"
requests==2.0 \\
    --hash=sha256:0123456789abcdef
pkg @ https://example.org/pkg-1.0.tar.gz
./local/path
-e .
flask==1.*
Flask===1.2  # arbitrary equality
flask==
-r missing.txt
--extra-index-url=https://extra.example.org/simple
--hash=sha256:0123456789abcdef
"""


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    return build_home(tmp_path_factory.mktemp("kb"))


@pytest.fixture
def run(data: tuple[Path, list[str]], capsys: pytest.CaptureFixture[str], clean_env: None) -> Any:
    """Run ``seckb audit`` on the first snapshot; return (exit code, stdout, stderr)."""
    home, ids = data

    def audit(*args: str) -> tuple[int, str, str]:
        code = main(["audit", *args, "--home", str(home), "--snapshot", ids[0]])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return audit


@pytest.fixture
def requirements(tmp_path: Path) -> Path:
    (tmp_path / "base.txt").write_text("Flask==1.2\n", encoding="utf-8")
    (tmp_path / "constraints.txt").write_text("requests==2.2\n", encoding="utf-8")
    path = tmp_path / "requirements.txt"
    path.write_text(REQUIREMENTS, encoding="utf-8")
    return path


def test_every_line_is_a_row_or_a_note(run: Any, requirements: Path, tmp_path: Path) -> None:
    code, out, err = run("-r", str(requirements), "--json")
    assert code == 0
    doc = json.loads(out)
    rows = {row["where"].removeprefix(f"{tmp_path}/"): row for row in doc["packages"]}
    assert {where: row["status"] for where, row in rows.items()} == {
        "base.txt:1": "ok",  # -rbase.txt, no space
        "constraints.txt:1": "ok",  # -c
        "requirements.txt:4": "vulnerable",
        "requirements.txt:5": "vulnerable",  # continued with --hash
        "requirements.txt:7": "direct_reference",
        "requirements.txt:8": "direct_reference",
        "requirements.txt:9": "invalid",  # -e .
        "requirements.txt:10": "unpinned",  # a wildcard is no pin
        "requirements.txt:11": "ok",  # === pins
        "requirements.txt:12": "invalid",  # pkg==
        "requirements.txt:13": "invalid",  # a missing include
    }
    assert [row["where"].removeprefix(f"{tmp_path}/") for row in doc["packages"]] == list(rows)
    notes = [note.removeprefix(f"{tmp_path}/") for note in doc["notes"]]
    assert notes == [
        "requirements.txt:1: option --index-url ignored",
        "requirements.txt:2: includes requirements file base.txt",
        "requirements.txt:3: includes constraints file constraints.txt",
        "requirements.txt:14: option --extra-index-url ignored",
        "requirements.txt:15: option --hash ignored",
    ]
    assert all(f"note: {note}" in err for note in doc["notes"])
    # 15 physical lines, 14 logical ones (5-6 joined): 9 rows of this file + 5 notes
    assert sum(r["where"].startswith(str(requirements)) for r in doc["packages"]) == 9

    assert rows["requirements.txt:4"]["marker"] == 'python_version < "3.8"'
    assert rows["requirements.txt:4"]["advisories"] == ["PYSEC-2"]  # audited all the same
    assert all(row["marker"] is None for where, row in rows.items() if where.endswith(":5"))
    pkg, path = rows["requirements.txt:7"], rows["requirements.txt:8"]
    assert (pkg["package"], pkg["version"]) == ("pkg", None)
    assert pkg["note"] == "URL requirement: no version to check"
    assert (path["package"], path["note"]) == (
        "./local/path",
        "path requirement: no version to check",
    )
    editable = rows["requirements.txt:9"]
    assert editable["note"] == "editable requirement: no version to check"
    assert rows["requirements.txt:12"]["package"] == "flask"
    assert (
        rows["requirements.txt:13"]["note"] == "cannot read missing.txt: No such file or directory"
    )
    assert doc["summary"] == {
        "malicious": 0,
        "vulnerable": 2,
        "suspect": 0,
        "suspicious_name": 0,
        "ok": 3,
        "unknown_version": 0,
        "unknown_package": 0,
        "unpinned": 1,
        "direct_reference": 2,
        "invalid": 3,
        "total": 11,
        "failing": 0,
    }


def test_table_shows_markers_and_direct_references(run: Any, requirements: Path) -> None:
    code, out, _ = run("-r", str(requirements))
    assert code == 0
    assert 'marker: python_version < "3.8"' in out
    assert "direct reference" in out and "URL requirement: no version to check" in out
    assert "11 requirement(s):" in out and "2 direct reference" in out


@pytest.mark.parametrize(
    ("allow_unknown", "expected"),
    [(False, 1), (True, 0)],
)
def test_direct_references_fail_like_unknown_entries(
    run: Any, tmp_path: Path, allow_unknown: bool, expected: int
) -> None:
    req = tmp_path / "requirements.txt"
    req.write_text("flask==1.2\npkg @ https://example.org/pkg-1.0.tar.gz\n", encoding="utf-8")
    extra = ["--allow-unknown"] if allow_unknown else []
    code, out, _ = run("-r", str(req), "--fail-on", "critical", "--json", *extra)
    assert code == expected
    doc = json.loads(out)
    assert [(r["status"], r["fails"]) for r in doc["packages"]] == [
        ("ok", False),
        ("direct_reference", not allow_unknown),
    ]
    code, out, err = run("-r", str(req), "--fail-on", "critical", *extra)
    assert code == expected
    if not allow_unknown:
        assert "1 failing --fail-on critical" in err and "direct-reference" in err


def test_include_cycle_is_a_note(run: Any, tmp_path: Path) -> None:
    (tmp_path / "b.txt").write_text("-r requirements.txt\nrequests==2.2\n", encoding="utf-8")
    req = tmp_path / "requirements.txt"
    req.write_text("flask==1.2\n-r b.txt\n", encoding="utf-8")
    code, out, _ = run("-r", str(req), "--json", "--fail-on", "low")
    assert code == 0
    doc = json.loads(out)
    assert [r["status"] for r in doc["packages"]] == ["ok", "ok"]
    assert doc["notes"][-1] == (
        f"{tmp_path}/b.txt:1: include cycle: requirements.txt is already being read"
    )


def test_unreadable_requirements_file_is_a_one_line_error(run: Any, tmp_path: Path) -> None:
    code, out, err = run("-r", str(tmp_path))
    assert code == 2 and out == ""
    assert err.startswith(f"error: cannot read {tmp_path}: ")
    assert len(err.strip().splitlines()) == 1

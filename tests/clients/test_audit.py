"""``seckb audit`` on requirements files and CycloneDX SBOMs, against real snapshots."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from kb_snapshots import build_home

from aggregators.cli.main import main
from aggregators.clients.audit import STATUSES


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    return build_home(tmp_path_factory.mktemp("kb"))


@pytest.fixture
def run(
    data: tuple[Path, list[str]],
    capsys: pytest.CaptureFixture[str],
    clean_env: None,
) -> Any:
    """Run ``seckb audit`` on the first snapshot; return (exit code, stdout, stderr)."""
    home, ids = data

    def audit(*args: str, snapshot: str | None = ids[0]) -> tuple[int, str, str]:
        extra = ["--snapshot", snapshot] if snapshot else []
        code = main(["audit", *args, "--home", str(home), *extra])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return audit


def write(path: Path, text: str) -> Path:
    path.write_text(text, encoding="utf-8")
    return path


def doc_of(out: str) -> dict[str, Any]:
    document: dict[str, Any] = json.loads(out)
    return document


def by_where(doc: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["where"].rsplit("/", 1)[-1]: row for row in doc["packages"]}


def test_requirements_statuses_and_json_schema(run: Any, tmp_path: Path) -> None:
    write(tmp_path / "base.txt", "Flask==1.2\n")
    req = write(
        tmp_path / "requirements.txt",
        "-r base.txt\n"
        "flask==0.12.2  # unscored advisory\n"
        "requests==2.0\n"
        "requests==2.1.0\n"
        "flask>=1.0\n"
        "numpy==1.0\n"
        "flask==9.9\n"
        "flask==not-a-version\n"
        "flask===weird\n",
    )
    code, out, _ = run("-r", str(req), "--json")
    assert code == 0  # no --fail-on: a report only
    doc = doc_of(out)
    assert doc["schema"] == "seckb.audit/1"
    assert set(doc) == {
        "schema",
        "snapshot",
        "source",
        "fail_on",
        "allow_unknown",
        "allow_suspicious",
        "exit_code",
        "summary",
        "packages",
        "notes",
        "warnings",
    }
    assert doc["source"] == {"kind": "requirements", "path": str(req)}
    assert set(doc["snapshot"]) == {"id", "created_at", "advisory_db_commit"}
    rows = by_where(doc)
    assert {where: row["status"] for where, row in rows.items()} == {
        "requirements.txt:2": "vulnerable",
        "requirements.txt:3": "vulnerable",
        "requirements.txt:4": "vulnerable",
        "requirements.txt:5": "unpinned",
        "requirements.txt:6": "unknown_package",
        "requirements.txt:7": "unknown_version",
        "requirements.txt:8": "invalid",
        "requirements.txt:9": "unknown_version",
        "base.txt:1": "ok",  # from the -r include, name normalized
    }
    assert set(rows["requirements.txt:2"]) == {
        "package",
        "version",
        "where",
        "status",
        "advisories",
        "unscored_advisories",
        "max_cvss_score",
        "max_cvss_rating",
        "fixed_in",
        "fixed_in_from",
        "yanked",
        "bandit_status",
        "bandit_high_findings",
        "scorecard_score",
        "listed",
        "marker",
        "note",
        "suspicion",
        "signals",
        "fails",
    }
    old = rows["requirements.txt:2"]
    assert old["advisories"] == ["PYSEC-1"] and old["unscored_advisories"] == ["PYSEC-1"]
    assert old["fixed_in"] == "1.2" and old["bandit_status"] == "not_analysed"
    assert rows["requirements.txt:3"]["max_cvss_rating"] == "Medium"
    assert rows["requirements.txt:4"]["max_cvss_score"] == 1.8  # 2.1.0 == 2.1 under PEP 440
    assert rows["requirements.txt:8"]["package"] == "flask"
    assert "PEP 440" in rows["requirements.txt:9"]["note"]
    assert doc["summary"] == {
        "malicious": 0,
        "vulnerable": 3,
        "suspect": 0,
        "suspicious_name": 0,
        "ok": 1,
        "unknown_version": 2,
        "unknown_package": 1,
        "unpinned": 1,
        "direct_reference": 0,
        "invalid": 1,
        "total": 9,
        "failing": 0,
    }
    assert set(doc["summary"]) == {*STATUSES, "total", "failing"}

    code, out, _ = run("-r", str(req))
    assert code == 0
    for text in ("vulnerable", "unpinned", "unknown package", "unknown version", "invalid"):
        assert text in out
    assert "9 requirement(s)" in out


@pytest.mark.parametrize(
    ("pins", "threshold", "allow_unknown", "expected"),
    [
        ("requests==2.1\n", "low", True, 1),  # Low 1.8
        ("requests==2.1\n", "medium", True, 0),
        ("requests==2.0\n", "medium", True, 1),  # Medium 4.2
        ("requests==2.0\n", "high", True, 0),
        ("flask==1.0\n", "critical", True, 1),  # Critical 9.8
        ("flask==0.12.2\n", "critical", True, 1),  # unscored meets every threshold
        ("flask==1.2\nrequests==2.2\n", "low", True, 0),  # all ok
        ("flask==1.2\nflask>=1\n", "critical", False, 1),  # unpinned fails...
        ("flask==1.2\nflask>=1\n", "critical", True, 0),  # ...unless --allow-unknown
        ("flask==1.2\nnumpy==1.0\n", "low", False, 1),  # unknown package
        ("flask==1.2\nflask==9.9\n", "low", False, 1),  # unknown version
        ("flask==1.2\nflask==not-a-version\n", "low", False, 1),  # invalid line
    ],
)
def test_fail_on_thresholds(
    run: Any, tmp_path: Path, pins: str, threshold: str, allow_unknown: bool, expected: int
) -> None:
    req = write(tmp_path / "requirements.txt", pins)
    args = ["-r", str(req), "--fail-on", threshold, "--json"]
    code, out, _ = run(*args, *(["--allow-unknown"] if allow_unknown else []))
    assert code == expected
    doc = doc_of(out)
    assert doc["exit_code"] == expected and doc["fail_on"] == threshold
    assert doc["summary"]["failing"] == sum(row["fails"] for row in doc["packages"])
    assert (doc["summary"]["failing"] > 0) == bool(expected)


def test_latest_snapshot_by_default(run: Any, tmp_path: Path) -> None:
    req = write(tmp_path / "requirements.txt", "requests==2.1\nrequests==2.2\n")
    code, out, _ = run("-r", str(req), "--json", "--fail-on", "high", snapshot=None)
    doc = doc_of(out)
    assert [r["status"] for r in doc["packages"]] == ["ok", "vulnerable"]  # PYSEC-4 withdrawn
    assert doc["packages"][1]["advisories"] == ["PYSEC-5"] and code == 1


def sbom(components: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "metadata": {"component": {"type": "application", "name": "myapp", "version": "1"}},
        "components": components,
    }


def test_cyclonedx_sbom(run: Any, tmp_path: Path) -> None:
    document = sbom(
        [
            {
                "type": "library",
                "name": "flask",
                "version": "0.12.2",
                "purl": "pkg:pypi/flask@0.12.2",
            },
            {
                "type": "library",
                "bom-ref": "req-ref",
                "name": "Requests",
                "version": "2.2",
                "purl": "pkg:pypi/requests@2.2",
                "components": [{"type": "library", "name": "Flask", "version": "1.2"}],
            },
            {"type": "library", "name": "openssl", "purl": "pkg:deb/debian/openssl@3.0.11"},
            {"type": "library", "name": "left-pad", "purl": "pkg:npm/left-pad@1.3.0"},
            {"type": "library", "name": "numpy", "purl": "pkg:pypi/numpy"},
        ]
    )
    path = write(tmp_path / "bom.json", json.dumps(document))
    code, out, err = run("--sbom", str(path), "--json", "--fail-on", "critical", "--allow-unknown")
    doc = doc_of(out)
    assert doc["source"] == {"kind": "cyclonedx", "path": str(path)}
    got = [(r["package"], r["version"], r["status"]) for r in doc["packages"]]
    assert got == [
        ("myapp", "1", "unknown_package"),  # the SBOM's subject, audited first
        ("flask", "0.12.2", "vulnerable"),
        ("requests", "2.2", "ok"),
        ("flask", "1.2", "ok"),  # nested, name/version only
        ("numpy", None, "unpinned"),  # a purl without a version
    ]
    assert doc["packages"][0]["where"] == f"{path}#metadata.component"
    assert doc["packages"][2]["where"] == f"{path}#req-ref"
    assert doc["notes"] == [
        "the SBOM's subject (metadata.component) myapp audited as the PyPI package myapp 1",
        "ignored 1 non-PyPI component(s) of type deb",
        "ignored 1 non-PyPI component(s) of type npm",
    ]
    assert "note: ignored 1 non-PyPI component(s) of type deb" in err
    assert code == 1  # flask 0.12.2's advisory has no score

    code, out, err = run("--sbom", str(path))
    assert code == 0 and "vulnerable" in out and "note: ignored" in err


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ('{"bomFormat": "CycloneDX", "components": [', "is not valid JSON"),
        ('{"spdxVersion": "SPDX-2.3"}', "is not a CycloneDX JSON document"),
    ],
)
def test_bad_sbom_is_a_one_line_error(run: Any, tmp_path: Path, content: str, message: str) -> None:
    path = write(tmp_path / "bom.json", content)
    code, out, err = run("--sbom", str(path), "--fail-on", "low")
    assert code == 2 and out == ""
    assert err.startswith("error: ") and message in err
    assert len(err.strip().splitlines()) == 1


def test_missing_requirements_file(run: Any, tmp_path: Path) -> None:
    code, _, err = run("-r", str(tmp_path / "nope.txt"))
    assert code == 2 and err.startswith("error: cannot read")


def test_freshness_warnings(
    data: tuple[Path, list[str]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    clean_env: None,
) -> None:
    home = str(data[0])
    req = write(tmp_path / "requirements.txt", "flask==1.2\n")
    commands = [
        ["audit", "-r", str(req)],
        ["recommend", "flask"],
        ["query", "flask", "1.2"],
    ]
    for command in commands:
        assert main([*command, "--home", home]) == 0
        assert "warning:" not in capsys.readouterr().err
    monkeypatch.setenv("SECKB_MAX_AGE_HOURS", "0")
    for command in commands:
        assert main([*command, "--home", home, "--json"]) == 0
        captured = capsys.readouterr()
        assert "warning: snapshot" in captured.err and "old" in captured.err
        assert "warning: source advisories data is" in captured.err
        json.loads(captured.out)  # stdout stays a clean JSON document

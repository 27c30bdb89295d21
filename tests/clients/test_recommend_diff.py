"""``seckb recommend`` and ``seckb diff`` against real snapshots."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from kb_snapshots import build_home

from aggregators.cli.main import main


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    return build_home(tmp_path_factory.mktemp("kb"))


@pytest.fixture
def run(data: tuple[Path, list[str]], capsys: pytest.CaptureFixture[str], clean_env: None) -> Any:
    """Run a ``seckb`` command on the data root; return (exit code, stdout, stderr)."""

    def command(*args: str) -> tuple[int, str, str]:
        code = main([*args, "--home", str(data[0])])
        captured = capsys.readouterr()
        return code, captured.out, captured.err

    return command


def test_recommend_without_specifier(run: Any) -> None:
    code, out, _ = run("recommend", "Flask")
    assert code == 0
    assert "flask: recommend 1.2" in out and "no newer matching release was skipped" in out
    code, out, _ = run("recommend", "flask", "--json")
    doc = json.loads(out)
    assert set(doc) == {
        "schema",
        "snapshot",
        "package",
        "specifier",
        "prereleases",
        "known_package",
        "version",
        "release",
        "skipped",
        "warnings",
    }
    assert doc["schema"] == "seckb.recommend/1" and doc["version"] == "1.2"
    assert doc["release"]["version"] == "1.2" and doc["release"]["vulnerable"] is False
    assert doc["skipped"] == [] and doc["known_package"] is True


def test_recommend_with_specifier_explains_what_was_skipped(run: Any) -> None:
    code, out, _ = run("recommend", "flask", "<1.2", "--json")
    assert code == 1  # nothing qualifies
    doc = json.loads(out)
    assert doc["version"] is None and doc["release"] is None
    assert doc["skipped"] == [
        {"version": "1.1", "reason": "yanked"},
        {"version": "1.0", "reason": "affected by PYSEC-2"},
        {"version": "0.12.2", "reason": "affected by PYSEC-1"},
    ]
    code, out, _ = run("recommend", "flask", "<1.2")
    assert code == 1 and "no version qualifies" in out
    assert "1.1: yanked" in out and "1.0: affected by PYSEC-2" in out

    code, out, _ = run("recommend", "requests", ">=2.1", "--json")
    doc = json.loads(out)  # latest snapshot: PYSEC-4 withdrawn, PYSEC-5 affects 2.2
    assert code == 0 and doc["version"] == "2.1"
    assert doc["skipped"] == [{"version": "2.2", "reason": "affected by PYSEC-5"}]


def test_recommend_prereleases_only_when_asked(run: Any) -> None:
    assert json.loads(run("recommend", "flask", ">=1.2", "--json")[1])["version"] == "1.2"
    code, out, _ = run("recommend", "flask", ">=1.2", "--pre", "--json")
    assert code == 0 and json.loads(out)["version"] == "2.0rc1"
    code, out, _ = run("recommend", "flask", ">1.2", "--json")
    assert code == 1 and json.loads(out)["version"] is None


def test_recommend_unknown_package_and_bad_specifier(run: Any) -> None:
    code, out, _ = run("recommend", "numpy")
    assert code == 1 and "no release of this package" in out
    code, _, err = run("recommend", "flask", "=>1")
    assert code == 2 and err.startswith("error: invalid version specifier")


def test_diff_latest_against_previous(run: Any, data: tuple[Path, list[str]]) -> None:
    first, second = data[1]
    code, out, _ = run("diff", "--json")
    assert code == 0
    doc = json.loads(out)
    assert doc["schema"] == "seckb.diff/1"
    assert set(doc) == {"schema", "old", "new", "counts", "changes"}
    assert doc["old"]["id"] == first and doc["new"]["id"] == second
    got = {(c["change"], c["package"], c["version"], c["advisory_id"]) for c in doc["changes"]}
    assert got == {
        ("advisory_added", None, None, "PYSEC-5"),
        ("advisory_withdrawn", None, None, "PYSEC-4"),
        ("version_newly_affected", "requests", "2.2", "PYSEC-5"),
        ("version_no_longer_affected", "requests", "2.1", "PYSEC-4"),
    }
    assert doc["counts"] == {
        "advisory_added": 1,
        "advisory_withdrawn": 1,
        "version_newly_affected": 1,
        "version_no_longer_affected": 1,
    }
    assert set(doc["changes"][0]) == {
        "change",
        "package",
        "version",
        "advisory_id",
        "old_value",
        "new_value",
    }

    code, out, _ = run("diff")
    assert code == 0 and f"changes from {first} to {second}: 4" in out
    assert "advisory_added (1)" in out and "requests 2.2 PYSEC-5" in out


def test_diff_explicit_ids_and_errors(run: Any, data: tuple[Path, list[str]]) -> None:
    first, second = data[1]
    code, out, _ = run("diff", second, first, "--json")  # backwards
    assert code == 0
    kinds = {(c["change"], c["advisory_id"]) for c in json.loads(out)["changes"]}
    assert ("advisory_removed", "PYSEC-5") in kinds and ("advisory_changed", "PYSEC-4") in kinds
    code, out, _ = run("diff", first, "--json")  # NEW defaults to the latest
    assert json.loads(out)["new"]["id"] == second
    code, _, err = run("diff", "nope")
    assert code == 2 and err.startswith("error: snapshot nope")


def test_diff_needs_two_snapshots(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], clean_env: None
) -> None:
    assert main(["diff", "--home", str(tmp_path / "empty")]) == 2
    assert "run 'seckb ingest' first" in capsys.readouterr().err

"""Versions PyPI does not list are judged against the advisories, as ``seckb query`` judges them,
in ``seckb audit`` and in the lookup API (issue 10: "unknown" never means "clean")."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from kb_snapshots import build_home

import aggregators.clients.lookup as lookup_module
from aggregators.cli.main import main
from aggregators.clients.lookup import KnowledgeBase
from aggregators.clients.query import query
from aggregators.core.workspace import Workspace
from aggregators.store.snapshots import Snapshot, SnapshotStore


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    return build_home(tmp_path_factory.mktemp("kb"))


def snapshot_of(home: Path, snapshot_id: str) -> Snapshot:
    return SnapshotStore(Workspace(home)).get(snapshot_id)


@pytest.fixture
def run(
    data: tuple[Path, list[str]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    clean_env: None,
) -> Any:
    """``seckb audit -r --json`` of some pins on a snapshot: (exit code, document)."""
    home, _ids = data

    def audit(snapshot_id: str, pins: str, *options: str) -> tuple[int, dict[str, Any]]:
        req = tmp_path / "requirements.txt"
        req.write_text(pins, encoding="utf-8")
        where = ["--home", str(home), "--snapshot", snapshot_id]
        code = main(["audit", "-r", str(req), "--json", *options, *where])
        document: dict[str, Any] = json.loads(capsys.readouterr().out)
        return code, document

    return audit


PINS = (
    "flask==0.12.2.post1\n"  # not on PyPI; PYSEC-1 (< 1.0, unscored)
    "flask==1.0+local\n"  # a local build of 1.0; PYSEC-2 (Critical)
    "requests==2.1.post1\n"  # PYSEC-4 (Low) in the first snapshot
    "flask==1.5\n"  # not on PyPI, no advisory affects it
    "flask==1.2\n"  # a listed release, ok
    "flask>=1\n"  # unpinned: never looked up
)


def test_audit_judges_versions_pypi_does_not_list(run: Any, data: tuple[Path, list[str]]) -> None:
    code, doc = run(data[1][0], PINS)
    assert code == 0
    rows = {row["version"] or row["package"]: row for row in doc["packages"]}
    post = rows["0.12.2.post1"]
    assert post["status"] == "vulnerable" and post["listed"] is False
    assert post["advisories"] == ["PYSEC-1"] and post["unscored_advisories"] == ["PYSEC-1"]
    assert post["fixed_in"] == "1.2"  # 1.0 is affected, 1.1 yanked
    assert post["bandit_status"] == "not_analysed" and post["yanked"] is None
    assert "PyPI does not list this version" in post["note"]
    local = rows["1.0+local"]
    assert local["status"] == "vulnerable" and local["listed"] is False
    assert local["advisories"] == ["PYSEC-2"]
    assert (local["max_cvss_score"], local["max_cvss_rating"]) == (9.8, "Critical")
    assert local["fixed_in"] == "1.2" and local["unscored_advisories"] == []
    assert rows["2.1.post1"]["advisories"] == ["PYSEC-4"]
    assert rows["2.1.post1"]["max_cvss_rating"] == "Low"
    clean = rows["1.5"]
    assert clean["status"] == "unknown_version" and clean["listed"] is False
    assert clean["advisories"] == [] and clean["fixed_in"] is None
    assert clean["note"] == "no known advisory affects it, but PyPI does not list it"
    assert rows["1.2"]["status"] == "ok" and rows["1.2"]["listed"] is True
    assert rows["1.2"]["note"] is None
    assert rows["flask"]["status"] == "unpinned" and rows["flask"]["listed"] is None
    assert doc["summary"]["vulnerable"] == 3 and doc["summary"]["unknown_version"] == 1


@pytest.mark.parametrize(
    ("pin", "threshold", "expected"),
    [
        ("flask==1.0+local\n", "critical", 1),  # Critical, though PyPI does not list it
        ("flask==0.12.2.post1\n", "critical", 1),  # unscored meets every threshold
        ("requests==2.1.post1\n", "low", 1),
        ("requests==2.1.post1\n", "medium", 0),  # Low only
        ("flask==1.5\n", "low", 0),  # not affected, unknown allowed
    ],
)
def test_unlisted_versions_fail_on_with_allow_unknown(
    run: Any, data: tuple[Path, list[str]], pin: str, threshold: str, expected: int
) -> None:
    code, doc = run(data[1][0], pin, "--fail-on", threshold, "--allow-unknown")
    assert code == expected == doc["exit_code"]


def test_audit_agrees_with_query(run: Any, data: tuple[Path, list[str]]) -> None:
    home, ids = data
    pins = [
        ("flask", "0.12.2.post1"),
        ("flask", "1.0+local"),
        ("flask", "1.0.post3"),
        ("flask", "1.1a1"),
        ("flask", "1.5"),
        ("requests", "2.1.post1"),
        ("requests", "2.2.post1"),
        ("requests", "3.0.dev0"),
        ("requests", "2.0.0"),
    ]
    for snapshot_id in ids:  # the latest withdraws PYSEC-4 and adds PYSEC-5 (>= 2.2)
        text = "".join(f"{p}=={v}\n" for p, v in pins)
        _, doc = run(snapshot_id, text)
        snapshot = snapshot_of(home, snapshot_id)
        for (package, version), row in zip(pins, doc["packages"], strict=True):
            answer = query(snapshot, package, version)
            assert row["advisories"] == sorted(m.id for m in answer.advisories), (package, version)
            assert (row["status"] == "vulnerable") is answer.vulnerable
    _, doc = run(ids[1], "requests==2.1.post1\nrequests==2.2.post1\n")
    assert [r["status"] for r in doc["packages"]] == ["unknown_version", "vulnerable"]
    assert doc["packages"][1]["advisories"] == ["PYSEC-5"]


def test_lookup_api_judges_unlisted_versions(data: tuple[Path, list[str]]) -> None:
    home, ids = data
    kb = KnowledgeBase.open(snapshot_of(home, ids[0]).path)
    listed = kb.lookup("Flask", "1.2.0")
    assert listed is not None and listed.listed and listed.to_json()["listed"] is True
    local = kb.lookup("flask", "1.0+local")
    assert local is not None and local.listed is False and local.vulnerable
    assert local.version == "1.0+local" and local.advisory_ids == ("PYSEC-2",)
    assert (local.max_cvss_score, local.max_cvss_rating) == (9.8, "Critical")
    assert local.fixed_in == "1.2" and local.yanked is False and local.is_prerelease is False
    assert local.bandit_status == "not_analysed" and local.bandit_high_findings is None
    document = local.to_json()
    assert document["listed"] is False and document["vulnerable"] is True
    clean = kb.lookup("flask", "9.9")
    assert clean is not None and not clean.vulnerable and clean.listed is False
    assert clean.fixed_in is None
    assert kb.lookup("numpy", "1.0") is None  # nothing is known of numpy
    many = kb.lookup_many(
        [("flask", "1.0"), ("flask", "0.0"), ("numpy", "1"), ("requests", "2.1.post1")]
    )
    assert [(m.version, m.listed, m.advisory_ids) if m else None for m in many] == [
        ("1.0", True, ("PYSEC-2",)),
        ("0.0", False, ("PYSEC-1",)),
        None,
        ("2.1.post1", False, ("PYSEC-4",)),
    ]
    only = KnowledgeBase(snapshot_of(home, ids[0]), ["requests"])
    assert only.lookup("flask", "1.0+local") is None  # not among the packages it was opened with
    assert only.lookup("requests", "2.0.post1") is not None


def test_advisories_are_read_lazily_and_only_for_the_asked_packages(
    data: tuple[Path, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    home, ids = data
    calls: list[list[str]] = []
    real = lookup_module.read_package_advisories

    def spy(snapshot: Snapshot, packages: Any) -> Any:
        calls.append(sorted(packages))
        found = real(snapshot, packages)
        assert set(found) <= set(packages)  # only the asked packages' rows were read
        return found

    monkeypatch.setattr(lookup_module, "read_package_advisories", spy)
    kb = KnowledgeBase(snapshot_of(home, ids[1]))
    assert [r is not None and r.listed for r in kb.lookup_many([("flask", "1.0")])] == [True]
    assert calls == []  # listed releases never read the advisory tables
    first = kb.lookup("requests", "2.2.post1")
    assert first is not None and first.advisory_ids == ("PYSEC-5",)
    assert kb.lookup("requests", "2.2.post2") is not None
    assert kb.lookup("flask", "0.1") is not None
    assert calls == [["requests"], ["flask"]]  # once per package

"""More OSV git repositories beside the advisory-db: the OpenSSF malicious-packages layout read
through a partial clone, records merged by id and aliases, each one saying where it came from.

The second repository is built from real records of ossf/malicious-packages kept in
tests/fixtures/malicious-packages (NAMES.tsv says where each came from)."""

from __future__ import annotations

import json
import shutil
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from aggregators.core.config import Settings
from aggregators.core.errors import ConfigError
from aggregators.core.workspace import Workspace
from aggregators.run.ingest import ingest
from aggregators.sources.advisories.repositories import configured_repositories
from aggregators.store.snapshots import SnapshotStore
from helpers import AdvisoryRepo, advisory_yaml

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "malicious-packages"
FOLDERS = "osv/malicious/pypi|osv/withdrawn/pypi"
MakeSettings = Callable[..., Settings]
NPM_RECORD = "osv/malicious/npm/left-pad-evil/MAL-2024-1.json"
HIGH = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N"  # 7.5


def fixture_records() -> list[Path]:
    return sorted(FIXTURES.glob("osv/**/*.json"))


def ossf_repo(root: Path) -> AdvisoryRepo:
    """A repository laid out like ossf/malicious-packages: the fixtures' PyPI records, an npm
    record (outside the folders read), a staging file and a README."""
    repo = AdvisoryRepo(root / "malicious-packages")
    for path in fixture_records():
        repo.write(str(path.relative_to(FIXTURES)), path.read_bytes())
    repo.write(NPM_RECORD, json.dumps({
        "id": "MAL-2024-1", "summary": "Malicious code in left-pad-evil (npm)",
        "details": "x" * 200_000, "modified": "2024-01-01T00:00:00Z",
    }))  # fmt: skip
    staging = FIXTURES / "osv/malicious/pypi/aiohtt/MAL-2023-1578.json"
    repo.write(
        "osv/malicious/pypi/aiohtt/MAL-0000-kam193-b42d4eed37375dfa.json", staging.read_text()
    )
    repo.write("README.md", "malicious packages\n")
    repo.commit("records")
    repo.repo.git.config("uploadpack.allowFilter", "true")  # as GitHub allows
    return repo


def pypa_repo(root: Path) -> AdvisoryRepo:
    """An advisory-db holding litellm's PYSEC record (the malicious record's alias) and an
    unscored requests advisory."""
    repo = AdvisoryRepo(root / "advisory-db")
    repo.write(
        "vulns/litellm/PYSEC-2026-2.yaml",
        advisory_yaml("PYSEC-2026-2", "litellm", versions=("1.82.7", "1.82.8"), fixed=None),
    )
    repo.write("vulns/requests/PYSEC-2023-74.yaml", advisory_yaml("PYSEC-2023-74", "requests"))
    repo.commit()
    return repo


def advisories(settings: Settings) -> dict[str, dict[str, Any]]:
    snapshot = SnapshotStore(Workspace(settings.home)).latest()
    assert snapshot is not None
    table = snapshot.read("advisories")
    assert table is not None
    return {row["id"]: row for row in table.to_pylist()}


def errors(settings: Settings) -> list[dict[str, Any]]:
    snapshot = SnapshotStore(Workspace(settings.home)).latest()
    assert snapshot is not None
    table = snapshot.read("ingest_errors")
    return table.to_pylist() if table is not None else []


@pytest.fixture
def two_repos(tmp_path: Path, make_settings: MakeSettings) -> tuple[Settings, AdvisoryRepo]:
    pypa = pypa_repo(tmp_path)
    ossf = ossf_repo(tmp_path)
    settings = make_settings(pypa.url, osv_repositories=(f"ossf={ossf.url}#{FOLDERS}",))
    return settings, ossf


def test_malicious_records_are_read_through_a_partial_clone(
    two_repos: tuple[Settings, AdvisoryRepo],
) -> None:
    settings, _ossf = two_repos
    report = ingest(settings, "advisories")
    assert not report.failures
    rows = advisories(settings)
    ossf = {i: r for i, r in rows.items() if r["origin"] == "ossf"}
    assert len(ossf) == len(fixture_records()) == 42
    assert all(r["malicious"] for r in ossf.values())
    assert all(r["source_path"].startswith("ossf:osv/") for r in ossf.values())
    withdrawn = sorted(r["id"] for r in ossf.values() if r["withdrawn"] is not None)
    assert withdrawn == ["MAL-2023-8651", "MAL-2024-10183", "MAL-2026-4750", "MAL-2026-4771"]
    assert "MAL-2024-1" not in rows  # npm: outside the folders read
    assert not any("MAL-0000" in r["source_path"] for r in rows.values())  # staging files
    assert rows["PYSEC-2023-74"]["origin"] == "pypa" and not rows["PYSEC-2023-74"]["malicious"]
    # The mirror holds commits and trees, and only the blobs of the folders read.
    mirror = Workspace(settings.home).cache / "osv" / "ossf.git"
    missing = subprocess.run(
        ["git", "-C", str(mirror), "rev-list", "--objects", "--all", "--missing=print"],
        check=True, capture_output=True, text=True,
    ).stdout.split()  # fmt: skip
    absent = {line[1:] for line in missing if line.startswith("?")}
    npm_blob = subprocess.run(
        ["git", "-C", str(mirror), "rev-parse", f"origin/main:{NPM_RECORD}"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    readme = subprocess.run(
        ["git", "-C", str(mirror), "rev-parse", "origin/main:README.md"],
        check=True, capture_output=True, text=True,
    ).stdout.strip()  # fmt: skip
    assert {npm_blob, readme} <= absent


def test_one_issue_is_counted_once_and_says_where_it_came_from(
    two_repos: tuple[Settings, AdvisoryRepo],
) -> None:
    """litellm's MAL-2026-2144 names PYSEC-2026-2 as an alias: it merges into the advisory-db's
    record, which becomes malicious."""
    settings, _ossf = two_repos
    ingest(settings, "advisories")
    rows = advisories(settings)
    assert rows["MAL-2026-2144"]["merged_into"] == "PYSEC-2026-2"
    assert rows["PYSEC-2026-2"]["merged_into"] is None
    assert rows["PYSEC-2026-2"]["malicious"] is True
    assert rows["PYSEC-2026-2"]["origin"] == "pypa"
    others = [r for i, r in rows.items() if i not in ("MAL-2026-2144",)]
    assert all(r["merged_into"] is None for r in others)


def test_a_merged_advisory_takes_its_severity_from_the_record_that_has_one(
    tmp_path: Path, make_settings: MakeSettings
) -> None:
    pypa = pypa_repo(tmp_path)
    ghsa = AdvisoryRepo(tmp_path / "ghsa")
    ghsa.write("advisories/GHSA-aaaa-bbbb-cccc.json", json.dumps({
        "id": "GHSA-aaaa-bbbb-cccc", "aliases": ["PYSEC-2023-74"],
        "modified": "2023-05-01T00:00:00Z",
        "summary": "requests leaks", "severity": [{"type": "CVSS_V3", "score": HIGH}],
        "affected": [{"package": {"ecosystem": "PyPI", "name": "requests"},
                      "ranges": [{"type": "ECOSYSTEM",
                                  "events": [{"introduced": "0"}, {"fixed": "1.0"}]}]}],
    }))  # fmt: skip
    ghsa.commit()
    settings = make_settings(pypa.url, osv_repositories=(f"ghsa={ghsa.url}#advisories",))
    assert not ingest(settings, "advisories").failures
    rows = advisories(settings)
    primary = rows["PYSEC-2023-74"]
    assert (primary["cvss_score"], primary["severity_from"]) == (7.5, "GHSA-aaaa-bbbb-cccc")
    assert rows["GHSA-aaaa-bbbb-cccc"]["merged_into"] == "PYSEC-2023-74"
    assert rows["PYSEC-2026-2"]["severity_from"] is None


def test_new_records_arrive_incrementally_and_a_failed_repository_keeps_its_rows(
    tmp_path: Path, make_settings: MakeSettings
) -> None:
    pypa = pypa_repo(tmp_path)
    ossf = ossf_repo(tmp_path)
    entry = f"ossf={ossf.url}#{FOLDERS}"
    settings = make_settings(pypa.url, osv_repositories=(entry,))
    ingest(settings, "advisories")
    record = json.loads((FIXTURES / "osv/malicious/pypi/aiohtt/MAL-2023-1578.json").read_text())
    record.update(id="MAL-2026-99999", summary="Malicious code in reqeusts (PyPI)")
    record["affected"][0]["package"]["name"] = "reqeusts"
    ossf.write("osv/malicious/pypi/reqeusts/MAL-2026-99999.json", json.dumps(record))
    ossf.delete("osv/malicious/pypi/0-8/MAL-2025-2925.json")
    ossf.commit("one more")
    report = ingest(settings, "advisories")
    assert not report.failures
    rows = advisories(settings)
    assert rows["MAL-2026-99999"]["malicious"] and "MAL-2025-2925" not in rows
    lineage = report.snapshot.manifest["sources"]["advisories"]["lineage"]  # type: ignore[union-attr]
    assert set(lineage["repositories"]) == {"ossf"}  # the advisory-db's fields are at the top
    assert lineage["repositories"]["ossf"]["error"] is None
    # The repository goes away: its rows stay, and the run says they were not synced.
    shutil.rmtree(ossf.path)
    report = ingest(settings, "advisories")
    assert not report.failures
    assert "MAL-2026-99999" in advisories(settings)
    assert any("ossf" in e["reason"] and "not synced" in e["reason"] for e in errors(settings))
    lineage = (
        SnapshotStore(Workspace(settings.home))
        .latest()
        .manifest["sources"]["advisories"]["lineage"]
    )  # type: ignore[union-attr]
    assert lineage["repositories"]["ossf"]["error"]


def test_a_malicious_record_with_no_versions_is_kept_and_judged_whole(
    tmp_path: Path, make_settings: MakeSettings
) -> None:
    pypa = pypa_repo(tmp_path)
    repo = AdvisoryRepo(tmp_path / "extra")
    repo.write("osv/malicious/pypi/evil/MAL-2026-7.json", json.dumps({
        "id": "MAL-2026-7", "summary": "Malicious code in evil (PyPI)",
        "modified": "2026-01-01T00:00:00Z",
        "affected": [{"package": {"ecosystem": "PyPI", "name": "evil"}}],
    }))  # fmt: skip
    repo.commit()
    settings = make_settings(pypa.url, osv_repositories=(f"extra={repo.url}#osv/malicious/pypi",))
    assert not ingest(settings, "advisories").failures
    row = advisories(settings)["MAL-2026-7"]
    assert row["malicious"] and row["origin"] == "extra"
    assert [e for e in errors(settings) if e["advisory_id"] == "MAL-2026-7"]


@pytest.mark.parametrize(
    ("entry", "message"),
    [
        ("ossf=https://example.invalid/x.git", "names no folder"),
        ("https://example.invalid/x.git#osv", "is not name=url"),
        ("pypa=https://example.invalid/x.git#osv", "must be lowercase"),
        ("Bad Name=https://example.invalid/x.git#osv", "must be lowercase"),
        ("ossf=https://example.invalid/x.git#../etc", "is not allowed"),
        ("ossf=https://example.invalid/x.git#-c", "is not allowed"),
    ],
)
def test_a_bad_repository_entry_is_refused_clearly(
    make_settings: MakeSettings, entry: str, message: str
) -> None:
    settings = make_settings("https://example.invalid/advisory-db.git", osv_repositories=(entry,))
    with pytest.raises(ConfigError, match=message):
        configured_repositories(settings)


def test_a_repository_named_twice_is_refused(make_settings: MakeSettings) -> None:
    entry = "ossf=https://example.invalid/x.git#osv"
    settings = make_settings("https://example.invalid/a.git", osv_repositories=(entry, entry))
    with pytest.raises(ConfigError, match="twice"):
        configured_repositories(settings)

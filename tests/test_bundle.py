"""End-to-end on the real PyPA advisory-db (git bundle in ../shared/data, 2023-12-23)."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

import pytest

import aggregators.sources.advisories.fastyaml as fastyaml
from aggregators.clients.query import query
from aggregators.core.config import Settings
from aggregators.run.ingest import ingest
from aggregators.sources.advisories.osv import parse_advisory
from aggregators.store.snapshots import Snapshot

HEAD = "46bc8dad4f88a118785f37497f5802db364974a5"


def git(*args: str, cwd: Path | None = None) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout


@pytest.fixture(scope="module")
def snapshot(tmp_path_factory: pytest.TempPathFactory) -> Snapshot:
    from aggregators.core.config import load_settings
    from helpers import BUNDLE

    if not BUNDLE.is_file():
        pytest.skip(f"real advisory-db bundle not found at {BUNDLE}")
    home = tmp_path_factory.mktemp("bundle-home")
    report = ingest(load_settings(env={}, home=home, advisory_db_url=str(BUNDLE)), "advisories")
    assert report.snapshot is not None
    return report.snapshot


def bundle_files(bundle: Path, tmp_path: Path) -> list[str]:
    clone = tmp_path / "listing"
    git("clone", "-q", "--bare", str(bundle), str(clone))
    out = git("ls-tree", "-r", "--name-only", HEAD, "vulns", cwd=clone)
    return [p for p in out.splitlines() if p.endswith(".yaml")]


def test_counts_match_the_bundle(snapshot: Snapshot, bundle: Path, tmp_path: Path) -> None:
    files = bundle_files(bundle, tmp_path)
    assert len(files) == 2541
    advisories = snapshot.read("advisories")
    assert advisories is not None
    assert advisories.num_rows == len(files)
    assert sorted(advisories.column("source_path").to_pylist()) == sorted(files)
    packages = snapshot.read("advisory_packages")
    assert packages is not None
    assert len(set(packages.column("package").to_pylist())) == 626
    withdrawn = [w for w in advisories.column("withdrawn").to_pylist() if w is not None]
    assert len(withdrawn) == 9
    errors = snapshot.read("ingest_errors")
    assert errors is not None
    assert "error" not in errors.column("level").to_pylist()
    lineage = snapshot.manifest["sources"]["advisories"]["lineage"]
    assert lineage["commit"] == HEAD and lineage["branch"] == "main"
    snapshot.verify()


def test_facts_read_in_the_files(snapshot: Snapshot) -> None:
    vulnerable = query(snapshot, "flask", "0.12.2")
    assert "PYSEC-2018-66" in [m.id for m in vulnerable.advisories]
    fixed = query(snapshot, "flask", "0.12.3")
    assert "PYSEC-2018-66" not in [m.id for m in fixed.advisories]
    match = next(m for m in vulnerable.advisories if m.id == "PYSEC-2018-66")
    assert match.fixed_versions == ["0.12.3"]
    assert "CVE-2018-1000656" in match.aliases
    # PEP 440 equality: django 2.2.0 is 2.2
    assert [m.id for m in query(snapshot, "django", "2.2.0").advisories] == [
        m.id for m in query(snapshot, "django", "2.2").advisories
    ]
    assert query(snapshot, "django", "2.2").vulnerable is True
    advisories = snapshot.read("advisories")
    assert advisories is not None
    scored = [s for s in advisories.column("cvss_score").to_pylist() if s is not None]
    assert len(scored) >= 100 and all(0.0 <= s <= 10.0 for s in scored)


def test_incremental_update_equals_full_ingest(
    bundle: Path, tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    remote = tmp_path / "remote"
    git("clone", "-q", "--bare", str(bundle), str(remote))
    old = git("rev-parse", f"{HEAD}~300", cwd=remote).strip()
    git("update-ref", "refs/heads/main", old, cwd=remote)
    settings = make_settings(str(remote))
    first = ingest(settings, "advisories").results["advisories"]
    assert first.lineage["commit"] == old and first.lineage["mode"] == "full"

    git("update-ref", "refs/heads/main", HEAD, cwd=remote)
    second = ingest(settings, "advisories").results["advisories"]
    assert second.lineage["mode"] == "incremental"
    changed = git("diff", "--name-only", "--no-renames", old, HEAD, "--", "vulns", cwd=remote)
    assert 0 < second.stats["files_parsed"] <= len(changed.splitlines()) + second.stats["warnings"]
    assert second.stats["files_parsed"] < 2541

    full = make_settings(str(remote), home=tmp_path / "full")
    ingest(full, "advisories")
    from aggregators.core.workspace import Workspace
    from aggregators.store.snapshots import SnapshotStore

    inc_snap = SnapshotStore(Workspace(settings.home)).latest()
    full_snap = SnapshotStore(Workspace(full.home)).latest()
    assert inc_snap is not None and full_snap is not None
    for name in (
        "advisories",
        "advisory_packages",
        "advisory_ranges",
        "affected_versions",
        "ingest_errors",
    ):
        a, b = inc_snap.read(name), full_snap.read(name)
        assert a is not None and b is not None
        if name == "advisories":
            a, b = a.drop_columns(["source_commit"]), b.drop_columns(["source_commit"])
        assert a.equals(b), name


def test_fast_yaml_path_parses_every_real_file_like_libyaml(
    bundle: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    if fastyaml.ryml is None:
        pytest.skip("rapidyaml is not installed")
    clone = tmp_path / "parity"
    git("clone", "-q", str(bundle), str(clone))
    paths = sorted((clone / "vulns").rglob("*.yaml"))
    fast = [parse_advisory(str(p), p.read_bytes(), HEAD) for p in paths]
    fast_used = sum(1 for p in paths if fastyaml.fast_path_applies(p.read_bytes()))
    assert fast_used > 2400  # the fast path is really taken
    monkeypatch.setattr(fastyaml, "ryml", None)
    reference = [parse_advisory(str(p), p.read_bytes(), HEAD) for p in paths]
    for a, b in zip(fast, reference, strict=True):
        assert (a.advisory, a.packages, a.events, a.errors) == (
            b.advisory,
            b.packages,
            b.events,
            b.errors,
        ), a.path

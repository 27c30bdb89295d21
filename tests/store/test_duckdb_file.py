"""``seckb.duckdb`` for analysts: opened by the DuckDB CLI from PyPI, every contract table
present, and views that keep working after the data root is moved or copied."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import duckdb
import pytest
from full_home import build_full_home

from aggregators.core.config import load_settings
from aggregators.core.contracts import published_contracts
from aggregators.core.workspace import Workspace
from aggregators.run.ingest import ingest
from aggregators.store.snapshots import SnapshotStore
from aggregators.store.views import connect
from helpers import AdvisoryRepo, advisory_yaml

DUCKDB_CLI = Path(sys.executable).with_name("duckdb")


@pytest.fixture(scope="module")
def full_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_full_home(tmp_path_factory.mktemp("full"))


@pytest.fixture
def advisories_only(advisory_repo: AdvisoryRepo, tmp_path: Path) -> Path:
    """A data root where only the advisories source ever ran (PyPI, Bandit, Scorecard never)."""
    advisory_repo.write("vulns/flask/PYSEC-1.yaml", advisory_yaml("PYSEC-1", versions=("0.1",)))
    advisory_repo.commit()
    settings = load_settings(env={}, home=tmp_path / "home", advisory_db_url=advisory_repo.url)
    assert ingest(settings, "advisories").published
    return settings.home


def duckdb_cli(database: Path, sql: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """The real DuckDB CLI (``pip install duckdb-cli``), read-only, CSV out."""
    if not DUCKDB_CLI.is_file():
        pytest.skip("the duckdb-cli package is not installed (pip install -e .[dev])")
    return subprocess.run(
        [str(DUCKDB_CLI), "-readonly", "-csv", "-noheader", str(database), "-c", sql],
        capture_output=True,
        text=True,
        cwd=cwd,
        timeout=60,
    )


def test_the_duckdb_cli_from_pypi_opens_the_database(full_home: Path, tmp_path: Path) -> None:
    version = subprocess.run([str(DUCKDB_CLI), "--version"], capture_output=True, text=True)
    assert version.stdout.startswith("v1."), version.stdout  # a 1.x CLI, not this DuckDB 2
    done = duckdb_cli(
        Workspace(full_home).duckdb,
        "SELECT count(*) FROM advisories; SELECT package, max_cvss_score FROM "
        "package_version_security WHERE advisory_count > 0 ORDER BY 2 DESC LIMIT 1;",
        cwd=tmp_path,  # any directory
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["3", "flask,7.5"]


def test_views_survive_copying_and_moving_the_data_root(full_home: Path, tmp_path: Path) -> None:
    copy = tmp_path / "restored" / "elsewhere"
    shutil.copytree(full_home, copy)
    moved = tmp_path / "moved"
    shutil.copytree(full_home, tmp_path / "to-move")
    (tmp_path / "to-move").rename(moved)
    query = "SELECT count(*) FROM affected_versions"
    expected = duckdb.connect(str(Workspace(full_home).duckdb), read_only=True).execute(query)
    rows = expected.fetchall()
    for root in (copy, moved):
        # Python, opened as anyone would, from another directory
        con = duckdb.connect(str(root / "seckb.duckdb"), read_only=True)
        try:
            assert con.execute(query).fetchall() == rows
            assert (
                con.execute("SELECT path FROM seckb_snapshot").fetchone()[0].startswith(str(root))
            )
        finally:
            con.close()
        # the DuckDB CLI, from the root itself and from elsewhere
        for where in (root, tmp_path):
            done = duckdb_cli(root / "seckb.duckdb", query, cwd=where)
            assert done.returncode == 0, done.stderr
            assert done.stdout.strip() == str(rows[0][0])
    # the copy reads its own files, not the original's: break the original and ask again
    for parquet in (full_home / "snapshots").glob("*/affected_versions.parquet"):
        parquet.rename(parquet.with_suffix(".hidden"))
    try:
        con = connect(copy / "seckb.duckdb")
        assert con.execute(query).fetchall() == rows
        con.close()
    finally:
        for hidden in (full_home / "snapshots").glob("*/affected_versions.hidden"):
            hidden.rename(hidden.with_suffix(".parquet"))


def test_attached_into_another_database_with_the_home_variable(full_home: Path) -> None:
    con = duckdb.connect()
    con.execute(f"SET VARIABLE seckb_home = '{full_home}'")
    con.execute(f"ATTACH '{full_home / 'seckb.duckdb'}' AS kb (READ_ONLY)")
    assert con.execute("SELECT count(*) FROM kb.advisories").fetchone() == (3,)


def test_every_contract_table_exists_when_a_source_never_succeeded(
    advisories_only: Path, tmp_path: Path
) -> None:
    snapshot = SnapshotStore(Workspace(advisories_only)).latest()
    assert snapshot is not None
    published = {c.table for c in published_contracts()}
    assert "bandit_cache" not in published  # internal: never in a snapshot
    assert set(snapshot.tables) | set(snapshot.placeholders) == published
    assert {"scorecards", "releases", "bandit_scans"} <= set(snapshot.placeholders)
    snapshot.verify()  # placeholders are files with a sha256 like any table
    for name in snapshot.placeholders:
        assert (snapshot.path / f"{name}.parquet").is_file()
        assert snapshot.read(name) is None  # for the pipeline: nothing to carry forward
    con = connect(Workspace(advisories_only).duckdb)
    try:
        for name in sorted(published):
            assert con.execute(f'SELECT count(*) FROM "{name}"').fetchone() is not None, name
        assert con.execute("SELECT count(*) FROM scorecards").fetchone() == (0,)
        columns = [r[0] for r in con.execute("DESCRIBE scorecards").fetchall()]
        assert "score" in columns and "repository" in columns
    finally:
        con.close()
    done = duckdb_cli(
        Workspace(advisories_only).duckdb, "SELECT count(*) FROM scorecards", tmp_path
    )
    assert done.returncode == 0 and done.stdout.strip() == "0", done.stderr


def test_a_snapshot_published_before_placeholders_still_gets_every_view(
    advisories_only: Path,
) -> None:
    """An older snapshot (no placeholders in its manifest): the views stand in empty tables."""
    from aggregators.store.views import refresh

    store = SnapshotStore(Workspace(advisories_only))
    snapshot = store.latest()
    assert snapshot is not None
    manifest = {k: v for k, v in snapshot.manifest.items() if k != "placeholders"}
    older = type(snapshot)(snapshot.id, snapshot.path, manifest)
    database = advisories_only / "older.duckdb"
    refresh(database, older)
    con = connect(database)
    try:
        assert con.execute("SELECT count(*) FROM bandit_findings").fetchone() == (0,)
    finally:
        con.close()


def test_the_manual_says_how_to_open_the_database() -> None:
    readme = (Path(__file__).resolve().parents[2] / "docs" / "sql.md").read_text(encoding="utf-8")
    assert "duckdb ~/.local/share/seckb/seckb.duckdb" in readme
    assert "SET VARIABLE seckb_home" in readme

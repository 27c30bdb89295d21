"""Readers everywhere open a published location by URL: ``--from s3://…`` (or
``SECKB_SNAPSHOT_URL``) on query, audit, recommend, diff, snapshots, sql and serve, and the
Python API. They verify what they download and download each table once."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from kb_snapshots import build_home

from aggregators.cli.main import main
from aggregators.clients.lookup import KnowledgeBase
from aggregators.clients.server.holder import SnapshotHolder
from aggregators.core.config import load_settings
from aggregators.core.remote_objects import RemoteObjects
from aggregators.core.workspace import Workspace
from aggregators.store.locations import open_store


@pytest.fixture
def published(store_url: str, tmp_path: Path, clean_env: None) -> tuple[str, list[str]]:
    """Two snapshots (kb_snapshots) published by a worker to the S3 store."""
    home, ids = build_home(tmp_path / "publisher", store_url=store_url, http_attempts=2)
    assert not (home / "snapshots" / "LATEST").exists()  # nothing published on its disk
    return store_url, ids


@pytest.fixture
def downloads(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every object a reader downloads."""
    seen: list[str] = []
    real = RemoteObjects.download

    def counting(self: RemoteObjects, key: str, dest: Path) -> bool:
        seen.append(key)
        return real(self, key, dest)

    monkeypatch.setattr(RemoteObjects, "download", counting)
    yield seen


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, Any]:
    code = main(list(argv))
    out = capsys.readouterr().out
    try:
        return code, json.loads(out)
    except json.JSONDecodeError:
        return code, out


def test_the_commands_read_a_store_by_url_and_download_each_table_once(
    published: tuple[str, list[str]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    downloads: list[str],
) -> None:
    url, (first, second) = published
    home = ["--home", str(tmp_path / "reader")]
    code, listed = run(capsys, "snapshots", "--json", "--from", url, *home)
    assert code == 0 and [(s["snapshot_id"], s["latest"]) for s in listed] == [
        (first, False),
        (second, True),
    ]
    code, doc = run(capsys, "query", "requests", "2.2", "--json", "--from", url, *home)
    assert code == 0 and doc["vulnerable"] and doc["snapshot"]["id"] == second
    assert [a["id"] for a in doc["advisories"]] == ["PYSEC-5"]
    fetched = len(downloads)
    assert fetched > 0
    code, again = run(capsys, "query", "requests", "2.2", "--json", "--from", url, *home)
    assert again == doc and len(downloads) == fetched  # cached by sha256: nothing downloaded
    code, rec = run(capsys, "recommend", "requests", "--json", "--from", url, *home)
    assert code == 0 and rec["version"] == "2.1"
    requirements = tmp_path / "requirements.txt"
    requirements.write_text("requests==2.2\nflask==1.2\n")
    code, audit = run(
        capsys, "audit", "-r", str(requirements), "--fail-on", "low", "--json", "--from", url, *home
    )
    assert code == 1 and audit["summary"]["vulnerable"] == 1
    code, diff = run(capsys, "diff", "--json", "--from", url, *home)
    assert code == 0 and (diff["old"]["id"], diff["new"]["id"]) == (first, second)
    assert "advisory_added" in {c["change"] for c in diff["changes"]}
    code, older = run(
        capsys, "query", "requests", "2.2", "--json", "--from", f"{url}/snapshots/{first}", *home
    )
    assert code == 0 and older["snapshot"]["id"] == first and not older["vulnerable"]


def test_sql_builds_a_local_database_over_the_remote_snapshot(
    published: tuple[str, list[str]],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    downloads: list[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    url, (_, second) = published
    monkeypatch.setenv("SECKB_SNAPSHOT_URL", url)  # instead of --from
    home = ["--home", str(tmp_path / "reader")]
    query = "SELECT snapshot_id, (SELECT count(*) FROM advisories) AS n FROM seckb_snapshot"
    code, rows = run(capsys, "sql", query, "--json", *home)
    assert code == 0 and rows == [{"snapshot_id": second, "n": 5}]
    fetched = len(downloads)
    code, rows = run(capsys, "sql", "SELECT count(*) AS n FROM affected_versions", "--json", *home)
    assert code == 0 and rows[0]["n"] > 0
    assert len(downloads) == fetched  # the database is current: nothing downloaded again


def test_the_python_api_and_the_server_read_a_store_by_url(
    published: tuple[str, list[str]], tmp_path: Path
) -> None:
    url, (first, second) = published
    settings = load_settings(env={}, home=tmp_path / "reader", snapshot_url=url)
    kb = KnowledgeBase.open(url, settings)
    info = kb.lookup("requests", "2.2")
    assert kb.snapshot.id == second and info is not None and info.advisory_ids == ("PYSEC-5",)
    assert KnowledgeBase.open(settings=settings).snapshot.id == second  # SECKB_SNAPSHOT_URL
    holder = SnapshotHolder(Workspace(settings.home), store=open_store(settings))
    holder.open()
    assert holder.view is not None and holder.view.id == second
    pinned = SnapshotHolder(Workspace(settings.home), first, store=open_store(settings))
    pinned.open()
    assert pinned.view is not None and pinned.view.id == first

"""The server follows the data: a newly published snapshot is served without a restart and
without failing a request in flight; a half-published or damaged one is never served."""

from __future__ import annotations

import json
import os
import shutil
import threading
import time
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from typing import Any

import requests
from server.support import running, serving_home

from aggregators.clients.server.app import create_app
from aggregators.clients.server.holder import SnapshotHolder
from aggregators.clients.server.view import View, build_view
from aggregators.core.config import Settings
from aggregators.core.workspace import Workspace
from aggregators.run.ingest import ingest
from aggregators.store.snapshots import Snapshot
from helpers import AdvisoryRepo, advisory_yaml

QUERY = {"package": {"name": "flask", "ecosystem": "PyPI"}, "version": "0.5"}


def publish(repo: AdvisoryRepo, settings: Settings, *ids: str) -> str:
    """Commit advisories ``ids`` (each affecting flask < 1.0) and publish a snapshot."""
    for advisory_id in ids:
        repo.write(f"vulns/flask/{advisory_id}.yaml", advisory_yaml(advisory_id, fixed="1.0"))
    repo.commit()
    report = ingest(settings, "advisories")
    assert report.snapshot is not None
    return report.snapshot.id


def answer(url: str, session: requests.Session | None = None) -> tuple[int, tuple[str, ...]]:
    response = (session or requests).post(f"{url}/v1/query", data=json.dumps(QUERY), timeout=10)
    found = tuple(v["id"] for v in response.json().get("vulns", [])) if response.ok else ()
    return response.status_code, found


def served_id(url: str) -> str:
    snapshot_id: str = requests.get(f"{url}/healthz", timeout=10).json()["snapshot"]["id"]
    return snapshot_id


def wait_for(condition: Callable[[], bool], seconds: float = 15) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_new_snapshots_are_served_without_failing_requests(
    advisory_repo: AdvisoryRepo, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(advisory_repo.url)
    first = publish(advisory_repo, settings, "PYSEC-1")
    with serving_home(settings.home, poll_seconds=0.05) as url:
        stop = threading.Event()
        seen: list[tuple[int, tuple[str, ...]]] = []

        def client() -> None:
            with requests.Session() as session:
                while not stop.is_set():
                    seen.append(answer(url, session))

        clients = [threading.Thread(target=client) for _ in range(4)]
        for thread in clients:
            thread.start()
        time.sleep(0.3)
        second = publish(advisory_repo, settings, "PYSEC-2")
        wait_for(lambda: served_id(url) == second)
        third = publish(advisory_repo, settings, "PYSEC-3")
        wait_for(lambda: served_id(url) == third)
        time.sleep(0.3)
        stop.set()
        for thread in clients:
            thread.join(timeout=30)
    assert first != second != third
    assert len(seen) > 50
    assert {status for status, _ in seen} == {200}  # no request failed across two switches
    assert {found for _, found in seen} == {
        ("PYSEC-1",),
        ("PYSEC-1", "PYSEC-2"),
        ("PYSEC-1", "PYSEC-2", "PYSEC-3"),
    }
    assert seen[-1][1] == ("PYSEC-1", "PYSEC-2", "PYSEC-3")


def point_latest(home: Path, snapshot_id: str) -> None:
    temp = home / "snapshots" / ".LATEST.test.tmp"
    temp.write_text(snapshot_id + "\n", encoding="utf-8")
    os.replace(temp, home / "snapshots" / "LATEST")


def test_a_damaged_or_half_published_snapshot_is_never_served(
    advisory_repo: AdvisoryRepo, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(advisory_repo.url)
    home = settings.home
    first = publish(advisory_repo, settings, "PYSEC-1")
    with serving_home(home, poll_seconds=0.05, retry_seconds=0.2) as url:
        # A copy of the snapshot whose table no longer matches its manifest (a half-written file)
        damaged = home / "snapshots" / "20990101T000000Z-dead00"
        shutil.copytree(home / "snapshots" / first, damaged)
        table = damaged / "osv_records.parquet"
        good = table.read_bytes()
        table.write_bytes(good[: len(good) // 2])
        point_latest(home, damaged.name)
        wait_for(
            lambda: requests.get(f"{url}/healthz", timeout=10).json()["reload_error"] is not None
        )
        health = requests.get(f"{url}/healthz", timeout=10).json()
        assert health["snapshot"]["id"] == first and health["latest"] == damaged.name
        assert "does not match its manifest" in health["reload_error"]
        assert answer(url) == (200, ("PYSEC-1",))
        # LATEST naming a snapshot whose directory is not there (yet)
        point_latest(home, "20990101T000000Z-absent")
        wait_for(
            lambda: (
                "absent"
                in (requests.get(f"{url}/healthz", timeout=10).json()["reload_error"] or "")
            )
        )
        assert served_id(url) == first and answer(url) == (200, ("PYSEC-1",))
        # once complete, the snapshot is served
        table.write_bytes(good)
        point_latest(home, damaged.name)
        wait_for(lambda: served_id(url) == damaged.name)
        assert requests.get(f"{url}/healthz", timeout=10).json()["reload_error"] is None
        metrics = requests.get(f"{url}/metrics", timeout=10).text
        assert "seckb_snapshot_load_failures_total" in metrics


def test_the_old_snapshot_is_served_while_the_new_one_loads(
    advisory_repo: AdvisoryRepo, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(advisory_repo.url)
    first = publish(advisory_repo, settings, "PYSEC-1")
    release = threading.Event()
    loading = threading.Event()

    def slow_builder(snapshot: Snapshot, loaded_at: datetime) -> View:
        if snapshot.id != first:
            loading.set()
            assert release.wait(30)
        return build_view(snapshot, loaded_at)

    holder = SnapshotHolder(Workspace(settings.home), poll_seconds=0.05, builder=slow_builder)
    holder.open()
    with running(create_app(holder)) as url:
        second = publish(advisory_repo, settings, "PYSEC-2")
        assert loading.wait(15)
        answers: list[Any] = [answer(url) for _ in range(20)]
        assert set(answers) == {(200, ("PYSEC-1",))} and served_id(url) == first
        release.set()
        wait_for(lambda: served_id(url) == second)
        assert answer(url) == (200, ("PYSEC-1", "PYSEC-2"))


def test_a_fixed_snapshot_stays(
    advisory_repo: AdvisoryRepo, make_settings: Callable[..., Settings]
) -> None:
    settings = make_settings(advisory_repo.url)
    first = publish(advisory_repo, settings, "PYSEC-1")
    with serving_home(settings.home, snapshot_id=first, poll_seconds=0.05) as url:
        publish(advisory_repo, settings, "PYSEC-2")
        time.sleep(0.5)
        assert served_id(url) == first and answer(url) == (200, ("PYSEC-1",))
        health = requests.get(f"{url}/healthz", timeout=10).json()
        assert health["following_latest"] is False

"""Snapshots on a real S3-compatible server (moto's, on loopback): publish order, the
conditional ``LATEST``, verified and cached reads, pruning with a grace period, and a prefix
shared with another tool."""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pytest
from s3server import S3Server

from aggregators.core.contracts import contract
from aggregators.core.errors import SeckbError, SnapshotError, StaleRunError
from aggregators.core.objects import Objects, StoreOptions, open_objects
from aggregators.core.workspace import Workspace
from aggregators.store.locations import open_published
from aggregators.store.remote import ObjectSnapshotStore
from aggregators.store.snapshots import Snapshot

T0 = datetime(2026, 11, 16, 3, 0, tzinfo=UTC)
OPTIONS = StoreOptions(10, 2, 0.05)


def errors_table(count: int) -> pa.Table:
    return contract("ingest_errors").table_from_rows(
        [
            {"source": "advisories", "path": f"vulns/p/{i}.yaml", "level": "warning", "reason": "r"}
            for i in range(count)
        ]
    )


class Clock:
    def __init__(self, now: datetime) -> None:
        self.now = now

    def __call__(self) -> datetime:
        return self.now


def make_store(
    store_url: str, home: Path, clock: Callable[[], datetime] | None = None
) -> ObjectSnapshotStore:
    workspace = Workspace(home)
    workspace.ensure()
    grace = timedelta(hours=6)
    objects = open_objects(store_url, OPTIONS)
    if clock is None:
        return ObjectSnapshotStore(workspace, objects, grace)
    return ObjectSnapshotStore(workspace, objects, grace, clock)


def publish(store: ObjectSnapshotStore, rows: int, now: datetime = T0) -> Snapshot:
    return store.publish({"ingest_errors": errors_table(rows)}, {}, now, store.latest())


def test_tables_and_manifest_are_written_first_and_latest_last(
    store_url: str, bucket: str, s3_server: S3Server, tmp_path: Path
) -> None:
    store = make_store(store_url, tmp_path / "publisher")
    writes: list[str] = []
    objects: Objects = store.objects
    put_file, put_if = objects.put_file, objects.put_if
    objects.put_file = lambda key, path: (writes.append(key), put_file(key, path))[1]  # type: ignore[method-assign]
    objects.put_if = lambda key, data, etag: (writes.append(key), put_if(key, data, etag))[1]  # type: ignore[method-assign]
    snapshot = publish(store, 3)
    assert writes[-1] == "snapshots/LATEST"
    assert writes[-2] == f"snapshots/{snapshot.id}/manifest.json"
    assert f"snapshots/{snapshot.id}/ingest_errors.parquet" in writes[:-2]
    assert s3_server.get(bucket, "seckb/snapshots/LATEST") == f"{snapshot.id}\n".encode()
    published = s3_server.get(bucket, f"seckb/snapshots/{snapshot.id}/ingest_errors.parquet")
    assert published is not None
    entry = snapshot.manifest["tables"]["ingest_errors"]
    assert hashlib.sha256(published).hexdigest() == entry["sha256"]
    assert len(published) == entry["bytes"]
    # the publisher keeps its copy: reading what it just published downloads nothing
    assert store.cache.downloads == 0 and snapshot.read("ingest_errors") is not None


def test_a_reader_verifies_once_and_a_second_open_downloads_nothing(
    store_url: str, tmp_path: Path
) -> None:
    published = publish(make_store(store_url, tmp_path / "publisher"), 5)
    reader = make_store(store_url, tmp_path / "reader")
    latest = reader.latest()
    assert latest is not None and latest.id == published.id
    table = latest.read("ingest_errors")
    assert table is not None and table.num_rows == 5
    assert reader.cache.downloads == 1  # that table only
    latest.verify()  # every file (empty placeholders of other contracts included)
    again = make_store(store_url, tmp_path / "reader")  # a new process on the same machine
    second = again.latest()
    assert second is not None
    second.verify()
    assert second.read("ingest_errors") == table
    assert again.cache.downloads == 0


def test_a_publisher_that_lost_the_race_never_overwrites_latest(
    store_url: str, tmp_path: Path
) -> None:
    first, second = make_store(store_url, tmp_path / "a"), make_store(store_url, tmp_path / "b")
    assert first.latest() is None and second.latest() is None
    s0 = first.publish({"ingest_errors": errors_table(1)}, {}, T0, None)
    with pytest.raises(StaleRunError, match="another publisher moved LATEST"):
        second.publish({"ingest_errors": errors_table(2)}, {}, T0, None)  # If-None-Match
    base_a, base_b = first.latest(), second.latest()
    assert base_a is not None and base_b is not None and base_a.id == base_b.id == s0.id
    s1 = first.publish({"ingest_errors": errors_table(3)}, {}, T0 + timedelta(hours=1), base_a)
    with pytest.raises(StaleRunError):  # If-Match with the etag b read: LATEST moved since
        second.publish({"ingest_errors": errors_table(4)}, {}, T0 + timedelta(hours=2), base_b)
    assert second.latest_id() == s1.id
    assert [s.id for s in second.all()] == [s0.id, s1.id]  # what b uploaded was removed
    assert second.objects.children("snapshots") == sorted([s0.id, s1.id])


def test_a_corrupted_object_is_refused_and_named(
    store_url: str, bucket: str, s3_server: S3Server, tmp_path: Path
) -> None:
    snapshot = publish(make_store(store_url, tmp_path / "publisher"), 5)
    key = f"seckb/snapshots/{snapshot.id}/ingest_errors.parquet"
    data = bytearray(s3_server.get(bucket, key) or b"")
    data[len(data) // 2] ^= 0xFF
    s3_server.put(bucket, key, bytes(data))
    reader = make_store(store_url, tmp_path / "reader")
    latest = reader.latest()
    assert latest is not None
    with pytest.raises(SnapshotError, match=r"ingest_errors\.parquet does not match its manifest"):
        latest.read("ingest_errors")
    with pytest.raises(SnapshotError, match="refusing it"):
        latest.verify()
    entry = latest.manifest["tables"]["ingest_errors"]
    assert not reader.cache.path_for(entry).exists()  # never cached, never used


def test_pruning_keeps_a_snapshot_for_the_grace_period_after_it_stopped_being_latest(
    store_url: str, tmp_path: Path
) -> None:
    clock = Clock(T0)
    store = make_store(store_url, tmp_path / "publisher", clock)
    s0 = publish(store, 1, T0)
    s1 = publish(store, 2, T0 + timedelta(hours=1))  # s0 stopped being latest at T0 + 1 h
    s2 = publish(store, 3, T0 + timedelta(hours=2))  # s1 at T0 + 2 h
    clock.now = T0 + timedelta(hours=3)
    assert store.prune(keep=1) == []  # both within 6 h of being replaced
    clock.now = T0 + timedelta(hours=7, minutes=30)
    assert store.prune(keep=1) == [s0.id]
    clock.now = T0 + timedelta(hours=9)
    assert store.prune(keep=1) == [s1.id]
    assert [s.id for s in store.all()] == [s2.id]
    assert store.prune(keep=1) == []  # LATEST is never pruned


def test_leftovers_of_a_crashed_publish_go_after_the_grace_period(
    store_url: str, tmp_path: Path
) -> None:
    clock = Clock(datetime.now(UTC))
    store = make_store(store_url, tmp_path / "publisher", clock)
    s0 = publish(store, 1, clock.now)
    crashed = "20991231T000000Z-abcdef"  # uploaded a table, died before its manifest
    store.objects.put(f"snapshots/{crashed}/ingest_errors.parquet", b"partial")
    assert [s.id for s in store.all()] == [s0.id]
    assert store.prune(keep=3) == []  # may be a publish in flight
    clock.now += timedelta(hours=7)
    assert store.prune(keep=3) == [crashed]
    assert store.objects.children("snapshots") == [s0.id]


def test_a_prefix_shared_with_another_tool(
    store_url: str, bucket: str, s3_server: S3Server, tmp_path: Path, make_settings: Callable
) -> None:
    foreign = {
        "seckb/README.txt": b"not ours",
        "seckb/snapshots/notes.txt": b"not ours",
        "seckb/snapshots/other-tool/data.csv": b"a,b\n",
        "seckb/snapshots/exports/manifest.json": b'{"format": "another/1"}',
    }
    for key, data in foreign.items():
        s3_server.put(bucket, key, data)
    settings = make_settings("unused", home=tmp_path / "reader", snapshot_url=store_url)
    with pytest.raises(SeckbError, match=f"no snapshots yet in {store_url}"):
        open_published(settings)
    store = make_store(store_url, tmp_path / "publisher", Clock(T0 + timedelta(days=30)))
    s0, s1 = publish(store, 1, T0), publish(store, 2, T0 + timedelta(hours=1))
    assert [s.id for s in store.all()] == [s0.id, s1.id]
    with pytest.raises(SnapshotError, match="is not a seckb snapshot"):
        store.get("exports")
    assert store.prune(keep=1) == [s0.id]
    keys = set(s3_server.keys(bucket, "seckb/"))
    assert set(foreign) <= keys  # nothing of the other tool's was touched


def test_a_latest_written_by_another_tool_is_refused_clearly(
    store_url: str, bucket: str, s3_server: S3Server, tmp_path: Path
) -> None:
    s3_server.put(bucket, "seckb/snapshots/LATEST", b"<html>moved</html>")
    store = make_store(store_url, tmp_path / "reader")
    with pytest.raises(SnapshotError, match="does not name a seckb snapshot"):
        store.latest()

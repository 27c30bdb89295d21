"""Where snapshots are published and read: the one place that turns settings (``store_url``,
``snapshot_url``) and a reader's ``--from URL`` into a store or a snapshot.

A location is a local path — a data root (``LATEST`` below ``snapshots/``) or a snapshot
directory — or an object-store URL: ``s3://bucket/prefix`` (the store's root) or
``s3://bucket/prefix/snapshots/<id>`` (one snapshot); the same for ``gs://``.
"""

from __future__ import annotations

import hashlib
import re
from datetime import timedelta
from pathlib import Path

from aggregators.core.config import Settings
from aggregators.core.errors import SeckbError
from aggregators.core.objects import (
    is_remote,
    local_path,
    open_objects,
    same_place,
    snapshot_url,
    store_options,
    store_url,
)
from aggregators.core.workspace import Workspace
from aggregators.store.remote import ObjectSnapshotStore, entries
from aggregators.store.snapshots import MANIFEST, Snapshot, SnapshotStore

_SNAPSHOT_URL = re.compile(r"^(?P<root>.+?)/+snapshots/+(?P<id>[^/]+)/*$")
READER_CACHE_DAYS = 7.0
"""A reader's cached table unused this long, and not in the snapshot it opens, is deleted."""


def store_at(url: str, settings: Settings, writing: bool = False) -> SnapshotStore:
    """The snapshots below ``url`` (a local data root or an object-store root); a local one a
    run publishes to gets its ``snapshots/`` directory (readers create nothing)."""
    if not is_remote(url):
        store = SnapshotStore(Workspace(local_path(url).resolve()))
        if writing:
            store.ws.snapshots.mkdir(parents=True, exist_ok=True)
        return store
    return ObjectSnapshotStore(
        Workspace(settings.home),
        open_objects(url, store_options(settings)),
        grace=timedelta(hours=settings.prune_grace_hours),
    )


def open_store(
    settings: Settings, location: str | None = None, writing: bool = False
) -> SnapshotStore:
    """The store a command works on: where runs publish (``writing``), else where readers
    read (``location``, else ``snapshot_url``, else ``store_url``, else the data root)."""
    url = store_url(settings) if writing else snapshot_url(settings, location)
    return store_at(split_snapshot_url(url)[0], settings, writing)


def split_snapshot_url(url: str) -> tuple[str, str | None]:
    """``(store root, snapshot id)`` of a location naming one snapshot, else ``(url, None)``."""
    if not is_remote(url):
        path = local_path(url)
        if (path / MANIFEST).is_file():
            return str(path.resolve().parent.parent), path.resolve().name
        return url, None
    match = _SNAPSHOT_URL.match(url)
    if match:
        return match.group("root"), match.group("id")
    return url, None


def where(store: SnapshotStore) -> str:
    """The store's snapshots, for messages."""
    url = getattr(store, "url", None)
    return str(url) if url else str(store.ws.snapshots)


def open_published(
    settings: Settings, location: str | None = None, snapshot_id: str | None = None
) -> Snapshot:
    """The snapshot a reader asked for: ``snapshot_id``, else the one ``location`` names, else
    ``LATEST``. Raise :class:`SeckbError` when none is published there."""
    root, named = split_snapshot_url(snapshot_url(settings, location))
    store = store_at(root, settings)
    wanted = snapshot_id or named
    snapshot = store.get(wanted) if wanted else store.latest()
    if snapshot is None:
        raise SeckbError(f"no snapshots yet in {where(store)}; run 'seckb ingest' first")
    cache = getattr(store, "cache", None)
    if cache is not None:  # a reader's copies of snapshots nobody opened for a week
        keep = [str(t["sha256"]) for t in entries(snapshot.manifest).values()]
        cache.trim(keep, READER_CACHE_DAYS * 86400)
    return snapshot


def views_of(database: Path) -> str | None:
    """The snapshot id a ``seckb.duckdb`` points at (``None``: missing or unreadable)."""
    import duckdb

    if not database.is_file():
        return None
    try:
        con = duckdb.connect(str(database), read_only=True)
    except duckdb.Error:
        return None
    try:
        row = con.execute("SELECT snapshot_id FROM seckb_snapshot").fetchone()
    except duckdb.Error:
        return None
    finally:
        con.close()
    return str(row[0]) if row else None


def reader_database(settings: Settings) -> Path:
    """The ``seckb.duckdb`` readers query: the data root's own when readers read the data root;
    for any other location (``--from``, ``snapshot_url``, a remote store), one built locally
    (``cache/published/<location>.duckdb``) over the latest snapshot there, its tables
    downloaded and verified once, and rebuilt only when ``LATEST`` moved."""
    url = snapshot_url(settings)
    home = Workspace(settings.home)
    if same_place(split_snapshot_url(url)[0], settings.home):
        return home.duckdb
    snapshot = open_published(settings)
    slug = hashlib.sha256(url.encode()).hexdigest()[:16]
    database = home.cache / "published" / f"{slug}.duckdb"
    if views_of(database) != snapshot.id:
        from aggregators.store.views import refresh

        snapshot.verify()  # download (and verify) every file before DuckDB opens them
        database.parent.mkdir(parents=True, exist_ok=True)
        refresh(database, snapshot)
    return database

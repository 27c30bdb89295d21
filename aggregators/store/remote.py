"""Snapshots on an object store (S3-compatible, GCS), which has no rename.

Publishing writes every file of the snapshot under ``snapshots/<id>/`` first, its
``manifest.json`` (sha256 of every table) next, and ``snapshots/LATEST`` last, as one object
written conditionally: ``If-None-Match: *`` when there was none, ``If-Match: <etag>`` with the
etag read when the run started. A publisher that lost the race deletes what it uploaded and
raises :class:`StaleRunError`; it never writes over a newer ``LATEST``. A crash at any point
leaves ``LATEST`` on a complete snapshot; what it left behind is removed by a later prune.

Readers read ``LATEST``, then the manifest, then each table they need, verified against the
manifest's sha256 and kept in a local cache named by that sha256 (:mod:`.table_cache`).
Pruning keeps a snapshot for ``prune_grace_hours`` after it stopped being latest (its
successor's ``created_at``), so a reader in flight never loses its files, and never touches a
key that does not look like one of ours (another tool may share the prefix).
"""

from __future__ import annotations

import hashlib
import itertools
import json
import logging
import os
import re
import secrets
import shutil
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from aggregators.core.clock import utcnow
from aggregators.core.errors import PreconditionFailed, SnapshotError, StaleRunError
from aggregators.core.objects import Objects
from aggregators.core.workspace import Workspace
from aggregators.store.snapshots import FORMAT, MANIFEST, Snapshot, SnapshotStore
from aggregators.store.table_cache import TableCache

log = logging.getLogger(__name__)

LATEST = "snapshots/LATEST"
SNAPSHOT_ID = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{6}$")
"""What our snapshot ids look like: the only directories pruning ever deletes."""
_SAFE_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]{0,127}$")
UPLOAD_THREADS = 8


@dataclass(frozen=True)
class RemoteSnapshot(Snapshot):
    """A snapshot on an object store: its tables are fetched (and verified) when first used."""

    fetch: Callable[[str, bool], Path] = field(compare=False, repr=False)
    """``fetch(table, recheck)``: the verified local copy of a table."""

    def file_of(self, name: str) -> Path | None:
        """The verified local copy of a table or a placeholder (``None``: neither)."""
        return self.fetch(name, False) if name in entries(self.manifest) else None

    def table_path(self, name: str) -> Path:
        """The verified local copy of a table (downloaded on first use)."""
        if name not in self.manifest.get("tables", {}):
            raise SnapshotError(f"snapshot {self.id} has no table {name!r}")
        return self.fetch(name, False)

    def verify(self) -> None:
        """Fetch every file, checking downloads and cached copies against the manifest."""
        for name in entries(self.manifest):
            self.fetch(name, True)


def entries(manifest: dict[str, Any]) -> dict[str, Any]:
    """Every file entry of a manifest by table: tables and placeholders (empty tables of
    published contracts no source produced yet)."""
    return {**manifest.get("placeholders", {}), **manifest.get("tables", {})}


def _created(snapshot: Snapshot) -> str:
    return str(snapshot.manifest.get("created_at", ""))


class ObjectSnapshotStore(SnapshotStore):
    """Reads and publishes the snapshots below an object-store root; writes its staging and
    keeps its copies under the local data root ``workspace``."""

    def __init__(
        self,
        workspace: Workspace,
        objects: Objects,
        grace: timedelta = timedelta(hours=6),
        clock: Callable[[], datetime] = utcnow,
    ) -> None:
        """Use ``objects`` as the store, ``workspace`` for local staging and the cache."""
        super().__init__(workspace)
        self.objects = objects
        self.grace = grace
        self.clock = clock
        self.cache = TableCache(workspace.cache / "published" / "tables")
        slug = hashlib.sha256(objects.url.encode()).hexdigest()[:16]
        self.manifests = workspace.cache / "published" / "manifests" / slug
        self._seen: tuple[str, str] | None = None  # (id, etag) of LATEST when last read

    @property
    def url(self) -> str:
        """The store's URL."""
        return self.objects.url

    def check(self) -> None:
        """Raise :class:`StoreError` unless the store answers (reachable, bucket, credentials)."""
        self.objects.check()

    def _pointer(self) -> tuple[str, str] | None:
        found = self.objects.get_tagged(LATEST)
        if found is None:
            return None
        text = found[0].decode("utf-8", "replace").strip()
        if not _SAFE_ID.match(text):
            raise SnapshotError(
                f"{self.url}/{LATEST} does not name a seckb snapshot ({text[:40]!r}): "
                "was the prefix written by another tool?"
            )
        self._seen = (text, found[1])
        return self._seen

    def latest_id(self) -> str | None:
        """The id ``LATEST`` names now (``None`` before the first publish)."""
        pointer = self._pointer()
        return pointer[0] if pointer else None

    def _manifest(self, snapshot_id: str) -> dict[str, Any]:
        cached = self.manifests / snapshot_id / MANIFEST
        raw = cached.read_bytes() if cached.is_file() else None
        if raw is None:
            raw = self.objects.get(f"snapshots/{snapshot_id}/{MANIFEST}")
            if raw is None:
                raise SnapshotError(f"snapshot {snapshot_id} has no manifest in {self.url}")
        try:
            manifest: dict[str, Any] = json.loads(raw)
        except (UnicodeDecodeError, json.JSONDecodeError) as exc:
            raise SnapshotError(f"snapshot {snapshot_id} has no readable manifest") from exc
        if not isinstance(manifest, dict) or manifest.get("format") != FORMAT:
            raise SnapshotError(
                f"{self.url}/snapshots/{snapshot_id} is not a seckb snapshot "
                f"(manifest format {manifest.get('format') if isinstance(manifest, dict) else '?'})"
            )
        if not cached.is_file():  # immutable once published: kept, written whole
            cached.parent.mkdir(parents=True, exist_ok=True)
            temp = cached.with_name(f".{MANIFEST}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
            temp.write_bytes(raw)
            os.replace(temp, cached)
        return manifest

    def _load(self, snapshot_id: str) -> Snapshot:
        if not _SAFE_ID.match(snapshot_id):
            raise SnapshotError(f"invalid snapshot id {snapshot_id!r}")
        manifest = self._manifest(snapshot_id)

        def fetch(name: str, recheck: bool) -> Path:
            info = entries(manifest)[name]
            label = f"snapshot {snapshot_id}"
            if recheck:
                self.cache.recheck(info, label)
            key = f"snapshots/{snapshot_id}/{info['file']}"
            return self.cache.fetch(self.objects, key, info, label)

        return RemoteSnapshot(snapshot_id, self.manifests / snapshot_id, manifest, fetch)

    def latest(self) -> Snapshot | None:
        """The snapshot ``LATEST`` names (its etag is remembered for the next publish)."""
        pointer = self._pointer()
        return self._load(pointer[0]) if pointer else None

    def _ids(self) -> list[str]:
        return [name for name in self.objects.children("snapshots") if _SAFE_ID.match(name)]

    def _readable(self) -> list[Snapshot]:
        found = []
        for snapshot_id in self._ids():
            try:
                found.append(self._load(snapshot_id))
            except SnapshotError as exc:  # in flight, crashed, or another tool's directory
                log.debug("skipping %s: %s", snapshot_id, exc)
        return sorted(found, key=lambda s: (_created(s), s.id))

    def all(self) -> list[Snapshot]:
        """Every published snapshot, oldest first: those created up to ``LATEST`` (a newer one
        is a publish in flight, or one that crashed before writing ``LATEST``)."""
        latest = self.latest()
        if latest is None:
            return []
        return [s for s in self._readable() if s.id == latest.id or _created(s) <= _created(latest)]

    def _expected_etag(self, previous: Snapshot | None) -> str | None:
        """The etag ``LATEST`` must still have: the one read when ``previous`` was read."""
        if previous is None:
            return None
        if self._seen is None or self._seen[0] != previous.id:
            self._pointer()
        if self._seen is None or self._seen[0] != previous.id:
            now = self._seen[0] if self._seen else "nothing"
            raise StaleRunError(
                f"LATEST at {self.url} names {now}, not {previous.id} this run built on: "
                "publishing would put older data back"
            )
        return self._seen[1]

    def _upload(self, staging: Path, snapshot_id: str) -> None:
        files = sorted(p for p in staging.rglob("*") if p.is_file() and p.name != MANIFEST)
        with ThreadPoolExecutor(UPLOAD_THREADS, thread_name_prefix="upload") as pool:
            keys = [f"snapshots/{snapshot_id}/{p.relative_to(staging).as_posix()}" for p in files]
            list(pool.map(self.objects.put_file, keys, files))
        self.objects.put_file(f"snapshots/{snapshot_id}/{MANIFEST}", staging / MANIFEST)

    def _commit(
        self,
        staging: Path,
        snapshot_id: str,
        manifest: dict[str, Any],
        previous: Snapshot | None,
    ) -> Snapshot:
        """Upload the snapshot, then write ``LATEST`` conditionally; keep local copies."""
        expected = self._expected_etag(previous)
        self._upload(staging, snapshot_id)
        try:
            etag = self.objects.put_if(LATEST, f"{snapshot_id}\n".encode(), expected)
        except PreconditionFailed as exc:
            self.objects.delete_prefix(f"snapshots/{snapshot_id}")
            raise StaleRunError(
                f"another publisher moved LATEST at {self.url} while this run published: "
                f"{snapshot_id} was not published, LATEST was left as it is"
            ) from exc
        self._seen = (snapshot_id, etag)
        for info in entries(manifest).values():
            self.cache.adopt(staging / str(info["file"]), info)
        (self.manifests / snapshot_id).mkdir(parents=True, exist_ok=True)
        shutil.move(staging / MANIFEST, self.manifests / snapshot_id / MANIFEST)
        shutil.rmtree(staging, ignore_errors=True)
        return self._load(snapshot_id)

    def _stopped(self, snapshots: list[Snapshot]) -> dict[str, datetime]:
        """When each snapshot stopped being latest: its successor's ``created_at``."""
        return {
            older.id: datetime.fromisoformat(_created(newer))
            for older, newer in itertools.pairwise(snapshots)
        }

    def prune(self, keep: int) -> list[str]:
        """Delete all but the newest ``keep`` snapshots — never ``LATEST``, never one that
        stopped being latest less than the grace period ago — and leftovers of crashed
        publishes older than the grace period; return the deleted ids."""
        latest, now = self.latest(), self.clock()
        if latest is None:
            return []
        published = self.all()
        stopped = self._stopped(published)
        doomed = [
            s.id
            for s in published[: max(0, len(published) - keep)]
            if s.id != latest.id and s.id in stopped and now - stopped[s.id] >= self.grace
        ]
        doomed += self._leftovers({s.id for s in published}, now)
        for snapshot_id in doomed:
            self.objects.delete_prefix(f"snapshots/{snapshot_id}")
            shutil.rmtree(self.manifests / snapshot_id, ignore_errors=True)
        kept = {
            str(t["sha256"])
            for s in published
            if s.id not in doomed
            for t in entries(s.manifest).values()
        }
        self.cache.trim(kept, self.grace.total_seconds())
        return doomed

    def _leftovers(self, published: set[str], now: datetime) -> list[str]:
        """Our snapshot directories that are not published (a crash before ``LATEST``, a
        publisher that lost and died) and untouched for longer than the grace period."""
        found = []
        for snapshot_id in self._ids():
            if snapshot_id in published or not SNAPSHOT_ID.match(snapshot_id):
                continue
            objects = self.objects.list_below(f"snapshots/{snapshot_id}")
            if objects and now - max(o.modified for o in objects) >= self.grace:
                found.append(snapshot_id)
        return found

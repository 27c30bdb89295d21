"""Objects under one root — a local directory or an object store — behind one small interface.

The store of published snapshots and run state is ``store_url``: ``s3://bucket/prefix`` (AWS or
any S3-compatible service), ``gs://bucket/prefix``, or a local path (the default: the data
root). Keys are ``/``-separated paths below that root (``snapshots/LATEST``, ``runs/<id>/…``,
``cache/bandit/part-….parquet``).

Object stores are reached through `obstore <https://developmentseed.org/obstore/>`_ (the Rust
``object_store`` crate's bindings): it exposes the conditional writes S3 and GCS now have
(``If-None-Match: *`` to create, ``If-Match: <etag>`` to replace), which is what lets two
publishers never overwrite each other's ``LATEST`` without a lock server. Credentials, region
and endpoint come from the store's standard variables (for S3 ``AWS_ACCESS_KEY_ID``,
``AWS_SECRET_ACCESS_KEY``, ``AWS_ENDPOINT_URL``, ``AWS_REGION``), read by obstore itself.

A local root keeps the local semantics: every write goes to a temporary file that is renamed
into place, and a conditional write compares and replaces under an ``flock``.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import re
import shutil
from abc import ABC, abstractmethod
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

from aggregators.core.errors import ConfigError, PreconditionFailed, StoreError
from aggregators.core.files import write_atomic

if TYPE_CHECKING:
    from aggregators.core.config import Settings

REMOTE_SCHEMES = ("s3", "s3a", "gs", "gcs", "http", "https", "memory")
"""URL schemes served by obstore (``http(s)`` only for reading a published snapshot)."""
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*)://")
_TEMP = re.compile(r"^\..*\.tmp$")


@dataclass(frozen=True)
class ObjectInfo:
    """One stored object: its key below the root, size, last modification and etag."""

    key: str
    size: int
    modified: datetime
    etag: str | None


@dataclass(frozen=True)
class StoreOptions:
    """How patiently a remote store is asked (from the HTTP settings)."""

    timeout_seconds: float = 30.0
    attempts: int = 5
    backoff_max_seconds: float = 30.0


class Objects(ABC):
    """A flat namespace of immutable-or-replaced objects under one root."""

    url: str
    """Where the root is, as configured (for messages)."""

    @property
    @abstractmethod
    def local_root(self) -> Path | None:
        """The directory of a local root; ``None`` for an object store."""

    @abstractmethod
    def get(self, key: str) -> bytes | None:
        """An object's content, or ``None`` when there is no such object."""

    @abstractmethod
    def get_tagged(self, key: str) -> tuple[bytes, str] | None:
        """An object's content and etag (for a later :meth:`put_if`), or ``None``."""

    @abstractmethod
    def put(self, key: str, data: bytes) -> None:
        """Write (or replace) an object whole: readers see the old or the new content."""

    @abstractmethod
    def put_file(self, key: str, path: Path) -> None:
        """Upload a local file as an object (multipart when large)."""

    @abstractmethod
    def put_if(self, key: str, data: bytes, etag: str | None) -> str:
        """Write only if the object is absent (``etag`` ``None``) or still has ``etag``;
        return the new etag, raise :class:`PreconditionFailed` when another writer won."""

    @abstractmethod
    def download(self, key: str, dest: Path) -> bool:
        """Copy an object into ``dest`` (written whole, then renamed); ``False`` if absent."""

    @abstractmethod
    def list_below(self, prefix: str) -> list[ObjectInfo]:
        """Every object below the directory ``prefix`` (``""``: the whole root), by key."""

    @abstractmethod
    def children(self, prefix: str) -> list[str]:
        """Names of the directories directly below ``prefix``."""

    @abstractmethod
    def delete(self, keys: Iterable[str]) -> None:
        """Delete objects (absent ones are ignored)."""

    @abstractmethod
    def check(self) -> None:
        """Raise :class:`StoreError` (with the reason) unless the root can be read."""

    def delete_prefix(self, prefix: str) -> None:
        """Delete every object below the directory ``prefix``."""
        self.delete(info.key for info in self.list_below(prefix))


def etag_of(data: bytes) -> str:
    """The etag a local root gives an object: the sha256 of its content."""
    return hashlib.sha256(data).hexdigest()


def _safe_key(key: str) -> str:
    parts = key.split("/")
    if not key or key.startswith("/") or any(p in ("", ".", "..") for p in parts):
        raise StoreError(f"invalid object key {key!r}")
    return key


class LocalObjects(Objects):
    """Objects as files below a directory."""

    def __init__(self, root: Path) -> None:
        """Use ``root`` (created on the first write)."""
        self.root = root
        self.url = str(root)

    @property
    def local_root(self) -> Path | None:
        """The directory itself."""
        return self.root

    def _path(self, key: str) -> Path:
        return self.root / _safe_key(key)

    def get(self, key: str) -> bytes | None:
        """The file's bytes, or ``None``."""
        try:
            return self._path(key).read_bytes()
        except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
            return None

    def get_tagged(self, key: str) -> tuple[bytes, str] | None:
        """The file's bytes and their sha256."""
        data = self.get(key)
        return None if data is None else (data, etag_of(data))

    def put(self, key: str, data: bytes) -> None:
        """Write a temporary file, then rename it over the key."""
        write_atomic(self._path(key), data)

    def put_file(self, key: str, path: Path) -> None:
        """Copy ``path`` into place (temporary file, then rename)."""
        write_atomic(self._path(key), source=path)

    @contextmanager
    def _locked(self) -> Iterator[None]:
        self.root.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.root / ".objects.lock", os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    def put_if(self, key: str, data: bytes, etag: str | None) -> str:
        """Compare and replace under an exclusive ``flock`` of the root."""
        with self._locked():
            current = self.get_tagged(key)
            if (current[1] if current else None) != etag:
                raise PreconditionFailed(
                    f"{self.url}/{key} was {'written' if etag is None else 'changed'} "
                    "by another writer"
                )
            self.put(key, data)
        return etag_of(data)

    def download(self, key: str, dest: Path) -> bool:
        """Copy the file to ``dest``."""
        path = self._path(key)
        if not path.is_file():
            return False
        write_atomic(dest, source=path)
        return True

    def list_below(self, prefix: str) -> list[ObjectInfo]:
        """Every file below ``prefix`` but temporary ones."""
        base = self.root / prefix if prefix else self.root
        found = []
        for path in sorted(base.rglob("*")) if base.is_dir() else []:
            if path.is_file() and not _TEMP.match(path.name) and path.name != ".objects.lock":
                stat = path.stat()
                modified = datetime.fromtimestamp(stat.st_mtime, UTC)
                key = path.relative_to(self.root).as_posix()
                found.append(ObjectInfo(key, stat.st_size, modified, None))
        return found

    def children(self, prefix: str) -> list[str]:
        """Subdirectory names."""
        base = self.root / prefix if prefix else self.root
        return sorted(p.name for p in base.iterdir() if p.is_dir()) if base.is_dir() else []

    def delete(self, keys: Iterable[str]) -> None:
        """Unlink the files."""
        for key in keys:
            self._path(key).unlink(missing_ok=True)

    def delete_prefix(self, prefix: str) -> None:
        """Remove the directory."""
        shutil.rmtree(self.root / _safe_key(prefix), ignore_errors=True)

    def check(self) -> None:
        """The root must be a directory (or not exist yet, to be created by a writer)."""
        if self.root.exists() and not self.root.is_dir():
            raise StoreError(f"store {self.url} is not a directory")


def is_remote(url: str) -> bool:
    """Whether ``url`` names an object store rather than a local path (``file://`` is local)."""
    match = _SCHEME.match(url)
    return bool(match) and match.group(1).lower() != "file"  # type: ignore[union-attr]


def local_path(url: str) -> Path:
    """The directory a local ``url`` (a path or ``file://``) names."""
    return Path(url[len("file://") :] if url.startswith("file://") else url).expanduser()


def validate_url(url: str, name: str) -> None:
    """Raise :class:`ConfigError` unless ``url`` is a path or a supported store URL."""
    match = _SCHEME.match(url)
    if match and match.group(1).lower() not in (*REMOTE_SCHEMES, "file"):
        raise ConfigError(
            f"{name}: unsupported scheme {match.group(1)!r} in {url!r} "
            "(use s3://bucket/prefix, gs://bucket/prefix or a path)"
        )


def open_objects(url: str, options: StoreOptions | None = None) -> Objects:
    """The objects below ``url``: a local directory, or an object store through obstore."""
    if not is_remote(url):
        return LocalObjects(local_path(url))
    from aggregators.core.remote_objects import RemoteObjects  # obstore only when needed

    return RemoteObjects(url, options or StoreOptions())


def describe(exc: BaseException) -> str:
    """The one line of an error worth showing (obstore's messages carry a debug dump)."""
    text = str(exc).strip().split("\n\nDebug source:")[0]
    return " ".join(text.split())[:300] or type(exc).__name__


def store_url(settings: Settings) -> str:
    """Where this deployment publishes: ``store_url``, else the data root."""
    return settings.store_url or str(settings.home)


def snapshot_url(settings: Settings, location: str | None = None) -> str:
    """Where a reader reads: ``location`` (``--from``), else ``snapshot_url``, else the store."""
    return location or settings.snapshot_url or store_url(settings)


def store_options(settings: Settings) -> StoreOptions:
    """Timeouts and retries of object-store requests: the HTTP settings."""
    return StoreOptions(
        settings.http_timeout_seconds, settings.http_attempts, settings.http_backoff_max_seconds
    )


def same_place(url: str, home: Path) -> bool:
    """Whether ``url`` is the data root ``home`` itself (the single-machine default)."""
    return not is_remote(url) and local_path(url).resolve() == home.resolve()


def shared_objects(settings: Settings) -> Objects | None:
    """The store, when it is not the data root itself (what workers share); ``None`` when
    everything is on the data root's disk, as on one machine."""
    url = store_url(settings)
    return None if same_place(url, settings.home) else open_objects(url, store_options(settings))


def run_objects(settings: Settings) -> Objects:
    """Where staged runs live: the store (the data root unless ``store_url`` says otherwise)."""
    return open_objects(store_url(settings), store_options(settings))


def check_store(settings: Settings) -> None:
    """Raise :class:`StoreError` when a store other than the data root does not answer."""
    objects = shared_objects(settings)
    if objects is not None:
        objects.check()

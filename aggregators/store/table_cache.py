"""Local copies of published files, named by their sha256: a remote table is downloaded once.

A file enters the cache only after its content matched the sha256 the snapshot's manifest
gives (a download is written beside the cache, hashed, then renamed in), so a cached file is
trusted by its name and opening a snapshot again downloads nothing. Every snapshot that shares
a table (an unchanged source carried forward) shares its cached copy too.
"""

from __future__ import annotations

import logging
import os
import secrets
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from aggregators.core.errors import SnapshotError
from aggregators.core.objects import Objects
from aggregators.store.snapshots import sha256_file

log = logging.getLogger(__name__)

_HEX = frozenset("0123456789abcdef")


def _valid_sha(text: str) -> bool:
    return len(text) == 64 and set(text) <= _HEX


class TableCache:
    """Verified copies of published files in one directory (``<sha256><suffix>``)."""

    def __init__(self, directory: Path) -> None:
        """Keep copies in ``directory`` (created when the first one arrives)."""
        self.directory = directory
        self.downloads = 0
        self.downloaded_bytes = 0

    def path_for(self, info: Mapping[str, Any]) -> Path:
        """Where the copy of a manifest entry (``file``, ``sha256``) lives."""
        sha = str(info.get("sha256", ""))
        if not _valid_sha(sha):
            raise SnapshotError(f"manifest entry for {info.get('file')!r} has no valid sha256")
        return self.directory / f"{sha}{Path(str(info['file'])).suffix}"

    def fetch(self, objects: Objects, key: str, info: Mapping[str, Any], label: str) -> Path:
        """The verified local copy of object ``key`` described by ``info``; downloaded when
        missing. Raise :class:`SnapshotError` (naming ``label`` and the file) when the object
        is missing or its content does not match the manifest: it is never used."""
        path = self.path_for(info)
        if path.is_file():
            os.utime(path)  # recently used: kept by trim()
            return path
        self.directory.mkdir(parents=True, exist_ok=True)
        temp = self.directory / f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.download"
        try:
            if not objects.download(key, temp):
                raise SnapshotError(f"{label}: {info['file']} is missing from {objects.url}")
            self._check(temp, info, label)
            os.replace(temp, path)
        finally:
            temp.unlink(missing_ok=True)
        self.downloads += 1
        self.downloaded_bytes += path.stat().st_size
        return path

    @staticmethod
    def _check(path: Path, info: Mapping[str, Any], label: str) -> None:
        size, sha = path.stat().st_size, sha256_file(path)
        if size != info.get("bytes") or sha != info.get("sha256"):
            raise SnapshotError(
                f"{label}: {info['file']} does not match its manifest "
                f"(sha256 {sha[:16]}…, {size} bytes; the manifest says "
                f"{str(info.get('sha256'))[:16]}…, {info.get('bytes')} bytes): refusing it"
            )

    def recheck(self, info: Mapping[str, Any], label: str) -> None:
        """Hash a cached copy again; drop it (and raise) when it no longer matches."""
        path = self.path_for(info)
        if path.is_file():
            try:
                self._check(path, info, label)
            except SnapshotError:
                path.unlink(missing_ok=True)
                raise

    def adopt(self, source: Path, info: Mapping[str, Any]) -> Path:
        """Move a file this process just wrote and hashed (a published table) into the cache."""
        path = self.path_for(info)
        self.directory.mkdir(parents=True, exist_ok=True)
        os.replace(source, path)
        return path

    def trim(self, keep: Iterable[str], unused_seconds: float) -> int:
        """Delete copies whose sha256 is not in ``keep`` and unused for ``unused_seconds``;
        return how many were deleted."""
        wanted = set(keep)
        cutoff = time.time() - unused_seconds
        deleted = 0
        for path in self.directory.glob("*") if self.directory.is_dir() else []:
            sha = path.name.split(".", 1)[0]
            if not _valid_sha(sha) or sha in wanted:
                continue
            try:
                if path.stat().st_mtime < cutoff:
                    path.unlink()
                    deleted += 1
            except FileNotFoundError:
                continue
        if deleted:
            log.info("table cache: deleted %d unused file(s) from %s", deleted, self.directory)
        return deleted

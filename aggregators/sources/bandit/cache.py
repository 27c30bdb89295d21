"""The content-addressed Bandit result cache: append-only Parquet parts under one directory.

A result is keyed by the file's sha256, the Bandit version and the configuration hash. Every
flush writes one new part file (temp name, then ``os.replace``), so concurrent runs and Airflow
tasks never write to a shared file, and readers only ever see complete parts.

With a shared store (``store_url`` on object storage, for workers that share no disk), the
parts also live in the store under ``cache/bandit/``: the first lookup copies the parts this
worker lacks into its local directory (what it reads is always a local copy, and the parts it
wrote but the store lacks are uploaded), and every flush uploads the new part. Part names are
unique, so two workers never write the same object.

Lookups are cheap: the first one reads an index (hash -> parts holding a usable result) from a
few small columns of every part, once per :class:`ResultCache`; afterwards a lookup reads only
the parts that hold one of the hashes asked for, filtered on them, and a lookup of hashes the
index does not know reads nothing. Results added in this run are found before they are flushed.
"""

from __future__ import annotations

import logging
import os
import re
import uuid
from collections import defaultdict
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from aggregators.core.contracts import contract
from aggregators.core.errors import StoreError
from aggregators.core.objects import Objects
from aggregators.sources.bandit.engine import CRASH, ERROR, TIMEOUT, FileResult

log = logging.getLogger(__name__)

TABLE = "bandit_cache"
RETRYABLE = frozenset({TIMEOUT, CRASH, ERROR})
"""Outcomes that depend on the limits: reused only if they happened under limits no smaller."""
INDEX_COLUMNS = ["file_sha256", "status", "timeout_seconds", "memory_mb"]
SHARED_PREFIX = "cache/bandit"
"""Where the parts live in a shared store."""
PART = re.compile(r"^part-[A-Za-z0-9_.-]+\.parquet$")


class ResultCache:
    """Read cached results for a set of hashes; collect new ones and flush them as a part."""

    def __init__(
        self,
        directory: Path,
        bandit_version: str,
        config_hash: str,
        timeout_seconds: float,
        memory_mb: int,
        shared: Objects | None = None,
    ) -> None:
        """Bind the cache directory to the analysis key and limits of this run; with
        ``shared``, the directory is this worker's copy of the store's parts."""
        self.directory = directory
        self.shared = shared
        self.bandit_version = bandit_version
        self.config_hash = config_hash
        self.timeout_seconds = timeout_seconds
        self.memory_mb = memory_mb
        self._pending: dict[str, tuple[FileResult, datetime]] = {}
        self._index: dict[str, list[str]] | None = None
        self.parts_written = 0

    def _sync(self) -> None:
        """Copy the store's parts this worker lacks; upload the ones the store lacks."""
        shared = self.shared
        if shared is None:
            return
        remote = {
            name
            for info in shared.list_below(SHARED_PREFIX)
            if PART.match(name := info.key.rsplit("/", 1)[-1])
        }
        local = {p.name for p in self.directory.glob("part-*.parquet")}
        with ThreadPoolExecutor(8, thread_name_prefix="bandit-cache") as pool:
            missing = sorted(remote - local)
            keys = [f"{SHARED_PREFIX}/{name}" for name in missing]
            list(pool.map(shared.download, keys, [self.directory / n for n in missing]))
        for name in sorted(local - remote):
            self._upload(self.directory / name)

    def _upload(self, path: Path) -> None:
        if self.shared is None:
            return
        try:
            self.shared.put_file(f"{SHARED_PREFIX}/{path.name}", path)
        except StoreError as exc:  # the part stays here; the next sync uploads it
            log.warning("bandit cache: %s not shared yet: %s", path.name, exc)

    def _parts(self) -> list[str]:
        self._sync()
        if not self.directory.is_dir():
            return []
        return sorted(str(p) for p in self.directory.glob("part-*.parquet"))

    def _key(self) -> pc.Expression:
        return (pc.field("bandit_version") == self.bandit_version) & (
            pc.field("config_hash") == self.config_hash
        )

    def _usable(self, status: str, timeout_seconds: float, memory_mb: int) -> bool:
        # A limit-dependent failure under tighter limits than ours is worth another try.
        return status not in RETRYABLE or (
            timeout_seconds >= self.timeout_seconds and memory_mb >= self.memory_mb
        )

    def _read(self, part: str, columns: list[str] | None, where: pc.Expression) -> pa.Table:
        dataset = ds.dataset(part, format="parquet", schema=contract(TABLE).schema)
        return dataset.to_table(columns=columns, filter=self._key() & where)

    def index(self) -> dict[str, list[str]]:
        """Hash -> the parts holding a usable result for it (read once, then kept)."""
        if self._index is None:
            index: defaultdict[str, list[str]] = defaultdict(list)
            for part in self._parts():
                table = self._read(part, INDEX_COLUMNS, pc.scalar(True))
                for sha, status, timeout_seconds, memory_mb in zip(
                    *(table.column(name).to_pylist() for name in INDEX_COLUMNS), strict=True
                ):
                    if self._usable(status, timeout_seconds, memory_mb):
                        index[sha].append(part)
            self._index = dict(index)
        return self._index

    def lookup(self, hashes: Iterable[str]) -> dict[str, FileResult]:
        """Results known for these hashes under this run's key and limits."""
        found: dict[str, FileResult] = {}
        by_part: defaultdict[str, list[str]] = defaultdict(list)
        index = self.index()
        for sha in set(hashes):
            if sha in self._pending:
                found[sha] = self._pending[sha][0]
            else:
                for part in index.get(sha, ()):
                    by_part[part].append(sha)
        for part, wanted in sorted(by_part.items()):
            where = pc.field("file_sha256").isin(pa.array(sorted(wanted), pa.string()))
            try:
                rows = self._read(part, None, where).to_pylist()
            except FileNotFoundError:  # removed since the index was read: analyse again
                log.warning("bandit cache: part %s disappeared", part)
                continue
            for row in rows:
                if not self._usable(row["status"], row["timeout_seconds"], row["memory_mb"]):
                    continue
                previous = found.get(row["file_sha256"])
                if previous is None or previous.status in RETRYABLE:
                    found[row["file_sha256"]] = FileResult(
                        sha256=row["file_sha256"],
                        status=row["status"],
                        reason=row["reason"],
                        loc=row["loc"],
                        analysis_ms=row["analysis_ms"],
                        findings=row["findings"],
                    )
        return found

    def add(self, result: FileResult, analysed_at: datetime) -> None:
        """Queue a fresh result for the next flush."""
        self._pending[result.sha256] = (result, analysed_at)

    @property
    def pending(self) -> int:
        """Results added since the last flush."""
        return len(self._pending)

    def flush(self) -> Path | None:
        """Write queued results as one new part file; return its path (None if nothing new)."""
        if not self._pending:
            return None
        rows = [
            {
                "file_sha256": r.sha256,
                "bandit_version": self.bandit_version,
                "config_hash": self.config_hash,
                "status": r.status,
                "reason": r.reason,
                "loc": r.loc,
                "timeout_seconds": self.timeout_seconds,
                "memory_mb": self.memory_mb,
                "analysis_ms": r.analysis_ms,
                "analysed_at": at,
                "findings": r.findings,
            }
            for r, at in self._pending.values()
        ]
        table = contract(TABLE).table_from_rows(rows)
        self.directory.mkdir(parents=True, exist_ok=True)
        stamp = min(at for _, at in self._pending.values()).strftime("%Y%m%dT%H%M%S")
        name = f"part-{stamp}-{os.getpid()}-{uuid.uuid4().hex[:12]}.parquet"
        final = self.directory / name
        tmp = self.directory / f".{name}.tmp"
        try:
            pq.write_table(table, tmp, compression="zstd")
            os.replace(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)
        self._upload(final)
        if self._index is not None:
            for sha in self._pending:
                self._index.setdefault(sha, []).append(str(final))
        self._pending.clear()
        self.parts_written += 1
        log.info("bandit cache: wrote %d results to %s", table.num_rows, final.name)
        return final

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
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from aggregators.core.contracts import contract
from aggregators.core.errors import StoreError
from aggregators.core.objects import Objects
from aggregators.sources.bandit.compact import merge, replaced_by, to_merge
from aggregators.sources.bandit.engine import CRASH, ERROR, TIMEOUT, FileResult

log = logging.getLogger(__name__)

TABLE = "bandit_cache"
RETRYABLE = frozenset({TIMEOUT, CRASH, ERROR})
"""Outcomes that depend on the limits: reused only if they happened under limits no smaller."""
INDEX_COLUMNS = ["file_sha256", "status", "timeout_seconds", "memory_mb"]
SHARED_PREFIX = "cache/bandit"
"""Where the parts live in a shared store."""
PART = re.compile(r"^part-[A-Za-z0-9_.-]+\.parquet$")


def _result(row: dict[str, Any]) -> FileResult:
    return FileResult(
        sha256=row["file_sha256"],
        status=row["status"],
        reason=row["reason"],
        loc=row["loc"],
        analysis_ms=row["analysis_ms"],
        findings=row["findings"],
    )


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
        max_parts: int = 32,
        small_bytes: int = 64 << 20,
    ) -> None:
        """Bind the cache directory to the analysis key and limits of this run; with
        ``shared``, the directory is this worker's copy of the store's parts. Past
        ``max_parts`` live parts, a flush merges those smaller than ``small_bytes``."""
        self.directory = directory
        self.shared = shared
        self.bandit_version = bandit_version
        self.config_hash = config_hash
        self.timeout_seconds = timeout_seconds
        self.memory_mb = memory_mb
        self._pending: dict[str, tuple[FileResult, datetime]] = {}
        self._index: dict[str, list[str]] | None = None
        self.parts_written = 0
        self.parts_merged = 0
        self.max_parts = max_parts
        self.small_bytes = small_bytes
        self._replaces: dict[str, list[str]] = {}

    def _local(self) -> dict[str, Path]:
        return {p.name: p for p in self.directory.glob("part-*.parquet")}

    def _replaced(self, parts: Iterable[Path]) -> set[str]:
        """The names the merged parts among ``parts`` replace (footers read once per part)."""
        names: set[str] = set()
        for part in parts:
            if part.name not in self._replaces:
                try:
                    self._replaces[part.name] = replaced_by(part)
                except FileNotFoundError:  # merged away by another process meanwhile
                    continue
                except ValueError as exc:  # read as an ordinary part, replacing nothing
                    log.warning("bandit cache: %s", exc)
                    self._replaces[part.name] = []
            names.update(self._replaces[part.name])
        return names

    def _forget(self, names: set[str], remote: set[str]) -> None:
        """Delete replaced parts here, then in the shared store (best effort: whoever syncs
        next finishes it)."""
        for name in sorted(names):
            (self.directory / name).unlink(missing_ok=True)
        if self.shared is not None and names & remote:
            try:
                self.shared.delete(f"{SHARED_PREFIX}/{n}" for n in sorted(names & remote))
            except StoreError as exc:
                log.warning("bandit cache: replaced parts not deleted from the store: %s", exc)

    def _sync(self) -> list[Path]:
        """The live parts of this directory: with a shared store, after copying the store's
        parts this worker lacks and uploading the ones the store lacks, never a replaced one."""
        if not self.directory.is_dir() and self.shared is None:
            return []
        remote: set[str] = set()
        local = self._local()
        if (shared := self.shared) is not None:
            remote = {
                name
                for info in shared.list_below(SHARED_PREFIX)
                if PART.match(name := info.key.rsplit("/", 1)[-1])
            }
            missing = sorted(remote - set(local) - self._replaced(local.values()))
            with ThreadPoolExecutor(8, thread_name_prefix="bandit-cache") as pool:
                keys = [f"{SHARED_PREFIX}/{name}" for name in missing]
                list(pool.map(shared.download, keys, [self.directory / n for n in missing]))
            local = self._local()
        replaced = self._replaced(local.values())
        self._forget(replaced & (set(local) | remote), remote)
        for name in sorted(set(local) - remote - replaced):
            self._upload(local[name])
        return sorted(path for name, path in local.items() if name not in replaced)

    def _upload(self, path: Path) -> None:
        if self.shared is None:
            return
        try:
            self.shared.put_file(f"{SHARED_PREFIX}/{path.name}", path)
        except StoreError as exc:  # the part stays here; the next sync uploads it
            log.warning("bandit cache: %s not shared yet: %s", path.name, exc)

    def _parts(self) -> list[str]:
        return [str(p) for p in self._sync()]

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
        """Hash -> the parts holding a usable result for it (read once, then kept). A part
        merged away by another process while this was read makes it read again, once."""
        for attempt in (1, 2):
            if self._index is not None:
                break
            index: defaultdict[str, list[str]] = defaultdict(list)
            vanished = False
            for part in self._parts():
                try:
                    table = self._read(part, INDEX_COLUMNS, pc.scalar(True))
                except FileNotFoundError:
                    vanished = True
                    continue
                for sha, status, timeout_seconds, memory_mb in zip(
                    *(table.column(name).to_pylist() for name in INDEX_COLUMNS), strict=True
                ):
                    if self._usable(status, timeout_seconds, memory_mb):
                        index[sha].append(part)
            if not vanished or attempt == 2:
                self._index = dict(index)
        assert self._index is not None
        return self._index

    def lookup(self, hashes: Iterable[str], again: bool = True) -> dict[str, FileResult]:
        """Results known for these hashes under this run's key and limits. A part removed
        since the index was read (merged by another process) makes the hashes it held be
        looked up once more in a fresh index."""
        found: dict[str, FileResult] = {}
        by_part: defaultdict[str, list[str]] = defaultdict(list)
        index = self.index()
        for sha in set(hashes):
            if sha in self._pending:
                found[sha] = self._pending[sha][0]
            else:
                for part in index.get(sha, ()):
                    by_part[part].append(sha)
        vanished: set[str] = set()
        for part, wanted in sorted(by_part.items()):
            where = pc.field("file_sha256").isin(pa.array(sorted(wanted), pa.string()))
            try:
                rows = self._read(part, None, where).to_pylist()
            except FileNotFoundError:
                log.warning("bandit cache: part %s disappeared", part)
                vanished.update(wanted)
                continue
            for row in rows:
                if self._usable(row["status"], row["timeout_seconds"], row["memory_mb"]):
                    previous = found.get(row["file_sha256"])
                    if previous is None or previous.status in RETRYABLE:
                        found[row["file_sha256"]] = _result(row)
        if vanished and again:
            self._index = None
            for sha, result in self.lookup(vanished - set(found), again=False).items():
                found.setdefault(sha, result)
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
        first = min(at for _, at in self._pending.values())
        stamp = first.strftime("%Y%m%dT%H%M%S")
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
        self.compact(first)
        return final

    def compact(self, now: datetime) -> Path | None:
        """Merge the small parts when there are too many (see ``compact.py``); return the
        merged part (None if there was nothing to merge). The merged part is in place and
        shared before any part it replaces is deleted."""
        if len(self._local()) <= self.max_parts:  # no store listing on every flush
            return None
        live = self._sync()
        chosen = to_merge(live, self.max_parts, self.small_bytes)
        if not chosen:
            return None
        merged = merge(chosen, self.directory, now, self._replaced(chosen))
        self._upload(merged)
        names = {p.name for p in chosen}
        self._forget(names, names)
        self._index = None
        self.parts_merged += len(chosen)
        log.info("bandit cache: merged %d parts into %s", len(chosen), merged.name)
        return merged

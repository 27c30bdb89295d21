"""The content-addressed Bandit result cache: append-only Parquet parts under one directory.

A result is keyed by the file's sha256, the Bandit version and the configuration hash. Every
flush writes one new part file (temp name, then ``os.replace``), so concurrent runs and Airflow
tasks never write to a shared file, and readers only ever see complete parts.
"""

from __future__ import annotations

import logging
import os
import uuid
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from aggregators.bandit.engine import CRASH, ERROR, TIMEOUT, FileResult
from aggregators.tables import contract

log = logging.getLogger(__name__)

TABLE = "bandit_cache"
RETRYABLE = frozenset({TIMEOUT, CRASH, ERROR})
"""Outcomes that depend on the limits: reused only if they happened under limits no smaller."""


class ResultCache:
    """Read cached results for a set of hashes; collect new ones and flush them as a part."""

    def __init__(
        self,
        directory: Path,
        bandit_version: str,
        config_hash: str,
        timeout_seconds: float,
        memory_mb: int,
    ) -> None:
        """Bind the cache directory to the analysis key and limits of this run."""
        self.directory = directory
        self.bandit_version = bandit_version
        self.config_hash = config_hash
        self.timeout_seconds = timeout_seconds
        self.memory_mb = memory_mb
        self._pending: list[tuple[FileResult, datetime]] = []
        self.parts_written = 0

    def _parts(self) -> list[str]:
        if not self.directory.is_dir():
            return []
        return sorted(str(p) for p in self.directory.glob("part-*.parquet"))

    def lookup(self, hashes: Iterable[str]) -> dict[str, FileResult]:
        """Results known for these hashes under this run's key and limits."""
        wanted = sorted(set(hashes))
        parts = self._parts()
        if not wanted or not parts:
            return {}
        dataset = ds.dataset(parts, format="parquet", schema=contract(TABLE).schema)
        expression = (
            (pc.field("bandit_version") == self.bandit_version)
            & (pc.field("config_hash") == self.config_hash)
            & pc.field("file_sha256").isin(pa.array(wanted, pa.string()))
        )
        table = dataset.to_table(filter=expression)
        found: dict[str, FileResult] = {}
        for row in table.to_pylist():
            result = FileResult(
                sha256=row["file_sha256"],
                status=row["status"],
                reason=row["reason"],
                loc=row["loc"],
                analysis_ms=row["analysis_ms"],
                findings=row["findings"],
            )
            if result.status in RETRYABLE and (
                row["timeout_seconds"] < self.timeout_seconds or row["memory_mb"] < self.memory_mb
            ):
                continue  # failed under tighter limits than ours: worth another try
            previous = found.get(result.sha256)
            if previous is None or previous.status in RETRYABLE:
                found[result.sha256] = result
        return found

    def add(self, result: FileResult, analysed_at: datetime) -> None:
        """Queue a fresh result for the next flush."""
        self._pending.append((result, analysed_at))

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
            for r, at in self._pending
        ]
        table = contract(TABLE).table_from_rows(rows)
        self.directory.mkdir(parents=True, exist_ok=True)
        stamp = min(at for _, at in self._pending).strftime("%Y%m%dT%H%M%S")
        name = f"part-{stamp}-{os.getpid()}-{uuid.uuid4().hex[:12]}.parquet"
        final = self.directory / name
        tmp = self.directory / f".{name}.tmp"
        try:
            pq.write_table(table, tmp, compression="zstd")
            os.replace(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)
        self._pending.clear()
        self.parts_written += 1
        log.info("bandit cache: wrote %d results to %s", table.num_rows, final.name)
        return final

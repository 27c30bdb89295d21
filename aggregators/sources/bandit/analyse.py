"""The Bandit stage: sdists of releases in, ``bandit_scans``/``bandit_findings``/``bandit_errors``
out.

Releases are prepared one after another (download, verify, extract) and analysed in windows.
Extraction hashes every Python member in memory and asks, a batch at a time, which contents are
new: those with a result in the cache (or from an earlier window of this run) are not even
written to scratch; only new contents are stored, content-addressed, once per window. All new
contents of a window are spread over the worker processes together, so both cores work even on
a single large release, and shared files are analysed once.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import time
import uuid
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pyarrow as pa

from aggregators.core.config import Settings
from aggregators.core.contracts import contract
from aggregators.core.http import HttpClient
from aggregators.core.objects import shared_objects
from aggregators.core.progress import NullProgress, Progress
from aggregators.core.workspace import Workspace
from aggregators.sources.bandit import engine
from aggregators.sources.bandit.cache import ResultCache
from aggregators.sources.bandit.download import download_sdist
from aggregators.sources.bandit.engine import FileResult
from aggregators.sources.bandit.extract import (
    ExtractedFile,
    Limits,
    extract_python_files,
    stored_path,
)
from aggregators.sources.bandit.outcomes import NO_SDIST, SCANNED, ReleaseProblem
from aggregators.sources.bandit.rows import ReleaseInfo, analysed_release_rows, scan_row
from aggregators.sources.bandit.runner import BanditRunner, FileJob
from aggregators.sources.bandit.runner import Limits as WorkerLimits
from aggregators.sources.registry import SOURCE_TABLES

log = logging.getLogger(__name__)

TABLES = SOURCE_TABLES["bandit"]
WINDOW_BYTES = 64 << 20
"""Extracted bytes gathered before the window is analysed (bounds scratch disk use)."""
WINDOW_RELEASES = 100
CACHE_FLUSH_RESULTS = 5000
"""Flush the cache this often, so a crash late in a long run keeps most of its work."""


@dataclass(frozen=True)
class ScanTarget:
    """One release to scan, as PyPI describes its sdist."""

    package: str
    """PEP 503-normalized package name."""
    version: str
    filename: str | None
    """sdist file name; None when the release has no sdist."""
    url: str | None
    """Absolute URL of the sdist."""
    sha256: str | None
    """PyPI's sha256 digest of the sdist."""
    size: int | None
    """PyPI's size of the sdist in bytes."""


@dataclass
class BanditResult:
    """The three Bandit tables (complete for the given targets) and run statistics."""

    tables: dict[str, pa.Table]
    stats: dict[str, int]


@dataclass
class _Prepared:
    """A release whose sdist was downloaded and extracted, waiting for its window."""

    target: ScanTarget
    files: list[ExtractedFile]
    skipped: list[tuple[str, str]]
    prep_ms: int
    from_cache: int = 0
    first_seen: set[str] = field(default_factory=set)


class _Waiting:
    """Releases of a window waiting for their files' results; each is finished (its rows
    emitted) as soon as its last file has one."""

    def __init__(
        self,
        releases: list[_Prepared],
        results: dict[str, FileResult],
        finish: Callable[[_Prepared], None],
    ) -> None:
        self.finish = finish
        self.analysed = 0
        self.missing: list[set[str]] = []
        self.by_file: dict[str, list[int]] = {}
        self.open: list[_Prepared | None] = list(releases)
        for index, release in enumerate(releases):
            missing = {f.sha256 for f in release.files} - set(results)
            self.missing.append(missing)
            for sha in missing:
                self.by_file.setdefault(sha, []).append(index)
        for index in range(len(releases)):
            if not self.missing[index]:
                self._finish(index)

    def _finish(self, index: int) -> None:
        release = self.open[index]
        if release is not None:
            self.open[index] = None
            self.finish(release)

    def done(self, sha: str) -> None:
        """A file's result arrived: finish the releases it completes."""
        self.analysed += 1
        for index in self.by_file.pop(sha, []):
            self.missing[index].discard(sha)
            if not self.missing[index]:
                self._finish(index)

    def flush(self) -> None:
        """Finish every release still open (all results are known by now)."""
        for index in range(len(self.open)):
            self._finish(index)


class _Run:
    """State of one :func:`analyse_releases` call."""

    def __init__(
        self,
        settings: Settings,
        workspace: Workspace,
        client: HttpClient,
        progress: Progress,
        now: datetime,
    ) -> None:
        self.settings = settings
        self.client = client
        self.progress = progress
        self.now = now
        self.version = engine.bandit_version()
        self.config_hash = engine.config_hash()
        self.cache = ResultCache(
            workspace.bandit_cache,
            self.version,
            self.config_hash,
            settings.bandit_timeout_seconds,
            settings.bandit_memory_mb,
            shared=shared_objects(settings),  # the store workers share, if not this disk
            max_parts=settings.bandit_cache_max_parts,
            small_bytes=settings.bandit_cache_compact_mb << 20,
        )
        self.runner = BanditRunner(
            settings.workers,
            WorkerLimits(settings.bandit_timeout_seconds, settings.bandit_memory_mb),
        )
        self.limits = Limits(
            settings.archive_max_members,
            settings.archive_max_total_bytes,
            settings.archive_max_file_bytes,
        )
        self.scratch = workspace.scratch
        self.directory = workspace.scratch / f"bandit-{uuid.uuid4().hex[:12]}"
        self.rows: dict[str, list[dict[str, Any]]] = {name: [] for name in TABLES}
        self.results: dict[str, FileResult] = {}
        """Results of the current window's contents that need no analysis (cache, earlier
        windows); contents missing here are written to the window's scratch directory."""
        self.stats = dict.fromkeys(
            (
                "releases",
                "scanned",
                "not_scanned",
                "files",
                "files_from_cache",
                "files_analysed",
                "bandit_processes",
                "errors",
                "findings",
                "bytes_downloaded",
                "cache_parts_written",
            ),
            0,
        )

    def info(self, target: ScanTarget) -> ReleaseInfo:
        return ReleaseInfo(
            target.package,
            target.version,
            target.filename,
            target.sha256,
            self.version,
            self.config_hash,
            self.now,
        )

    def emit(
        self,
        scan: dict[str, Any],
        findings: Sequence[dict[str, Any]] = (),
        errors: Sequence[dict[str, Any]] = (),
    ) -> None:
        self.rows["bandit_scans"].append(scan)
        self.rows["bandit_findings"].extend(findings)
        self.rows["bandit_errors"].extend(errors)
        self.stats["scanned" if scan["status"] == SCANNED else "not_scanned"] += 1
        self.stats["files"] += scan["files"]
        self.stats["files_from_cache"] += scan["files_from_cache"]
        self.progress.advance()

    def prepare(self, index: int, target: ScanTarget, window: Path) -> _Prepared | None:
        """Download and extract one release; emit its row now if it cannot be analysed."""
        started = time.monotonic()
        self.progress.detail(f"downloading {target.package} {target.version}")
        if not target.url or not target.filename:
            self.emit(scan_row(self.info(target), NO_SDIST, "release has no sdist on PyPI"))
            return None
        sdist = self.directory / f"sdist-{index}"
        try:
            self.stats["bytes_downloaded"] += download_sdist(
                self.client,
                target.url,
                sdist,
                sha256=target.sha256,
                size=target.size,
                max_bytes=self.settings.sdist_max_bytes,
            )
            extraction = extract_python_files(sdist, window, self.limits, self.keep)
        except ReleaseProblem as problem:
            log.warning("bandit: %s %s: %s", target.package, target.version, problem.reason)
            elapsed = int((time.monotonic() - started) * 1000)
            self.emit(
                scan_row(self.info(target), problem.status, problem.reason, duration_ms=elapsed)
            )
            return None
        finally:
            sdist.unlink(missing_ok=True)
        elapsed = int((time.monotonic() - started) * 1000)
        return _Prepared(target, extraction.files, extraction.skipped, elapsed)

    def keep(self, hashes: Collection[str]) -> list[str]:
        """Of a batch of extracted contents, those without a result: they must be written."""
        unknown = [sha for sha in hashes if sha not in self.results]
        if unknown:
            self.results.update(self.cache.lookup(unknown))
        return [sha for sha in unknown if sha not in self.results]

    def analyse_window(self, releases: list[_Prepared], window: Path) -> None:
        """Reuse known results, analyse the rest in workers, and emit each release's rows as
        soon as all its files have a result (so progress moves release by release)."""
        hashes = {f.sha256 for r in releases for f in r.files}
        results = {sha: self.results[sha] for sha in hashes if sha in self.results}
        self.results = {}
        known = set(results)
        for release in releases:
            for item in release.files:
                if item.sha256 in known and item.sha256 not in release.first_seen:
                    release.from_cache += 1
                else:
                    release.first_seen.add(item.sha256)
            known.update(release.first_seen)
        sizes = {f.sha256: f.size for r in releases for f in r.files}
        jobs = [
            FileJob(sha, stored_path(window, sha), sizes[sha])
            for sha in sorted(hashes - set(results))
        ]
        waiting = _Waiting(releases, results, lambda release: self.finish(release, results))
        if jobs:
            log.info("bandit: analysing %d new files (%d cached)", len(jobs), len(results))
            self.progress.detail(f"0/{len(jobs):,} new files analysed")

            def fresh(result: FileResult) -> None:
                self.cache.add(result, self.now)
                if self.cache.pending >= CACHE_FLUSH_RESULTS:
                    self._flush()
                results[result.sha256] = result
                waiting.done(result.sha256)
                self.progress.detail(f"{waiting.analysed:,}/{len(jobs):,} new files analysed")

            results.update(self.runner.run(jobs, fresh))
            self.stats["files_analysed"] += len(jobs)
        waiting.flush()

    def finish(self, release: _Prepared, results: dict[str, FileResult]) -> None:
        """Emit the rows of a release whose files all have a result."""
        spent = sum(results[sha].analysis_ms for sha in release.first_seen)
        scan, findings, errors = analysed_release_rows(
            self.info(release.target),
            release.files,
            release.skipped,
            results,
            files_from_cache=release.from_cache,
            duration_ms=release.prep_ms + spent,
        )
        self.emit(scan, findings, errors)

    def _flush(self) -> None:
        if self.cache.flush() is not None:
            self.stats["cache_parts_written"] += 1

    def run(self, targets: Sequence[ScanTarget]) -> BanditResult:
        unique = list({(t.package, t.version): t for t in reversed(targets)}.values())[::-1]
        if len(unique) != len(targets):
            log.warning("bandit: %d duplicate targets ignored", len(targets) - len(unique))
        self.stats["releases"] = len(unique)
        self.progress.stage("scanning sdists with Bandit", len(unique))
        try:
            self.directory.mkdir(parents=True, exist_ok=False)
            window_number = 0
            window = self.directory / f"w{window_number}"
            waiting: list[_Prepared] = []
            size = 0
            for index, target in enumerate(unique):
                prepared = self.prepare(index, target, window)
                if prepared is None:
                    continue
                waiting.append(prepared)
                size += sum(f.size for f in prepared.files)
                if size >= WINDOW_BYTES or len(waiting) >= WINDOW_RELEASES:
                    self.analyse_window(waiting, window)
                    shutil.rmtree(window, ignore_errors=True)
                    window_number += 1
                    window = self.directory / f"w{window_number}"
                    waiting, size = [], 0
            if waiting:
                self.analyse_window(waiting, window)
        finally:
            try:
                self._flush()
            finally:
                shutil.rmtree(self.directory, ignore_errors=True)
                with contextlib.suppress(OSError):
                    self.scratch.rmdir()  # only if nothing else uses it
        self.stats["bandit_processes"] = self.runner.processes_started
        self.stats["errors"] = len(self.rows["bandit_errors"])
        self.stats["findings"] = len(self.rows["bandit_findings"])
        tables = {name: contract(name).table_from_rows(self.rows[name]) for name in TABLES}
        return BanditResult(tables, self.stats)


def analyse_releases(
    settings: Settings,
    workspace: Workspace,
    client: HttpClient,
    targets: Sequence[ScanTarget],
    progress: Progress | None = None,
    now: datetime | None = None,
) -> BanditResult:
    """Scan the sdists of ``targets`` with Bandit and return the three Bandit tables.

    Every target gets exactly one ``bandit_scans`` row whose status says whether it was
    analysed. sdists are only ever downloaded (verified against PyPI's sha256) and read as
    archives, never built, installed or imported. File contents already analysed under the same
    Bandit version and configuration come from the cache under ``workspace.bandit_cache``;
    new results are added to it as a new Parquet part. Scratch files are removed on return,
    also when an error propagates.
    """
    moment = now or datetime.now(UTC)
    run = _Run(settings, workspace, client, progress or NullProgress(), moment)
    return run.run(targets)

"""The advisory source: sync the advisory-db and turn changed files into the advisory tables.

Incremental by commit: the previous snapshot's tables are the state. A run parses only the
files changed since the commit that snapshot ingested (``git diff --name-status``), plus files
that had problems last time (so duplicate ids and warnings are always re-judged); a deleted
file is a tombstone that removes its advisory. Without a usable previous commit it parses all.
"""

from __future__ import annotations

import logging
import multiprocessing
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor, as_completed
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from aggregators import __version__
from aggregators.core.config import Settings
from aggregators.core.contracts import contract
from aggregators.core.progress import Progress
from aggregators.core.versions import canonical_version
from aggregators.core.workspace import Workspace
from aggregators.sources.advisories.gitsync import AdvisoryRepo, SyncResult, TreeFile
from aggregators.sources.advisories.osv import ADVISORY_SUFFIXES, SOURCE, ParsedFile, parse_batch
from aggregators.sources.base import (
    UNCHANGED,
    UPDATED,
    PreviousSnapshot,
    RunState,
    SourceResult,
    error_row,
)
from aggregators.sources.registry import SOURCE_TABLES

log = logging.getLogger(__name__)

PREFIX = "vulns"
TABLES = SOURCE_TABLES[SOURCE]


def parser_format() -> str:
    """What made the advisory rows: seckb's version and the contracts' versions. Rows made by
    another format are re-parsed from scratch rather than merged with new ones."""
    versions = ",".join(f"{name}:{contract(name).version}" for name in (*TABLES, "ingest_errors"))
    return f"seckb {__version__}; {versions}"


def is_advisory_path(path: str) -> bool:
    """Whether a repository path is an advisory file (``vulns/**.yaml|yml|json``)."""
    return path.startswith(PREFIX + "/") and path.endswith(ADVISORY_SUFFIXES)


def _chunks(files: Sequence[TreeFile], count: int) -> list[list[TreeFile]]:
    """Split work into ``count`` chunks of similar byte size (largest first, greedy)."""
    buckets: list[list[TreeFile]] = [[] for _ in range(count)]
    sizes = [0] * count
    for item in sorted(files, key=lambda f: f.size, reverse=True):
        i = sizes.index(min(sizes))
        buckets[i].append(item)
        sizes[i] += item.size
    return [b for b in buckets if b]


@dataclass
class Batch:
    """Parsed files as Arrow tables (unsorted) plus their ``ingest_errors`` rows."""

    files: int
    tables: dict[str, pa.Table]
    errors: list[dict[str, Any]]


def to_batch(parsed: Sequence[ParsedFile]) -> Batch:
    """Turn parsed files into a :class:`Batch` (in the worker, so the parent gets Arrow data)."""
    rows: dict[str, list[dict[str, Any]]] = {name: [] for name in TABLES}
    errors: list[dict[str, Any]] = []
    for item in parsed:
        if item.advisory is not None:
            rows["advisories"].append(item.advisory)
            rows["advisory_packages"].extend(item.packages)
            rows["advisory_ranges"].extend(item.events)
            if item.record is not None:
                rows["osv_records"].append(item.record)
        errors.extend(item.errors)
    tables = {name: contract(name).table_from_rows(rows[name], sort=False) for name in TABLES}
    return Batch(len(parsed), tables, errors)


def read_and_parse(repo_path: Path, files: Sequence[TreeFile], commit: str) -> Batch:
    """Read blobs from the mirror and parse them: the unit of work of one worker process."""
    repo = AdvisoryRepo(repo_path, url="")
    try:
        blobs = repo.read_blobs([f.blob for f in files])
        items = [(f.path, data, f.blob) for f, data in zip(files, blobs, strict=True)]
        return to_batch(parse_batch(items, commit))
    finally:
        repo.close()


def parse_files(
    repo_path: Path,
    files: Sequence[TreeFile],
    commit: str,
    workers: int,
    min_parallel: int,
    on_batch: Callable[[Batch], None],
) -> None:
    """Read and parse advisory files, handing each parsed batch to ``on_batch``.

    Large batches go to worker processes; each reads its own blobs from git, so neither file
    content nor parsing funnels through one process, and ``on_batch`` runs in this process
    while the workers go on with the next chunks.
    """
    if workers <= 1 or len(files) < min_parallel:
        on_batch(read_and_parse(repo_path, files, commit))
        return
    context = multiprocessing.get_context("fork")
    with ProcessPoolExecutor(max_workers=workers, mp_context=context) as pool:
        futures = [
            pool.submit(read_and_parse, repo_path, chunk, commit)
            for chunk in _chunks(files, workers * 4)
        ]
        for future in as_completed(futures):
            on_batch(future.result())


class Fresh:
    """Freshly parsed batches, collected as the workers finish them."""

    def __init__(self) -> None:
        """Start empty."""
        self.tables: dict[str, list[pa.Table]] = {name: [] for name in TABLES}
        self.errors: list[dict[str, Any]] = []

    def add(self, batch: Batch) -> None:
        """Absorb one batch; also parse its versions now, while the workers are busy."""
        for name in TABLES:
            self.tables[name].append(batch.tables[name])
        self.errors.extend(batch.errors)
        versions = pc.list_flatten(batch.tables["advisory_packages"].column("versions"))
        for text in (
            versions.to_pylist() + batch.tables["advisory_ranges"].column("version").to_pylist()
        ):
            canonical_version(text)


def _dedupe_key(row: dict[str, Any]) -> tuple[int, str]:
    """Canonical file for an id first (``vulns/<pkg>/<ID>.yaml``), then by path."""
    canonical = PurePosixPath(row["source_path"]).stem == row["id"]
    return (0 if canonical else 1, row["source_path"])


class AdvisorySource:
    """The PyPA advisory-db as the ``advisories`` source."""

    name = SOURCE

    def __init__(self, settings: Settings, workspace: Workspace) -> None:
        """Bind the source to its settings and data root."""
        self.settings = settings
        self.repo = AdvisoryRepo(
            workspace.advisory_db, settings.advisory_db_url, settings.git_timeout_seconds
        )

    def update(self, state: RunState, progress: Progress) -> SourceResult:
        """Turn the synced commit into new tables, or ``unchanged`` when nothing moved."""
        started = time.monotonic()
        previous: PreviousSnapshot | None = state.previous
        synced: SyncResult = state.fetched[SOURCE]
        lineage: dict[str, Any] = {
            "url": self.settings.advisory_db_url,
            "branch": synced.branch,
            "commit": synced.commit,
            "committed_at": synced.committed_at.isoformat(),
            "format": parser_format(),
        }
        before = previous.source(SOURCE).get("lineage", {}) if previous else {}
        has_tables = previous is not None and {*TABLES, "ingest_errors"} <= set(previous.tables)
        same_format = before.get("format") == lineage["format"]
        same_source = before.get("url") == lineage["url"]
        if has_tables and same_format and same_source and before.get("commit") == synced.commit:
            return SourceResult(SOURCE, UNCHANGED, lineage, stats={"files_parsed": 0})
        old_tables = self._previous_tables(previous) if same_format else None
        if has_tables and not same_format:
            log.info("advisories: parser or contracts changed since the last run; parsing all")

        old_commit = before.get("commit")
        tree, todo, deleted, mode = self._work(synced.commit, old_commit, old_tables)
        if mode == "full":
            old_tables = None
        lineage["previous_commit"] = old_commit
        lineage["mode"] = mode

        parse_started = time.monotonic()
        fresh = Fresh()
        progress.stage("parsing advisories", len(todo))

        def absorb(batch: Batch) -> None:
            fresh.add(batch)
            progress.advance(batch.files)

        self._parse([tree[p] for p in todo], synced.commit, absorb)
        log.info(
            "advisories: parsed %d files (%s) in %.2f s",
            len(todo),
            mode,
            time.monotonic() - parse_started,
        )
        tables, stats = self._merge(old_tables, fresh, set(todo) | deleted)
        stats.update(files_parsed=len(todo), seconds_ms=int((time.monotonic() - started) * 1000))
        return SourceResult(SOURCE, UPDATED, lineage, tables, stats)

    def _work(
        self, commit: str, old_commit: str | None, old_tables: dict[str, pa.Table] | None
    ) -> tuple[dict[str, TreeFile], list[str], set[str], str]:
        """The advisory files at ``commit``, those to parse, those deleted, and the mode:
        ``incremental`` from ``old_commit`` when it and the old tables are usable, else
        ``full``."""
        tree = {f.path: f for f in self.repo.list_files(commit, PREFIX) if is_advisory_path(f.path)}
        if old_tables is not None and old_commit and self.repo.has_commit(old_commit):
            changes = [
                c for c in self.repo.changes(old_commit, commit, PREFIX) if is_advisory_path(c.path)
            ]
            deleted = {c.path for c in changes if c.status == "D"}
            errored = set(old_tables["ingest_errors"].column("path").to_pylist())
            todo = sorted(({c.path for c in changes if c.status != "D"} | errored) & set(tree))
            return tree, todo, deleted, "incremental"
        if old_tables is not None:
            log.warning("previous commit %s unavailable; parsing everything", old_commit)
        return tree, sorted(tree), set(), "full"

    def _previous_tables(self, previous: PreviousSnapshot | None) -> dict[str, pa.Table] | None:
        if previous is None:
            return None
        tables: dict[str, pa.Table] = {}
        for name in (*TABLES, "ingest_errors"):
            table = previous.read(name)
            if table is None:
                return None
            tables[name] = table
        errors = tables["ingest_errors"]
        tables["ingest_errors"] = errors.filter(pc.equal(errors.column("source"), SOURCE))
        return tables

    def _parse(
        self, files: Sequence[TreeFile], commit: str, on_batch: Callable[[Batch], None]
    ) -> None:
        limit = self.settings.max_advisory_bytes
        oversized = []
        for f in files:
            if f.size > limit:
                skipped = ParsedFile(f.path)
                skipped.error(f"file too large: {f.size} bytes > max_advisory_bytes {limit}")
                oversized.append(skipped)
        if oversized:
            on_batch(to_batch(oversized))
        wanted = [f for f in files if f.size <= limit]
        parse_files(
            self.repo.path,
            wanted,
            commit,
            self.settings.workers,
            self.settings.parallel_min_files,
            on_batch,
        )

    def _merge(
        self, old: dict[str, pa.Table] | None, fresh: Fresh, touched: set[str]
    ) -> tuple[dict[str, pa.Table], dict[str, int]]:
        """Old rows of untouched files + freshly parsed rows, with duplicate ids resolved."""
        errors = list(fresh.errors)
        kept: dict[str, pa.Table] = {}
        for name in TABLES:
            parts = fresh.tables[name] or [contract(name).empty()]
            if old is not None:
                stale = pc.is_in(
                    old[name].column("source_path"), pa.array(sorted(touched), pa.string())
                )
                parts = [old[name].filter(pc.invert(stale)), *parts]
            kept[name] = pa.concat_tables(parts)

        # Duplicate ids: keep one file per id, deterministically; the others are errors.
        ids = kept["advisories"].select(["id", "source_path"]).to_pylist()
        by_id: dict[str, list[dict[str, Any]]] = {}
        for row in ids:
            by_id.setdefault(row["id"], []).append(row)
        dropped: set[str] = set()
        for adv_id, group in by_id.items():
            if len(group) > 1:
                winner, *losers = sorted(group, key=_dedupe_key)
                for loser in losers:
                    dropped.add(loser["source_path"])
                    reason = f"duplicate id {adv_id}: already defined in {winner['source_path']}"
                    errors.append(error_row(SOURCE, loser["source_path"], reason, "error", adv_id))
        if dropped:
            mask = pa.array(sorted(dropped), pa.string())
            for name in TABLES:
                table = kept[name]
                kept[name] = table.filter(pc.invert(pc.is_in(table.column("source_path"), mask)))

        tables = {name: contract(name).conform(kept[name]) for name in TABLES}
        tables["ingest_errors"] = contract("ingest_errors").table_from_rows(errors)
        return tables, self._stats(old, tables)

    @staticmethod
    def _stats(old: dict[str, pa.Table] | None, new: dict[str, pa.Table]) -> dict[str, int]:
        def state(tables: dict[str, pa.Table] | None) -> dict[str, dict[str, Any]]:
            if tables is None:
                return {}
            rows = tables["advisories"].select(["id", "withdrawn", "source_blob"]).to_pylist()
            return {row["id"]: row for row in rows}

        before, after = state(old), state(new)
        errors = new["ingest_errors"].column("level").to_pylist()
        return {
            "advisories": len(after),
            "new": sum(1 for i in after if i not in before),
            "changed": sum(1 for i, row in after.items() if i in before and before[i] != row),
            "withdrawn": sum(
                1
                for i, row in after.items()
                if row["withdrawn"] is not None
                and (i not in before or before[i]["withdrawn"] is None)
            ),
            "deleted": sum(1 for i in before if i not in after),
            "errors": errors.count("error"),
            "warnings": errors.count("warning"),
        }

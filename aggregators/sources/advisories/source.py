"""The advisories source: the OSV git repositories (the PyPA advisory-db first) as the advisory
tables.

Incremental by commit, per repository: the previous snapshot's tables are the state. A run
parses only the files changed since the commit that snapshot ingested (``git diff
--name-status``), plus files that had problems last time (so duplicate ids and warnings are
always re-judged); a deleted file is a tombstone that removes its advisory. Without a usable
previous commit it parses the whole repository. A repository other than the advisory-db that
cannot be synced keeps its previous rows (and problems), and the run records why. Records of
several repositories that are one issue are then merged (:mod:`.merge`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from aggregators import __version__
from aggregators.core.config import Settings
from aggregators.core.contracts import contract
from aggregators.core.progress import Progress
from aggregators.core.workspace import Workspace
from aggregators.sources.advisories.gitsync import Synced, TreeFile, open_repository
from aggregators.sources.advisories.merge import drop_duplicates, flag_malicious, merge_origins
from aggregators.sources.advisories.osv import SOURCE, ParsedFile
from aggregators.sources.advisories.parsing import Batch, Fresh, parse_files, to_batch
from aggregators.sources.advisories.repositories import (
    DEFAULT_ORIGIN,
    OsvRepository,
    configured_repositories,
    origin_of,
)
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

TABLES = SOURCE_TABLES[SOURCE]


def parser_format(repositories: Sequence[OsvRepository] = ()) -> str:
    """What made the advisory rows: seckb's version, the contracts' versions and the other
    repositories read. Rows made by another format are re-parsed from scratch rather than
    merged with new ones."""
    versions = ",".join(f"{name}:{contract(name).version}" for name in (*TABLES, "ingest_errors"))
    others = [r.describe() for r in repositories if r.name != DEFAULT_ORIGIN]
    return f"seckb {__version__}; {versions}" + "".join(f"; {o}" for o in others)


@dataclass
class Work:
    """What one run parses: the files of each repository, and what the old rows lose."""

    files: list[tuple[OsvRepository, str, list[TreeFile]]] = field(default_factory=list)
    touched: set[str] = field(default_factory=set)
    """Paths whose old rows are replaced (parsed again, or deleted)."""
    replaced: set[str] = field(default_factory=set)
    """Repositories parsed whole: none of their old rows is kept."""

    @property
    def count(self) -> int:
        """How many files are parsed."""
        return sum(len(files) for _r, _c, files in self.files)


class AdvisorySource:
    """The OSV git repositories as the ``advisories`` source."""

    name = SOURCE

    def __init__(self, settings: Settings, workspace: Workspace) -> None:
        """Bind the source to its settings and data root."""
        self.settings = settings
        self.repositories = configured_repositories(settings)
        self.mirrors = {r.name: open_repository(r, settings, workspace) for r in self.repositories}

    def update(self, state: RunState, progress: Progress) -> SourceResult:
        """Turn the synced commits into new tables, or ``unchanged`` when nothing moved."""
        started = time.monotonic()
        previous: PreviousSnapshot | None = state.previous
        synced: Synced = state.fetched[SOURCE]
        before = previous.source(SOURCE).get("lineage", {}) if previous else {}
        lineage = self._lineage(synced, before)
        has_tables = previous is not None and {*TABLES, "ingest_errors"} <= set(previous.tables)
        same_format = before.get("format") == lineage["format"]
        same_source = before.get("url") == lineage["url"]
        others_same = lineage["repositories"] == {
            name: {k: v for k, v in entry.items() if k not in ("previous_commit", "mode")}
            for name, entry in before.get("repositories", {}).items()
        }
        if (
            has_tables
            and same_format
            and same_source
            and before.get("commit") == lineage["commit"]
            and others_same
        ):
            return SourceResult(SOURCE, UNCHANGED, before, stats={"files_parsed": 0})
        old_tables = self._previous_tables(previous) if same_format else None
        if has_tables and not same_format:
            log.info("advisories: parser, contracts or repositories changed; parsing all")
        work = self._plan(synced, before, old_tables, lineage)
        parse_started = time.monotonic()
        fresh = Fresh()
        progress.stage("parsing advisories", work.count)

        def absorb(batch: Batch) -> None:
            fresh.add(batch)
            progress.advance(batch.files)

        for repository, commit, files in work.files:
            self._parse(repository, files, commit, absorb)
        log.info(
            "advisories: parsed %d files (%s) in %.2f s",
            work.count,
            lineage["mode"],
            time.monotonic() - parse_started,
        )
        failed = {name: entry["error"] for name, entry in lineage["repositories"].items()}
        tables, stats = self._merge(old_tables, fresh, work, {k: v for k, v in failed.items() if v})
        stats.update(files_parsed=work.count, seconds_ms=int((time.monotonic() - started) * 1000))
        return SourceResult(SOURCE, UPDATED, lineage, tables, stats)

    def _lineage(self, synced: Synced, before: dict[str, Any]) -> dict[str, Any]:
        """Where each repository stands: the advisory-db's fields at the top, as always, and
        the other repositories under ``repositories`` (a failed one keeps its last commit)."""
        head = synced.heads[DEFAULT_ORIGIN]
        lineage: dict[str, Any] = {
            "url": self.settings.advisory_db_url,
            "branch": head.branch,
            "commit": head.commit,
            "committed_at": head.committed_at.isoformat(),
            "format": parser_format(self.repositories),
            "repositories": {},
        }
        old = before.get("repositories", {})
        for repository in self.repositories[1:]:
            found = synced.heads.get(repository.name)
            last = old.get(repository.name, {})
            lineage["repositories"][repository.name] = {
                "url": repository.url,
                "folders": list(repository.folders),
                "branch": found.branch if found else last.get("branch"),
                "commit": found.commit if found else last.get("commit"),
                "committed_at": found.committed_at.isoformat()
                if found
                else last.get("committed_at"),
                "error": synced.errors.get(repository.name),
            }
        return lineage

    def _plan(
        self,
        synced: Synced,
        before: dict[str, Any],
        old_tables: dict[str, pa.Table] | None,
        lineage: dict[str, Any],
    ) -> Work:
        """The files to parse in each synced repository, and the mode of each."""
        work = Work()
        modes = []
        for repository in self.repositories:
            head = synced.heads.get(repository.name)
            if head is None:
                continue  # not synced: its old rows stay
            if repository.name == DEFAULT_ORIGIN:
                entry, old_commit = lineage, before.get("commit")
            else:
                entry = lineage["repositories"][repository.name]
                old_commit = before.get("repositories", {}).get(repository.name, {}).get("commit")
            tree, todo, deleted, mode = self._work(repository, head.commit, old_commit, old_tables)
            entry["previous_commit"], entry["mode"] = old_commit, mode
            modes.append(mode)
            if mode == "full":
                work.replaced.add(repository.name)
            work.touched |= set(todo) | deleted
            work.files.append((repository, head.commit, [tree[p] for p in todo]))
        lineage["mode"] = "full" if all(m == "full" for m in modes) else "incremental"
        return work

    def _work(
        self,
        repository: OsvRepository,
        commit: str,
        old_commit: str | None,
        old_tables: dict[str, pa.Table] | None,
    ) -> tuple[dict[str, TreeFile], list[str], set[str], str]:
        """The advisory files of ``repository`` at ``commit`` (by recorded path), those to
        parse, those deleted, and the mode: ``incremental`` from ``old_commit`` when it and
        the old tables are usable, else ``full``."""
        mirror = self.mirrors[repository.name]
        tree = {
            repository.shown(f.path): TreeFile(repository.shown(f.path), f.blob, f.size)
            for f in mirror.list_files(commit, *repository.folders)
            if repository.is_advisory(f.path)
        }
        if old_tables is not None and old_commit and mirror.has_commit(old_commit):
            changes = [
                c
                for c in mirror.changes(old_commit, commit, *repository.folders)
                if repository.is_advisory(c.path)
            ]
            deleted = {repository.shown(c.path) for c in changes if c.status == "D"}
            errored = set(old_tables["ingest_errors"].column("path").to_pylist())
            changed = {repository.shown(c.path) for c in changes if c.status != "D"}
            return tree, sorted((changed | errored) & set(tree)), deleted, "incremental"
        if old_tables is not None:
            log.warning(
                "%s: previous commit %s unavailable; parsing everything",
                repository.name,
                old_commit,
            )
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
        self,
        repository: OsvRepository,
        files: Sequence[TreeFile],
        commit: str,
        on_batch: Callable[[Batch], None],
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
            self.mirrors[repository.name].path,
            wanted,
            commit,
            repository.name,
            self.settings.workers,
            self.settings.parallel_min_files,
            on_batch,
        )

    def _kept(self, old: pa.Table, work: Work) -> pa.Table:
        """The old rows no file of this run replaces."""
        paths = old.column("source_path")
        stale = pc.is_in(paths, pa.array(sorted(work.touched), pa.string()))
        if work.replaced:
            origins = pa.array([origin_of(p) for p in paths.to_pylist()], pa.string())
            stale = pc.or_(stale, pc.is_in(origins, pa.array(sorted(work.replaced), pa.string())))
        return old.filter(pc.invert(stale))

    def _merge(
        self,
        old: dict[str, pa.Table] | None,
        fresh: Fresh,
        work: Work,
        failed: dict[str, str],
    ) -> tuple[dict[str, pa.Table], dict[str, int]]:
        """Old rows of untouched files + freshly parsed rows, with duplicate ids resolved and
        the repositories' records of one issue merged."""
        errors = list(fresh.errors)
        for name, reason in failed.items():
            errors.append(error_row(SOURCE, f"{name}:", f"not synced: {reason}", "error"))
        if old is not None:
            carried = [
                row
                for row in old["ingest_errors"].to_pylist()
                if origin_of(row["path"]) in failed and row["path"] != f"{origin_of(row['path'])}:"
            ]
            errors.extend(carried)
        kept: dict[str, pa.Table] = {}
        for name in TABLES:
            parts = fresh.tables[name] or [contract(name).empty()]
            if old is not None:
                parts = [self._kept(old[name], work), *parts]
            kept[name] = pa.concat_tables(parts)
        order = [r.name for r in self.repositories]
        dropped, flagged = drop_duplicates(kept["advisories"], order, errors)
        if dropped:
            mask = pa.array(sorted(dropped), pa.string())
            for name in TABLES:
                table = kept[name]
                kept[name] = table.filter(pc.invert(pc.is_in(table.column("source_path"), mask)))
        kept["advisories"] = merge_origins(flag_malicious(kept["advisories"], flagged), order)
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

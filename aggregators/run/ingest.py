"""``seckb ingest``: run the sources, build the knowledge tables, publish a snapshot.

Fetch (I/O) -> parse/normalize (pure) -> tables -> publish (atomic) -> DuckDB views. The CLI and
the Airflow DAGs both call :func:`ingest`; nothing here reads the environment.

This module stays light to import: the sources' fetch steps (git, HTTP) start in threads first,
and the heavy libraries (pyarrow, DuckDB) are imported while those fetches run.
"""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aggregators.core.clock import utcnow
from aggregators.core.config import Settings
from aggregators.core.errors import ConfigError, SourceError
from aggregators.core.lock import DataRootLock
from aggregators.core.names import normalize_name
from aggregators.core.perf import gc_paused
from aggregators.core.progress import NullProgress, Progress
from aggregators.core.workspace import Workspace
from aggregators.sources.advisories.gitsync import fetch_advisory_db
from aggregators.sources.base import UPDATED, RunState, SourceResult

if TYPE_CHECKING:
    from aggregators.store.snapshots import Snapshot, SnapshotStore

log = logging.getLogger(__name__)

ALL_SOURCES = ("advisories", "pypi", "bandit", "scorecards")
"""Every source name seckb knows, in the order they run."""

FETCHERS: dict[str, Callable[[Settings, Workspace], Any]] = {
    "advisories": fetch_advisory_db,
}
"""The I/O step of each implemented source; it must not import heavy libraries."""


UPDATERS = {
    "advisories": ("aggregators.sources.advisories.source", "AdvisorySource"),
    "pypi": ("aggregators.sources.pypi.source", "PyPISource"),
    "bandit": ("aggregators.sources.bandit.source", "BanditSource"),
    "scorecards": ("aggregators.sources.scorecards.source", "ScorecardSource"),
}
"""Where each source's update step lives: imported only when that source runs (they pull in
pyarrow, requests, Bandit)."""


def source_updater(name: str) -> Any:
    """The update-step class of one source."""
    module, attribute = UPDATERS[name]
    return getattr(importlib.import_module(module), attribute)


IMPLEMENTED = ALL_SOURCES
"""Sources this version of seckb implements."""


@dataclass
class IngestReport:
    """What a run did: the snapshot now current, per-source results and failures."""

    snapshot: Snapshot | None
    published: bool
    results: dict[str, SourceResult] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    pruned: list[str] = field(default_factory=list)
    seconds: float = 0.0

    @property
    def warnings(self) -> int:
        """Errors and warnings recorded in ``ingest_errors`` by the sources that updated."""
        return sum(
            r.stats.get("errors", 0) + r.stats.get("warnings", 0) for r in self.results.values()
        )


def views_current(ws: Workspace) -> bool:
    """Whether ``seckb.duckdb`` was rebuilt after ``LATEST`` last moved."""
    try:
        return ws.duckdb.stat().st_mtime >= ws.latest_pointer.stat().st_mtime
    except FileNotFoundError:
        return False


def after_publish(
    ws: Workspace,
    store: SnapshotStore,
    settings: Settings,
    current: Snapshot | None,
    published: bool,
) -> list[str]:
    """Point ``seckb.duckdb`` at ``current`` when it moved (or the views are behind), and prune
    old snapshots after a publish; return the pruned ids. Both entry points end with this."""
    if current is not None and (published or not views_current(ws)):
        from aggregators.store.views import refresh  # DuckDB only when views change

        refresh(ws.duckdb, current)
    return store.prune(settings.keep_snapshots) if published else []


def resolve_sources(spec: str | Sequence[str] | None) -> list[str]:
    """Validate a ``--sources`` value; ``None`` means every implemented source."""
    if spec is None:
        return [name for name in ALL_SOURCES if name in IMPLEMENTED]
    names = [n.strip() for n in (spec.split(",") if isinstance(spec, str) else spec) if n.strip()]
    if not names:
        raise ConfigError("--sources names no source")
    for name in names:
        if name not in ALL_SOURCES:
            raise ConfigError(f"unknown source {name!r}; known: {', '.join(ALL_SOURCES)}")
        if name not in IMPLEMENTED:
            raise ConfigError(f"source {name!r} is not implemented in this version of seckb")
    return [name for name in ALL_SOURCES if name in names]


def resolve_packages(spec: str | Sequence[str] | None) -> list[str] | None:
    """Normalize a ``--packages`` value (PEP 503); ``None`` means every tracked package."""
    if spec is None:
        return None
    names = spec.split(",") if isinstance(spec, str) else list(spec)
    packages = sorted({normalize_name(n.strip()) for n in names if n.strip()})
    if not packages:
        raise ConfigError("--packages names no package")
    return packages


def ingest(
    settings: Settings,
    sources: str | Sequence[str] | None = None,
    packages: str | Sequence[str] | None = None,
    progress: Progress | None = None,
    now: datetime | None = None,
) -> IngestReport:
    """Run the selected sources and publish a snapshot if anything changed.

    A failing source is recorded and its previous tables carry forward; when every selected
    source fails nothing is published and :class:`SourceError` is raised. ``packages`` narrows
    per-package sources (PyPI, Bandit, Scorecard); the advisory-db is always read whole.
    """
    started = time.monotonic()
    progress = progress or NullProgress()
    names = resolve_sources(sources)
    selected_packages = resolve_packages(packages)
    ws = Workspace(settings.home)
    ws.ensure()
    with DataRootLock(ws.lock, settings.lock_wait_seconds):
        progress.stage("fetching " + ", ".join(names))
        with (
            ThreadPoolExecutor(max_workers=len(names), thread_name_prefix="fetch") as pool,
            gc_paused(),
        ):
            fetches: dict[str, Future[Any]] = {
                name: pool.submit(FETCHERS[name], settings, ws)
                for name in names
                if name in FETCHERS
            }
            # Imported here on purpose: pyarrow loads while the fetches run, and so do the
            # publishing modules (DuckDB) if the fetches are still busy (a clone, not a no-op).
            from aggregators.store.snapshots import SnapshotStore

            updaters = {name: source_updater(name) for name in names}
            if not all(f.done() for f in fetches.values()):
                importlib.import_module("aggregators.run.publish")
                importlib.import_module("aggregators.store.views")
            store = SnapshotStore(ws)
            store.clean_staging()
            previous = store.latest()
            report = IngestReport(snapshot=previous, published=False)
            state = RunState(previous, report.results, selected_packages)
            for name in names:
                try:
                    if name in fetches:
                        state.fetched[name] = fetches[name].result()
                        log.info("%s: fetched after %.2f s", name, time.monotonic() - started)
                    report.results[name] = updaters[name](settings, ws).update(state, progress)
                except SourceError as exc:
                    log.info("source %s failed: %s", name, exc)
                    report.failures[name] = str(exc)
                except Exception as exc:  # a bug or a surprise in one source spares the others
                    log.exception("source %s failed unexpectedly", name)
                    report.failures[name] = f"unexpected {type(exc).__name__}: {exc}"
        if report.failures and len(report.failures) == len(names):
            raise SourceError("; ".join(report.failures.values()))
        if any(r.status == UPDATED for r in report.results.values()):
            progress.stage("publishing snapshot")
            with gc_paused():
                from aggregators.run import publish

                report.snapshot = publish.publish(
                    store, previous, report.results, report.failures, now or utcnow()
                )
            report.published = True
            log.info("published %s after %.2f s", report.snapshot.id, time.monotonic() - started)
        report.pruned = after_publish(ws, store, settings, report.snapshot, report.published)
    report.seconds = time.monotonic() - started
    return report

"""``seckb ingest``: every step of a run in one process (the CLI's entry to :mod:`.steps`).

Fetch (I/O) -> parse/normalize (pure) -> tables -> publish (atomic) -> DuckDB views. Nothing
here reads the environment. The sources' fetch steps (git) start in threads first, and the
heavy libraries (pyarrow, DuckDB) are imported while those fetches run.
"""

from __future__ import annotations

import importlib
import logging
import time
from collections.abc import Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aggregators.core.clock import utcnow
from aggregators.core.config import Settings
from aggregators.core.errors import ConfigError, SourceError
from aggregators.core.lock import DataRootLock
from aggregators.core.objects import check_store
from aggregators.core.perf import gc_paused
from aggregators.core.progress import NullProgress, Progress
from aggregators.core.workspace import Workspace
from aggregators.run.steps import (
    after_publish,
    guarded,
    publish_results,
    resolve_packages,
    state_for,
    update_source,
)
from aggregators.run.summary import RunSummary, summarize
from aggregators.sources.base import SourceResult
from aggregators.sources.registry import SourceSpec, resolve_sources

if TYPE_CHECKING:
    from aggregators.store.snapshots import Snapshot

log = logging.getLogger(__name__)


@dataclass
class IngestReport:
    """What a run did: the snapshot now current, per-source results and failures."""

    snapshot: Snapshot | None
    published: bool
    results: dict[str, SourceResult] = field(default_factory=dict)
    failures: dict[str, str] = field(default_factory=dict)
    pruned: list[str] = field(default_factory=list)
    seconds: float = 0.0
    summary: RunSummary | None = None
    """What the publish changed (tables, data problems by kind); ``None`` when nothing was
    published."""

    @property
    def warnings(self) -> int:
        """Errors and warnings recorded in ``ingest_errors`` by the sources that updated."""
        return sum(
            r.stats.get("errors", 0) + r.stats.get("warnings", 0) for r in self.results.values()
        )


def _start_fetches(
    pool: ThreadPoolExecutor, specs: Sequence[SourceSpec], settings: Settings, ws: Workspace
) -> dict[str, Future[Any]]:
    """Start every source's fetch step in the pool."""
    fetches: dict[str, Future[Any]] = {}
    for spec in specs:
        fetch = spec.fetcher()
        if fetch is not None:
            fetches[spec.name] = pool.submit(fetch, settings, ws)
    return fetches


def _update_all(
    specs: Sequence[SourceSpec],
    fetches: dict[str, Future[Any]],
    settings: Settings,
    ws: Workspace,
    report: IngestReport,
    packages: list[str] | None,
    progress: Progress,
) -> None:
    """Update each source in order, each seeing the fresh results of those it reads."""
    for spec in specs:
        state = state_for(spec, report.snapshot, report.results, packages)

        def step(spec: SourceSpec = spec, state: Any = state) -> SourceResult:
            if spec.name in fetches:
                state.fetched[spec.name] = fetches[spec.name].result()
            return update_source(spec, settings, ws, state, progress)

        result = guarded(spec.name, report.failures, step)
        if result is not None:
            report.results[spec.name] = result


def _check_publishable(settings: Settings, specs: Sequence[SourceSpec]) -> None:
    """A run without the advisories source on a store with no snapshot could never publish
    (a snapshot needs the advisories tables): say so before any download or analysis."""
    if any(spec.name == "advisories" for spec in specs):
        return
    from aggregators.store.locations import open_store, where

    store = open_store(settings, writing=True)
    if store.latest() is None:
        chosen = ",".join(spec.name for spec in specs)
        raise ConfigError(
            f"nothing could be published: no snapshot yet in {where(store)}, and a first "
            f"snapshot needs the advisories source (--sources {chosen} leaves it out); run "
            f"'seckb ingest --sources advisories,{chosen}' or 'seckb ingest'"
        )


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
    specs = resolve_sources(sources)
    selected = resolve_packages(packages)
    ws = Workspace(settings.home)
    ws.ensure()
    check_store(settings)  # an object store that does not answer: say so before any work
    with DataRootLock(ws.lock, settings.lock_wait_seconds):
        _check_publishable(settings, specs)
        progress.stage("fetching " + ", ".join(spec.name for spec in specs))
        with (
            ThreadPoolExecutor(max_workers=len(specs), thread_name_prefix="fetch") as pool,
            gc_paused(),
        ):
            fetches = _start_fetches(pool, specs, settings, ws)
            # imported while the fetches run: pyarrow, and DuckDB if they are still busy
            from aggregators.store.locations import open_store

            if not all(f.done() for f in fetches.values()):
                importlib.import_module("aggregators.run.publish")
                importlib.import_module("aggregators.store.views")
            store = open_store(settings, writing=True)
            store.clean_staging()
            report = IngestReport(snapshot=store.latest(), published=False)
            previous = report.snapshot
            _update_all(specs, fetches, settings, ws, report, selected, progress)
        if report.failures and len(report.failures) == len(specs):
            raise SourceError("; ".join(report.failures.values()))
        progress.stage("publishing snapshot")
        with gc_paused():
            snapshot = publish_results(
                store, previous, report.results, report.failures, now or utcnow()
            )
        if snapshot is not None:
            report.snapshot, report.published = snapshot, True
            report.summary = summarize(snapshot, previous)
            log.info("published %s after %.2f s", snapshot.id, time.monotonic() - started)
        report.pruned = after_publish(ws, store, settings, report.snapshot, report.published)
    report.seconds = time.monotonic() - started
    return report

"""The steps of a run, shared by both entry points.

``seckb ingest`` (:mod:`aggregators.run.ingest`) runs them all in one process; the Airflow
tasks (:mod:`aggregators.run.tasks`) run one step per task and keep what each produced in a
staged run. Either way a source sees the same state, is updated by the same code, and the
publish decision, the publish and the after-publish work are these functions.

This module stays light to import (no pyarrow, no DuckDB): the sources and the publishing
modules are imported by the steps that need them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from aggregators.core.config import Settings
from aggregators.core.errors import ConfigError, SourceError
from aggregators.core.names import normalize_name
from aggregators.core.progress import Progress
from aggregators.core.workspace import Workspace
from aggregators.sources.base import UPDATED, PreviousSnapshot, RunState, SourceResult
from aggregators.sources.registry import FOUNDATION, SourceSpec

if TYPE_CHECKING:
    from aggregators.store.snapshots import Snapshot, SnapshotStore

log = logging.getLogger(__name__)


def resolve_packages(choice: str | Sequence[str] | None) -> list[str] | None:
    """Normalize a ``--packages`` value (PEP 503); ``None`` means every tracked package."""
    if choice is None:
        return None
    names = choice.split(",") if isinstance(choice, str) else list(choice)
    packages = sorted({normalize_name(n.strip()) for n in names if n.strip()})
    if not packages:
        raise ConfigError("--packages names no package")
    return packages


def state_for(
    spec: SourceSpec,
    previous: PreviousSnapshot | None,
    results: Mapping[str, SourceResult],
    packages: list[str] | None = None,
) -> RunState:
    """What ``spec`` sees: the fresh results of the sources it reads, else the base snapshot."""
    fresh = {name: results[name] for name in spec.after if name in results}
    return RunState(previous, fresh, packages)


def update_source(
    spec: SourceSpec, settings: Settings, workspace: Workspace, state: RunState, progress: Progress
) -> SourceResult:
    """Run one source from start to end: its fetch step (unless already fetched), then its
    update (a fanned-out source plans, does all its work as one part and merges)."""
    fetch = spec.fetcher()
    if fetch is not None and spec.name not in state.fetched:
        state.fetched[spec.name] = fetch(settings, workspace)
    source = spec.load()(settings, workspace)
    result: SourceResult = source.update(state, progress)
    return result


def guarded(
    name: str, failures: dict[str, str], step: Callable[[], SourceResult]
) -> SourceResult | None:
    """Run a source's step; record its failure in ``failures`` instead of raising, so one
    source's failure (or bug) spares the others. A configuration error is not a source's
    failure: it stops the whole run (nothing else runs, nothing is published)."""
    try:
        return step()
    except ConfigError:
        raise
    except SourceError as exc:
        log.info("source %s failed: %s", name, exc)
        failures[name] = str(exc)
    except Exception as exc:  # a bug or a surprise in one source spares the others
        log.exception("source %s failed unexpectedly", name)
        failures[name] = f"unexpected {type(exc).__name__}: {exc}"
    return None


def worth_publishing(results: Mapping[str, SourceResult]) -> bool:
    """Whether the results hold anything new: some source updated its tables."""
    return any(result.status == UPDATED for result in results.values())


def has_foundation(previous: PreviousSnapshot | None, results: Mapping[str, SourceResult]) -> bool:
    """Whether a snapshot built now would hold the advisory tables: fresh, or carried forward."""
    if FOUNDATION in results and results[FOUNDATION].status == UPDATED:
        return True
    return previous is not None and "advisories" in previous.tables


def publish_results(
    store: SnapshotStore,
    previous: Snapshot | None,
    results: Mapping[str, SourceResult],
    failures: Mapping[str, str],
    now: datetime,
    run_id: str | None = None,
) -> Snapshot | None:
    """Publish a snapshot of ``results`` on top of ``previous`` when worth it; ``None`` when
    nothing is new, or when the snapshot would lack the advisory tables (a failed first run)."""
    if not worth_publishing(results):
        return None
    if not has_foundation(previous, results):
        log.warning(
            "not publishing: no advisory tables (the %s source never succeeded)", FOUNDATION
        )
        return None
    from aggregators.run import publish

    return publish.publish(store, previous, dict(results), dict(failures), now, run_id)


def views_current(ws: Workspace, current: Snapshot) -> bool:
    """Whether ``seckb.duckdb`` holds the views of ``current`` (the snapshot ``LATEST`` names,
    wherever the store is: the data root or an object store)."""
    from aggregators.store.locations import views_of

    return views_of(ws.duckdb) == current.id


def after_publish(
    ws: Workspace,
    store: SnapshotStore,
    settings: Settings,
    current: Snapshot | None,
    published: bool,
) -> list[str]:
    """Point ``seckb.duckdb`` at ``current`` when it moved (or the views are behind), and prune
    old snapshots after a publish; return the pruned ids. Both entry points end with this."""
    if current is not None and (published or not views_current(ws, current)):
        from aggregators.store.views import refresh  # DuckDB only when views change

        refresh(ws.duckdb, current)
    return store.prune(settings.keep_snapshots) if published else []

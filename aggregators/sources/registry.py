"""The one registry of sources: each declares itself once here.

A :class:`SourceSpec` names the source, the tables it owns, where its implementation lives (a
``module:attribute`` string, imported only when the source runs: the implementations pull in
pyarrow, requests, git and Bandit), its optional fetch step, whether it fans out (plan +
parts, the Bandit way), the sources whose results it reads, and how the Airflow DAG shows it.
``seckb ingest``, the Airflow DAG, the staged-run tasks and the publish step all read
:data:`SOURCES`; this module imports nothing heavy, so the DAG file can read it when Airflow
parses it.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from aggregators.core.errors import ConfigError


@dataclass(frozen=True)
class SourceSpec:
    """How one source plugs into a run."""

    name: str
    tables: tuple[str, ...]
    """The tables the source owns (``ingest_errors`` is shared, partitioned by ``source``)."""
    implementation: str
    """``module:Class`` of the source; the class takes ``(settings, workspace)``."""
    fetch: str | None = None
    """``module:function`` of an I/O step ``(settings, workspace) -> value`` that runs before
    the update (in a thread, while ``seckb ingest`` imports the rest); its value is handed to
    the update as ``state.fetched[name]``."""
    fans_out: bool = False
    """``plan`` -> ``part`` for each batch of work -> ``merge`` instead of one ``update``."""
    after: tuple[str, ...] = ()
    """Sources whose fresh results this one reads (the DAG's edges)."""
    task_id: str = "update"
    """Airflow task id inside the source's task group (``plan``/``scan`` when it fans out)."""
    pool: str | None = None
    """Airflow pool bounding the source's requests across a deployment."""
    tooltip: str = ""

    def load(self) -> Any:
        """The source's class (imported now)."""
        return _attribute(self.implementation)

    def fetcher(self) -> Callable[..., Any] | None:
        """The fetch step, or ``None`` when the source has none."""
        return _attribute(self.fetch) if self.fetch else None


def _attribute(reference: str) -> Any:
    module, _, attribute = reference.partition(":")
    return getattr(importlib.import_module(module), attribute)


SOURCES: tuple[SourceSpec, ...] = (
    SourceSpec(
        name="advisories",
        tables=("advisories", "advisory_packages", "advisory_ranges", "osv_records"),
        implementation="aggregators.sources.advisories.source:AdvisorySource",
        fetch="aggregators.sources.advisories.gitsync:fetch_osv_repositories",
        task_id="sync_and_parse",
        tooltip="OSV git repositories: the PyPA advisory-db, and any others configured",
    ),
    SourceSpec(
        name="pypi",
        tables=("packages", "releases"),
        implementation="aggregators.sources.pypi.source:PyPISource",
        after=("advisories",),
        task_id="fetch_projects",
        pool="pypi",
        tooltip="PyPI JSON API",
    ),
    SourceSpec(
        name="bandit",
        tables=("bandit_scans", "bandit_findings", "bandit_errors"),
        implementation="aggregators.sources.bandit.source:BanditSource",
        fans_out=True,
        after=("pypi",),
        task_id="scan",
        pool="pypi",
        tooltip="Bandit on sdists, fanned out over batches",
    ),
    SourceSpec(
        name="scorecards",
        tables=("scorecards", "scorecard_checks"),
        implementation="aggregators.sources.scorecards.source:ScorecardSource",
        after=("pypi",),
        task_id="fetch_scorecards",
        pool="scorecard",
        tooltip="OpenSSF Scorecard API",
    ),
    SourceSpec(
        name="popularity",
        tables=("package_popularity",),
        implementation="aggregators.sources.popularity.source:PopularitySource",
        after=("advisories",),  # reads nothing of it; after it, as a run's first task rebases
        task_id="fetch_dataset",
        tooltip="top-pypi-packages (the most downloaded projects)",
    ),
)
"""Every source, in the order they run (each after the ones it reads)."""

FOUNDATION = "advisories"
"""The source every snapshot needs: without its tables nothing is published."""

SOURCE_TABLES: dict[str, tuple[str, ...]] = {spec.name: spec.tables for spec in SOURCES}
"""The tables each source owns."""


def source_spec(name: str) -> SourceSpec:
    """The spec of one source; raise :class:`ConfigError` for an unknown name."""
    for spec in SOURCES:
        if spec.name == name:
            return spec
    raise ConfigError(f"unknown source {name!r}; known: {', '.join(s.name for s in SOURCES)}")


def resolve_sources(choice: str | Sequence[str] | None) -> list[SourceSpec]:
    """Validate a ``--sources`` value (comma-separated or a list); ``None`` means all, in the
    registry's order whatever order they were named in."""
    if choice is None:
        return list(SOURCES)
    names = choice.split(",") if isinstance(choice, str) else list(choice)
    wanted = {source_spec(n.strip()).name for n in names if n.strip()}
    if not wanted:
        raise ConfigError("--sources names no source")
    return [spec for spec in SOURCES if spec.name in wanted]

"""The ``pypi`` source: project metadata and release lists of every tracked package.

Tracked packages are those the advisories name plus the configured watchlist (names and the
packages of requirements files). Each project is asked for with its stored ETag, so an
unchanged project costs a 304; requests run with bounded concurrency over one HTTP client.
A project that 404s is recorded as ``not_found``; one that fails is recorded as ``error`` with
the reason. When no project at all can be read, the source fails and its previous tables carry
forward.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from aggregators.core.clock import utcnow
from aggregators.core.config import Settings
from aggregators.core.contracts import contract
from aggregators.core.errors import ConfigError, SourceError
from aggregators.core.http import HttpError, HttpSource
from aggregators.core.progress import Progress
from aggregators.sources.base import (
    UNCHANGED,
    UPDATED,
    RunState,
    SourceResult,
    error_row,
    same_content,
)
from aggregators.sources.pypi.project import ProjectError, parse_project, status_row
from aggregators.sources.registry import SOURCE_TABLES
from aggregators.sources.watchlist import watchlist

log = logging.getLogger(__name__)

SOURCE = "pypi"
TABLES = SOURCE_TABLES[SOURCE]
KNOWN = ("ok", "error")  # row statuses that carry a release list worth keeping


@dataclass
class Fetched:
    """The outcome for one project."""

    package: str
    url: str
    status: str  # ok (200), unchanged (304), not_found, error
    package_row: dict[str, Any] | None = None
    releases: list[dict[str, Any]] | None = None
    reason: str | None = None


def project_url(base: str, package: str) -> str:
    """The JSON API URL of one project."""
    return f"{base.rstrip('/')}/pypi/{package}/json"


def tracked_packages(state: RunState, settings: Settings) -> tuple[set[str], list[dict[str, Any]]]:
    """Every package the knowledge base follows, and watchlist problems."""
    names, errors = watchlist(settings)
    packages = state.table("advisory_packages")
    if packages is not None:
        pypi = packages.filter(pc.equal(packages.column("ecosystem"), "PyPI"))
        names.update(pypi.column("package").to_pylist())
    return names, errors


class PyPISource(HttpSource):
    """PyPI's JSON API as the ``pypi`` source."""

    name = SOURCE

    def _fetch(self, package: str, etag: str | None, now: datetime) -> Fetched:
        url = project_url(self.settings.pypi_url, package)
        try:
            status, document, new_etag = self.client.get_json(url, etag=etag)
        except HttpError as exc:
            return Fetched(package, url, "error", reason=str(exc))
        if status == 304:
            return Fetched(package, url, "unchanged")
        if status == 404:
            return Fetched(package, url, "not_found", reason="PyPI has no such project (404)")
        try:
            project = parse_project(document, url, package, new_etag, now)
        except ProjectError as exc:
            return Fetched(package, url, "error", reason=f"unexpected answer: {exc}")
        return Fetched(package, url, "ok", project.package, project.releases)

    def update(self, state: RunState, progress: Progress) -> SourceResult:
        """Fetch every tracked (or selected) project and return the new tables."""
        now = utcnow()
        tracked, errors = tracked_packages(state, self.settings)
        untracked = sorted(set(state.packages or ()) - tracked)
        if untracked:
            raise ConfigError(
                f"--packages names packages seckb does not track: {', '.join(untracked)} (no "
                "advisory names them and they are not in the watchlist); add them to the "
                "watchlist (watchlist = [...] in the config file, or SECKB_WATCHLIST) to track them"
            )
        wanted = sorted(tracked if state.packages is None else tracked & set(state.packages))
        old_packages = state.previous.read("packages") if state.previous else None
        old_releases = state.previous.read("releases") if state.previous else None
        etags: dict[str, str] = {}
        if old_packages is not None and old_releases is not None:
            for row in old_packages.select(["package", "status", "etag"]).to_pylist():
                if row["status"] == "ok" and row["etag"]:
                    etags[row["package"]] = row["etag"]

        progress.stage(f"asking PyPI about {len(wanted)} projects", len(wanted))
        results: list[Fetched] = []
        with ThreadPoolExecutor(max_workers=self.settings.pypi_concurrency) as pool:
            for fetched in pool.map(lambda p: self._fetch(p, etags.get(p), now), wanted):
                results.append(fetched)
                progress.advance()
        answered = [r for r in results if r.status in ("ok", "unchanged")]
        failed = [r for r in results if r.status == "error"]
        if failed and not answered:  # nothing read and something broke: treat PyPI as down
            raise SourceError(f"PyPI unavailable at {self.settings.pypi_url}: {failed[0].reason}")
        known_before = {
            r["package"]
            for r in (old_packages.to_pylist() if old_packages is not None else ())
            if r["status"] == "ok"
        }
        if results and not answered and known_before & set(wanted):
            # every project 404s, even ones PyPI knew last time: a wrong pypi_url, not a purge
            raise SourceError(
                f"PyPI at {self.settings.pypi_url} answered 404 for every project, including "
                f"{sorted(known_before & set(wanted))[0]!r} it knew before; check pypi_url"
            )

        tables, stats = self._tables(results, tracked, wanted, old_packages, old_releases, now)
        for r in results:
            if r.status in ("error", "not_found"):
                level = "error" if r.status == "error" else "warning"
                errors.append(error_row(SOURCE, r.url, r.reason or r.status, level))
        tables["ingest_errors"] = contract("ingest_errors").table_from_rows(errors)
        lineage = {
            "url": self.settings.pypi_url,
            "projects": len(tracked),
            "max_serial": stats.pop("max_serial"),
        }
        changed = not self._same_as_before(state, tables, old_packages, old_releases)
        return SourceResult(SOURCE, UPDATED if changed else UNCHANGED, lineage, tables, stats)

    @staticmethod
    def _same_as_before(
        state: RunState,
        tables: dict[str, pa.Table],
        old_packages: pa.Table | None,
        old_releases: pa.Table | None,
    ) -> bool:
        """Whether the new tables hold what the previous snapshot held (fetch times and ETags
        aside): a mirror that sends no ETag must not make every run an update. The previous
        tables are the ones the update already read."""
        previous = state.previous
        if previous is None:
            return False
        errors = previous.read("ingest_errors")
        if errors is not None:
            errors = errors.filter(pc.equal(errors.column("source"), SOURCE))
        return (
            same_content(old_packages, tables["packages"], ("fetched_at", "etag"))
            and same_content(old_releases, tables["releases"])
            and same_content(errors, tables["ingest_errors"])
        )

    def _tables(
        self,
        results: Sequence[Fetched],
        tracked: set[str],
        wanted: Sequence[str],
        old_packages: pa.Table | None,
        old_releases: pa.Table | None,
        now: datetime,
    ) -> tuple[dict[str, pa.Table], dict[str, int]]:
        """New rows for projects asked about, previous rows for the others still tracked."""
        old_rows = {r["package"]: r for r in old_packages.to_pylist()} if old_packages else {}
        reuse = {r.package for r in results if r.status == "unchanged"}
        reuse |= (tracked - set(wanted)) & set(old_rows)  # not asked in a narrowed run
        package_rows: list[dict[str, Any]] = []
        release_rows: list[dict[str, Any]] = []
        for r in results:
            if r.status == "ok":
                assert r.package_row is not None and r.releases is not None
                package_rows.append(r.package_row)
                release_rows.extend(r.releases)
            elif r.status == "error" and old_rows.get(r.package, {}).get("status") in KNOWN:
                # a transient failure does not erase what we knew: keep the old release list,
                # say why it was not refreshed, and keep its old fetched_at (its age)
                package_rows.append({**old_rows[r.package], "status": "error", "reason": r.reason})
                reuse.add(r.package)
            elif r.status in ("not_found", "error"):
                package_rows.append(status_row(r.package, r.status, r.reason or r.status, now))
        asked = {r.package for r in results}
        written = {row["package"] for row in package_rows}
        for name in sorted(reuse - written):  # (error rows above are already written)
            row = dict(old_rows[name])
            if name in asked:
                row["fetched_at"] = now
            package_rows.append(row)
        releases = contract("releases").table_from_rows(release_rows)
        if old_releases is not None and reuse:
            kept = old_releases.filter(
                pc.is_in(old_releases.column("package"), pa.array(sorted(reuse), pa.string()))
            )
            releases = contract("releases").conform(pa.concat_tables([kept, releases]))
        serials = [r["last_serial"] for r in package_rows if r.get("last_serial") is not None]
        stats = {
            s: sum(1 for r in results if r.status == s)
            for s in ("ok", "unchanged", "not_found", "error")
        }
        stats.update(
            projects=len(package_rows),
            releases=releases.num_rows,
            requests=self.client.requests_sent,
            max_serial=max(serials, default=0),
        )
        return {
            "packages": contract("packages").table_from_rows(package_rows),
            "releases": releases,
        }, stats

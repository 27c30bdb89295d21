"""The ``bandit`` source: which releases to analyse, and carrying finished analyses forward.

Policy: the latest ``scan_latest`` final (not pre-, not yanked, PEP 440) releases of every tracked
package, plus every version pinned in the watchlist files. A release whose previous analysis is
final for the same sdist digest, Bandit version and configuration is carried forward without
downloading anything; everything else (new releases, transient failures: ``download_error``,
``timeout``, ``bandit_error``) is analysed by :func:`analyse_releases`.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from aggregators.core.contracts import contract
from aggregators.core.http import HttpSource
from aggregators.core.progress import Progress
from aggregators.core.versions import canonical_version, parse_version
from aggregators.sources.bandit.analyse import TABLES, ScanTarget, analyse_releases
from aggregators.sources.bandit.engine import bandit_version, config_hash
from aggregators.sources.base import (
    UNCHANGED,
    UPDATED,
    Plan,
    RunState,
    SourceResult,
    concat_results,
)
from aggregators.sources.watchlist import watchlist_pins

log = logging.getLogger(__name__)

SOURCE = "bandit"
FINAL = frozenset({"scanned", "partial", "no_sdist", "too_large", "unsafe_archive"})
"""Statuses that will not change by trying again with the same sdist and Bandit."""


def select_targets(
    releases: Sequence[Mapping[str, Any]],
    latest: int,
    pins: Iterable[tuple[str, str]] = (),
    packages: Iterable[str] | None = None,
) -> list[ScanTarget]:
    """The releases to analyse (pure): latest ``latest`` final releases per package, plus pins."""
    only = set(packages) if packages is not None else None
    by_package: dict[str, list[Mapping[str, Any]]] = {}
    for row in releases:
        if only is None or row["package"] in only:
            by_package.setdefault(row["package"], []).append(row)
    pinned: dict[str, set[str]] = {}
    for package, version in pins:  # matched by PEP 440 equality: a pin on 2.2.0 finds 2.2
        pinned.setdefault(package, set()).add(canonical_version(version))
    chosen: dict[tuple[str, str], Mapping[str, Any]] = {}
    for package, rows in by_package.items():
        finals = [r for r in rows if r["is_pep440"] and not r["is_prerelease"] and not r["yanked"]]
        finals.sort(key=lambda r: parse_version(r["version"]), reverse=True)  # type: ignore[arg-type,return-value]
        for row in finals[:latest]:
            chosen[(package, row["version"])] = row
        for row in rows:
            if row["version_canonical"] in pinned.get(package, ()):
                chosen[(package, row["version"])] = row
    return [
        ScanTarget(
            package=row["package"],
            version=row["version"],
            filename=row["sdist_filename"],
            url=row["sdist_url"],
            sha256=row["sdist_sha256"],
            size=row["sdist_size"],
        )
        for _key, row in sorted(chosen.items())
    ]


class BanditSource(HttpSource):
    """Static analysis of sdists with Bandit as the ``bandit`` source (it fans out: the plan
    chooses the releases, parts analyse batches of them, the merge assembles the tables)."""

    name = SOURCE

    def lineage(self) -> dict[str, Any]:
        """What the analyses depend on: Bandit's version and configuration, and the policy."""
        return {
            "bandit_version": bandit_version(),
            "config_hash": config_hash(),
            "scan_latest": self.settings.scan_latest,
        }

    def targets(self, state: RunState) -> list[ScanTarget]:
        """Every release the knowledge base wants analysed now."""
        releases = state.table("releases")
        if releases is None:
            return []
        return select_targets(
            releases.to_pylist(),
            self.settings.scan_latest,
            watchlist_pins(self.settings),
            state.packages,
        )

    def split(
        self, state: RunState, targets: Sequence[ScanTarget]
    ) -> tuple[list[ScanTarget], dict[str, pa.Table]]:
        """Targets that need analysis, and the previous rows of those carried forward."""
        previous = state.previous
        old = {name: previous.read(name) if previous else None for name in TABLES}
        done = _final_analyses(old["bandit_scans"])
        keep: set[tuple[str, str]] = set()
        todo: list[ScanTarget] = []
        for t in targets:
            if (t.package, t.version, t.sha256 or "") in done:
                keep.add((t.package, t.version))
            else:
                todo.append(t)
        carried = {name: _rows_of(old[name], keep, name) for name in TABLES}
        if state.packages is not None and previous is not None:
            # a narrowed run keeps the other packages' analyses as they were
            for name, table in old.items():
                if table is not None:
                    others = pc.invert(
                        pc.is_in(table.column("package"), pa.array(state.packages, pa.string()))
                    )
                    carried[name] = pa.concat_tables([carried[name], table.filter(others)])
        return todo, carried

    def plan(self, state: RunState) -> Plan:
        """Choose the releases to analyse; carry forward finished analyses of the others.

        The carried part is ``updated`` when it differs from the previous tables (a release
        dropped out of the targets); with no previous tables and nothing to do it is
        ``unchanged``: nothing carried forward is not an update.
        """
        targets = self.targets(state)
        todo, carried = self.split(state, targets)
        before = state.previous.read("bandit_scans") if state.previous else None
        dropped = before is not None and before.num_rows != carried["bandit_scans"].num_rows
        stats = {"targets": len(targets), "carried_forward": len(targets) - len(todo)}
        status = UPDATED if dropped else UNCHANGED
        log.info("bandit: %d releases targeted, %d to analyse", len(targets), len(todo))
        result = SourceResult(SOURCE, status, self.lineage(), carried, stats)
        return Plan(result, [dataclasses.asdict(t) for t in todo])

    def part(self, work: Sequence[dict[str, Any]], progress: Progress) -> SourceResult:
        """Analyse one batch of planned releases."""
        targets = [ScanTarget(**item) for item in work]
        result = analyse_releases(self.settings, self.workspace, self.client, targets, progress)
        status = UPDATED if targets else UNCHANGED
        return SourceResult(SOURCE, status, self.lineage(), result.tables, result.stats)

    def merge(self, carried: SourceResult, parts: Sequence[SourceResult]) -> SourceResult:
        """The complete Bandit tables: carried analyses plus every part's."""
        merged = concat_results(SOURCE, [carried, *parts], TABLES)
        merged.tables = {name: contract(name).conform(merged.tables[name]) for name in TABLES}
        merged.tables["ingest_errors"] = contract("ingest_errors").empty()
        return merged

    def update(self, state: RunState, progress: Progress) -> SourceResult:
        """Plan, analyse everything planned as one part, merge (the one-process path)."""
        plan = self.plan(state)
        return self.merge(plan.carried, [self.part(plan.work, progress)])


def _final_analyses(scans: pa.Table | None) -> set[tuple[str, str, str]]:
    """(package, version, sdist sha256) of previous analyses that are final under this Bandit."""
    done: set[tuple[str, str, str]] = set()
    if scans is None:
        return done
    version, config = bandit_version(), config_hash()
    for row in scans.select(
        ["package", "version", "sdist_sha256", "status", "bandit_version", "config_hash"]
    ).to_pylist():
        if row["status"] in FINAL and (row["bandit_version"], row["config_hash"]) == (
            version,
            config,
        ):
            done.add((row["package"], row["version"], row["sdist_sha256"] or ""))
    return done


def _rows_of(table: pa.Table | None, keep: set[tuple[str, str]], name: str) -> pa.Table:
    """The rows of ``table`` whose (package, version) is in ``keep``."""
    if table is None or not keep:
        return contract(name).empty()
    ids = pc.binary_join_element_wise(table.column("package"), table.column("version"), "\0")
    wanted = pa.array(sorted(f"{p}\0{v}" for p, v in keep), pa.string())
    return table.filter(pc.is_in(ids, wanted))

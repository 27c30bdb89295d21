"""Which advisories affect a version: the one rule ``query``, the lookup API and ``audit`` share.

``affected_versions`` answers for the versions some list knows (PyPI releases, versions the
advisories mention). Any other version — a post-release or local build PyPI does not list, or a
release of a package whose PyPI data the snapshot lacks — is judged here, from the advisories'
explicit ``versions`` lists and ECOSYSTEM ranges, with
:func:`aggregators.knowledge.affected.entry_affects`: the same evaluation that built
``affected_versions``. "Unknown to PyPI" is never a reason to skip the check.

Only the asked packages' rows are read (``advisory_packages`` and ``advisory_ranges`` are sorted
by package, so pyarrow skips the other row groups), so a one-off audit stays fast.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from aggregators.core.versions import version_sort_key
from aggregators.knowledge.affected import Entry, collect_entries, entry_affects
from aggregators.knowledge.malicious import covers_whole_project

if TYPE_CHECKING:
    from aggregators.store.snapshots import Snapshot


def read_rows(
    snapshot: Snapshot,
    table: str,
    column: str,
    values: Sequence[str],
    columns: Sequence[str] | None = None,
) -> list[dict[str, Any]]:
    """The rows of ``table`` whose ``column`` is one of ``values`` (none when the snapshot has
    no such table), read with a pyarrow filter so other row groups are skipped."""
    if not values or table not in snapshot.tables:
        return []
    import pyarrow.parquet as pq

    data = pq.read_table(
        snapshot.table_path(table),
        columns=list(columns) if columns is not None else None,
        filters=[(column, "in", list(values))],
    )
    rows: list[dict[str, Any]] = data.to_pylist()
    return rows


@dataclass
class PackageAdvisories:
    """The advisories naming one package: their PyPI entries and their fixed versions."""

    package: str
    ids: list[str] = field(default_factory=list)
    """Every advisory naming the package (withdrawn ones included), sorted."""
    entries: dict[str, list[Entry]] = field(default_factory=dict)
    """The PyPI entries (explicit list and ECOSYSTEM ranges) of each advisory."""
    fixed: dict[str, list[str]] = field(default_factory=dict)
    """The valid ECOSYSTEM ``fixed`` versions of each advisory, in version order."""

    def affected_by(self, advisory_id: str, version: str) -> str | None:
        """How ``advisory_id`` affects ``version``: ``list``, ``ranges``, ``both`` or ``None``."""
        kinds = {
            kind
            for kind in (entry_affects(e, version) for e in self.entries.get(advisory_id, ()))
            if kind
        }
        if "both" in kinds or kinds == {"list", "ranges"}:
            return "both"
        return next(iter(kinds), None)

    def affecting(self, version: str) -> dict[str, str]:
        """``{advisory id: how}`` for every advisory (withdrawn or not) affecting ``version``."""
        found = {}
        for advisory_id in self.ids:
            how = self.affected_by(advisory_id, version)
            if how is not None:
                found[advisory_id] = how
        return found

    def prepare(self) -> None:
        """Order every range and canonicalize every listed version now, not at the first
        version asked (a server does this when it loads a snapshot)."""
        for entries in self.entries.values():
            for entry in entries:
                _ = entry.compiled, entry.listed


def group_advisories(
    packages: Iterable[Mapping[str, Any]], ranges: Sequence[Mapping[str, Any]]
) -> dict[str, PackageAdvisories]:
    """``advisory_packages`` and ``advisory_ranges`` rows grouped per package (pure)."""
    packages = list(packages)
    found: dict[str, PackageAdvisories] = {}
    for row in packages:
        item = found.setdefault(row["package"], PackageAdvisories(row["package"]))
        if row["advisory_id"] not in item.ids:
            item.ids.append(row["advisory_id"])
    for entry in collect_entries(packages, ranges):
        found[entry.package].entries.setdefault(entry.advisory_id, []).append(entry)
    fixed: dict[tuple[str, str], set[str]] = {}
    for row in ranges:
        if row["event"] == "fixed" and row["range_type"] == "ECOSYSTEM" and row["valid"]:
            fixed.setdefault((row["package"], row["advisory_id"]), set()).add(row["version"])
    for (package, advisory_id), versions in fixed.items():
        if package in found:
            found[package].fixed[advisory_id] = sorted(versions, key=version_sort_key)
    for item in found.values():
        item.ids.sort()
    return found


def read_package_advisories(
    snapshot: Snapshot, packages: Iterable[str]
) -> dict[str, PackageAdvisories]:
    """The advisories naming each of ``packages`` (PEP 503 names); a package no advisory
    names is absent from the result."""
    names = sorted(set(packages))
    return group_advisories(
        read_rows(snapshot, "advisory_packages", "package", names),
        read_rows(snapshot, "advisory_ranges", "package", names),
    )


@dataclass(frozen=True)
class AdvisoryFacts:
    """What a verdict needs of an ``advisories`` row."""

    withdrawn: bool
    cvss_score: float | None
    cvss_rating: str | None
    aliases: tuple[str, ...] = ()
    malicious: bool = False
    merged_into: str | None = None
    published: datetime | None = None


FACT_COLUMNS = (
    "id", "aliases", "withdrawn", "cvss_score", "cvss_rating", "malicious", "merged_into",
    "published",
)  # fmt: skip
"""The ``advisories`` columns :func:`facts_from_rows` reads."""


def facts_from_rows(rows: Iterable[Mapping[str, Any]]) -> dict[str, AdvisoryFacts]:
    """``advisories`` rows (:data:`FACT_COLUMNS`) as facts by id."""
    return {
        row["id"]: AdvisoryFacts(
            row["withdrawn"] is not None,
            row["cvss_score"],
            row["cvss_rating"],
            tuple(row["aliases"]),
            bool(row["malicious"]),
            row["merged_into"],
            row["published"],
        )
        for row in rows
    }


def read_advisory_facts(snapshot: Snapshot, ids: Iterable[str]) -> dict[str, AdvisoryFacts]:
    """The facts of each advisory of ``ids`` and of the ones they merge into (the table is
    sorted by id, so other row groups are skipped)."""
    wanted = sorted(set(ids))
    found = facts_from_rows(read_rows(snapshot, "advisories", "id", wanted, FACT_COLUMNS))
    primaries = {f.merged_into for f in found.values() if f.merged_into} - found.keys()
    if primaries:
        found.update(
            facts_from_rows(
                read_rows(snapshot, "advisories", "id", sorted(primaries), FACT_COLUMNS)
            )
        )
    return found


def active_affecting(
    advisories: PackageAdvisories | None, facts: Mapping[str, AdvisoryFacts], version: str
) -> list[str]:
    """The active (known, not withdrawn) advisories affecting ``version``, sorted; a record
    merged into another is counted as that one."""
    if advisories is None:
        return []
    found = set()
    for advisory_id in advisories.affecting(version):
        fact = facts.get(advisory_id)
        if fact is not None and not fact.withdrawn:
            found.add(fact.merged_into or advisory_id)
    return sorted(found)


def is_malicious(ids: Iterable[str], facts: Mapping[str, AdvisoryFacts]) -> bool:
    """Whether one of ``ids`` is a malicious-package record."""
    return any(a in facts and facts[a].malicious for a in ids)


def malicious_project(
    advisories: PackageAdvisories | None,
    facts: Mapping[str, AdvisoryFacts],
    releases: Iterable[tuple[str, datetime | None]],
    popular: bool,
) -> bool:
    """Whether an active malicious record naming the package covers the whole project
    (:func:`aggregators.knowledge.malicious.covers_whole_project`)."""
    if advisories is None:
        return False
    known = list(releases)
    for advisory_id, entries in advisories.entries.items():
        fact = facts.get(advisory_id)
        if fact is None or fact.withdrawn or not fact.malicious:
            continue
        if covers_whole_project(entries, fact.published, known, popular):
            return True
    return False


def worst_severity(
    ids: Iterable[str], facts: Mapping[str, AdvisoryFacts]
) -> tuple[float | None, str | None]:
    """The highest CVSS score among ``ids`` and its rating (``None, None``: none is scored),
    as ``package_version_security`` computes ``max_cvss_score``."""
    rated = [facts[a] for a in ids if a in facts and facts[a].cvss_score is not None]
    if not rated:
        return None, None
    top = max(rated, key=lambda f: f.cvss_score or 0.0)
    return top.cvss_score, top.cvss_rating

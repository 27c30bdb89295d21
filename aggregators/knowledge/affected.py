"""Affected versions: explicit ``versions`` lists united with ECOSYSTEM ranges (pure).

The ranges are evaluated over every known version of the package: its PyPI releases when they
are known, plus every version the advisories themselves mention. Versions are identified by PEP
440 equality; the string shown for a version is the release's own when PyPI knows it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from aggregators.core.versions import canonical_version, parse_version
from aggregators.knowledge.ranges import CompiledRange, Event, affected_intervals, compile_range
from aggregators.sources.advisories.events import is_unbounded

PYPI = "PyPI"


@dataclass
class Entry:
    """One affected package entry of an advisory: explicit versions and ECOSYSTEM ranges."""

    advisory_id: str
    package: str
    versions: list[str] = field(default_factory=list)
    ranges: dict[int, list[Event]] = field(default_factory=dict)

    @cached_property
    def compiled(self) -> list[CompiledRange]:
        """The ranges ordered once, for checking many single versions."""
        return [compile_range(events) for events in self.ranges.values()]

    @cached_property
    def listed(self) -> frozenset[str]:
        """The canonical forms of the explicit ``versions`` (for equality under PEP 440)."""
        return frozenset(canonical_version(v) for v in self.versions)


def _event(kind: str, version: str) -> Event:
    if is_unbounded(kind, version):
        return Event(kind, None)
    return Event(kind, parse_version(version))


def collect_entries(
    packages: Iterable[Mapping[str, Any]], events: Iterable[Mapping[str, Any]]
) -> list[Entry]:
    """Group ``advisory_packages`` and ``advisory_ranges`` rows into PyPI entries."""
    entries: dict[tuple[str, int], Entry] = {}
    for row in packages:
        if row["ecosystem"] != PYPI:
            continue
        entries[(row["advisory_id"], row["entry_index"])] = Entry(
            row["advisory_id"], row["package"], list(row["versions"])
        )
    for row in events:
        entry = entries.get((row["advisory_id"], row["entry_index"]))
        if entry is None or row["range_type"] != "ECOSYSTEM":
            continue
        events_of_range = entry.ranges.setdefault(row["range_index"], [])
        if row["valid"]:  # an invalid event is ignored, but its range still exists
            events_of_range.append(_event(row["event"], row["version"]))
    for entry in entries.values():
        for rng in entry.ranges.values():
            if not any(e.kind == "introduced" for e in rng):
                rng.insert(0, Event("introduced", None))  # conservative, as ingest_errors says
    return list(entries.values())


def known_versions(
    entries: Iterable[Entry],
    events: Iterable[Mapping[str, Any]],
    releases: Mapping[str, Sequence[str]],
) -> dict[str, dict[str, str]]:
    """Map package -> {canonical version: display string} over releases and advisory mentions.

    Release strings win as the display form; otherwise the first string in sorted order.
    Strings that are not PEP 440 are left out (they cannot be placed in a range).
    """
    mentioned: dict[str, set[str]] = defaultdict(set)
    for entry in entries:
        mentioned[entry.package].update(entry.versions)
    for row in events:
        if row["range_type"] == "ECOSYSTEM" and row["valid"] and row["event"] != "limit":
            mentioned[row["package"]].add(row["version"])
    result: dict[str, dict[str, str]] = {}
    for package in set(mentioned) | set(releases):
        table: dict[str, str] = {}
        for text in releases.get(package, ()):
            if parse_version(text) is not None:
                table.setdefault(canonical_version(text), text)
        for text in sorted(mentioned.get(package, ())):
            if text != "0" and parse_version(text) is not None:
                table.setdefault(canonical_version(text), text)
        result[package] = table
    return result


@dataclass(frozen=True)
class Universe:
    """A package's known versions in ascending PEP 440 order: sort keys and canonical text."""

    keys: list[Any]
    canonical: list[str]


def _universe(table: Mapping[str, str]) -> Universe:
    pairs = sorted(
        (parse_version(text)._key, canonical)  # type: ignore[union-attr]  # all valid here
        for canonical, text in table.items()
    )
    return Universe([p[0] for p in pairs], [p[1] for p in pairs])


AFFECTED_COLUMNS = (
    "advisory_id",
    "package",
    "version",
    "version_canonical",
    "in_list",
    "in_ranges",
    "origin",
    "withdrawn",
)


def compute_affected(
    entries: Sequence[Entry],
    known: Mapping[str, Mapping[str, str]],
    withdrawn: set[str],
) -> dict[str, list[Any]]:
    """Columns of ``affected_versions``: one row per (advisory, package, version).

    Entries of one advisory for the same package are merged; a version is identified by its
    canonical PEP 440 form and shown with the known (release) spelling when there is one.
    """
    groups: dict[tuple[str, str], list[Entry]] = defaultdict(list)
    for entry in entries:
        groups[(entry.advisory_id, entry.package)].append(entry)
    universes: dict[str, Universe] = {}
    columns: dict[str, list[Any]] = {name: [] for name in AFFECTED_COLUMNS}

    for (advisory_id, package), group in groups.items():
        table = known.get(package, {})
        listed: dict[str, str] = {}
        for entry in group:
            for text in entry.versions:
                listed.setdefault(canonical_version(text), text)
        ranged: set[str] = set()
        ranges = [rng for entry in group for rng in entry.ranges.values()]
        if ranges:
            if package not in universes:
                universes[package] = _universe(table)
            universe = universes[package]
            for rng in ranges:
                for lo, hi in affected_intervals(universe.keys, rng):
                    ranged.update(universe.canonical[lo:hi])
        keys = list(listed.keys() | ranged)  # the table is sorted when it is built
        count = len(keys)
        in_list = [k in listed for k in keys]
        in_ranges = [k in ranged for k in keys]
        columns["advisory_id"].extend([advisory_id] * count)
        columns["package"].extend([package] * count)
        columns["version"].extend([table.get(k) or listed[k] for k in keys])
        columns["version_canonical"].extend(keys)
        columns["in_list"].extend(in_list)
        columns["in_ranges"].extend(in_ranges)
        columns["origin"].extend(
            [
                "both" if a and b else ("list" if a else "ranges")
                for a, b in zip(in_list, in_ranges, strict=True)
            ]
        )
        columns["withdrawn"].extend([advisory_id in withdrawn] * count)
    return columns


def entry_affects(entry: Entry, version: str) -> str | None:
    """How ``entry`` affects one version: ``list``, ``ranges``, ``both`` or ``None`` (not affected).

    Used to answer for any version a user asks about, even one no release list knows.
    """
    in_list = canonical_version(version) in entry.listed
    parsed = parse_version(version)
    in_ranges = parsed is not None and any(r.affects(parsed) for r in entry.compiled)
    if in_list and in_ranges:
        return "both"
    if in_list:
        return "list"
    return "ranges" if in_ranges else None

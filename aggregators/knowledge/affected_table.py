"""Derived knowledge tables, built from the sources' tables after every update."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import pyarrow as pa
import pyarrow.compute as pc

from aggregators.core.contracts import contract
from aggregators.knowledge.affected import collect_entries, compute_affected, known_versions


def build_affected_versions(
    advisories: pa.Table,
    advisory_packages: pa.Table,
    advisory_ranges: pa.Table,
    releases: Mapping[str, Sequence[str]] | None = None,
) -> pa.Table:
    """``affected_versions`` from the advisory tables and the packages' known releases."""
    packages = advisory_packages.select(
        ["advisory_id", "entry_index", "package", "ecosystem", "versions"]
    ).to_pylist()
    events = advisory_ranges.filter(pc.equal(advisory_ranges.column("range_type"), "ECOSYSTEM"))
    event_rows = events.select(
        [
            "advisory_id",
            "package",
            "entry_index",
            "range_index",
            "range_type",
            "event",
            "version",
            "valid",
        ]
    ).to_pylist()
    withdrawn = set(
        advisories.filter(pc.is_valid(advisories.column("withdrawn"))).column("id").to_pylist()
    )
    entries = collect_entries(packages, event_rows)
    known = known_versions(entries, event_rows, releases or {})
    columns = compute_affected(entries, known, withdrawn)
    schema = contract("affected_versions").schema
    return contract("affected_versions").conform(pa.table(columns, schema=schema))


def release_lists(releases: pa.Table | None) -> dict[str, list[str]]:
    """Package -> its release versions, from a ``releases`` table (empty without one)."""
    if releases is None:
        return {}
    lists: dict[str, list[str]] = {}
    for package, version in zip(
        releases.column("package").to_pylist(), releases.column("version").to_pylist(), strict=True
    ):
        lists.setdefault(package, []).append(version)
    return lists

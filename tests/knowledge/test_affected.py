"""Affected versions: explicit lists united with ECOSYSTEM ranges (``affected.py``).

Rows are built by hand in the shape ``osv.parse_advisory`` produces for ``ParsedFile.packages``
and ``ParsedFile.events``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import pytest
from packaging.version import Version

from aggregators.knowledge.affected import (
    AFFECTED_COLUMNS,
    Entry,
    collect_entries,
    compute_affected,
    entry_affects,
    known_versions,
)
from aggregators.knowledge.ranges import Event

RangeSpec = Sequence[tuple[str, str]]


def package_row(
    advisory_id: str,
    package: str,
    versions: Sequence[str] = (),
    *,
    entry_index: int = 0,
    ecosystem: str = "PyPI",
) -> dict[str, Any]:
    return {
        "advisory_id": advisory_id,
        "entry_index": entry_index,
        "package": package,
        "package_name": package,
        "ecosystem": ecosystem,
        "purl": None,
        "versions": list(versions),
        "source_path": f"vulns/{package}/{advisory_id}.yaml",
    }


def event_rows(
    advisory_id: str,
    package: str,
    ranges: Sequence[RangeSpec],
    *,
    entry_index: int = 0,
    range_type: str = "ECOSYSTEM",
    invalid: Sequence[str] = (),
) -> list[dict[str, Any]]:
    """One row per event; ``invalid`` versions get ``valid=False`` (as osv.py marks them)."""
    rows = []
    for range_index, events in enumerate(ranges):
        for event_index, (kind, version) in enumerate(events):
            rows.append(
                {
                    "advisory_id": advisory_id,
                    "package": package,
                    "entry_index": entry_index,
                    "range_index": range_index,
                    "range_type": range_type,
                    "repo": None,
                    "event_index": event_index,
                    "event": kind,
                    "version": version,
                    "valid": version not in invalid,
                    "source_path": f"vulns/{package}/{advisory_id}.yaml",
                }
            )
    return rows


def run(
    packages: list[dict[str, Any]],
    events: list[dict[str, Any]],
    releases: Mapping[str, Sequence[str]] | None = None,
    withdrawn: set[str] | None = None,
) -> dict[str, list[Any]]:
    entries = collect_entries(packages, events)
    known = known_versions(entries, events, releases or {})
    return compute_affected(entries, known, withdrawn or set())


def as_rows(columns: dict[str, list[Any]]) -> list[dict[str, Any]]:
    assert set(columns) == set(AFFECTED_COLUMNS)
    lengths = {len(v) for v in columns.values()}
    assert len(lengths) == 1, f"columns of unequal length: {lengths}"
    count = lengths.pop()
    return [{name: columns[name][i] for name in AFFECTED_COLUMNS} for i in range(count)]


def by_version(
    columns: dict[str, list[Any]], advisory_id: str | None = None
) -> dict[str, tuple[str, str]]:
    """{version_canonical: (version shown, origin)} for one advisory (checks row invariants)."""
    result: dict[str, tuple[str, str]] = {}
    for row in as_rows(columns):
        if advisory_id is not None and row["advisory_id"] != advisory_id:
            continue
        key = row["version_canonical"]
        assert key not in result, f"duplicate row for {key}"
        expected_origin = {
            (True, True): "both",
            (True, False): "list",
            (False, True): "ranges",
        }[(row["in_list"], row["in_ranges"])]
        assert row["origin"] == expected_origin
        result[key] = (row["version"], row["origin"])
    return result


# --- union of list and ranges -------------------------------------------------------------------


def test_union_of_list_and_ranges_with_origins() -> None:
    packages = [package_row("A-1", "demo", ["0.9", "1.5"])]
    events = event_rows("A-1", "demo", [[("introduced", "1.0"), ("fixed", "2.0")]])
    releases = {"demo": ["0.8", "0.9", "1.0", "1.5", "1.9", "2.0", "2.1"]}
    assert by_version(run(packages, events, releases)) == {
        "0.9": ("0.9", "list"),
        "1": ("1.0", "ranges"),
        "1.5": ("1.5", "both"),
        "1.9": ("1.9", "ranges"),
    }


def test_rows_carry_advisory_package_and_flags() -> None:
    packages = [package_row("A-1", "demo", ["1.0"])]
    events = event_rows("A-1", "demo", [[("introduced", "0"), ("fixed", "1.1")]])
    rows = as_rows(run(packages, events, {"demo": ["1.0", "1.1"]}))
    assert rows == [
        {
            "advisory_id": "A-1",
            "package": "demo",
            "version": "1.0",
            "version_canonical": "1",
            "in_list": True,
            "in_ranges": True,
            "origin": "both",
            "withdrawn": False,
        }
    ]


def test_pep440_equal_versions_are_one_row_shown_with_release_spelling() -> None:
    packages = [package_row("A-2", "demo", ["2.2.0"])]
    events = event_rows("A-2", "demo", [[("introduced", "2.0"), ("fixed", "2.3")]])
    releases = {"demo": ["1.0", "2.0", "2.2", "2.3"]}
    assert by_version(run(packages, events, releases)) == {
        "2": ("2.0", "ranges"),
        "2.2": ("2.2", "both"),
    }


def test_listed_spelling_is_shown_when_no_release_is_known() -> None:
    packages = [package_row("A-2", "demo", ["2.2.0"])]
    events = event_rows("A-2", "demo", [[("introduced", "2.0"), ("fixed", "2.3")]])
    result = by_version(run(packages, events))
    assert result == {"2": ("2.0", "ranges"), "2.2": ("2.2.0", "both")}


def test_new_release_in_an_open_range_is_affected_only_when_known() -> None:
    packages = [package_row("A-3", "demo", ["1.0"])]
    events = event_rows("A-3", "demo", [[("introduced", "0")]])
    without = by_version(run(packages, events))
    assert without == {"1": ("1.0", "both")}
    with_releases = by_version(run(packages, events, {"demo": ["1.0", "1.1", "5.0rc1", "5.0"]}))
    assert with_releases == {
        "1": ("1.0", "both"),
        "1.1": ("1.1", "ranges"),
        "5rc1": ("5.0rc1", "ranges"),
        "5": ("5.0", "ranges"),
    }


def test_last_affected_and_limit_ranges() -> None:
    packages = [package_row("A-4", "demo")]
    events = event_rows(
        "A-4",
        "demo",
        [
            [("introduced", "1.0"), ("last_affected", "1.2")],
            [("introduced", "3.0"), ("limit", "4.0")],
        ],
    )
    releases = {"demo": ["0.9", "1.0", "1.2", "1.2.1", "2.0", "3.0", "3.5", "4.0", "4.1"]}
    assert set(by_version(run(packages, events, releases))) == {"1", "1.2", "3", "3.5"}


def test_several_ranges_are_a_union() -> None:
    packages = [package_row("A-5", "demo")]
    events = event_rows(
        "A-5",
        "demo",
        [[("introduced", "0"), ("fixed", "1.0")], [("introduced", "2.0"), ("fixed", "2.1")]],
    )
    releases = {"demo": ["0.5", "1.0", "1.5", "2.0", "2.0.1", "2.1"]}
    assert set(by_version(run(packages, events, releases))) == {"0.5", "2", "2.0.1"}


def test_entries_of_one_advisory_for_one_package_are_merged() -> None:
    packages = [
        package_row("A-6", "demo", ["1.0"], entry_index=0),
        package_row("A-6", "demo", ["2.5"], entry_index=1),
    ]
    events = event_rows("A-6", "demo", [[("introduced", "2.0"), ("fixed", "3.0")]], entry_index=1)
    releases = {"demo": ["1.0", "2.0", "2.5", "3.0"]}
    assert by_version(run(packages, events, releases)) == {
        "1": ("1.0", "list"),
        "2": ("2.0", "ranges"),
        "2.5": ("2.5", "both"),
    }


def test_two_advisories_are_kept_apart() -> None:
    packages = [package_row("A-7", "demo", ["1.0"]), package_row("B-7", "demo", ["2.0"])]
    columns = run(packages, [], {"demo": ["1.0", "2.0"]})
    assert by_version(columns, "A-7") == {"1": ("1.0", "list")}
    assert by_version(columns, "B-7") == {"2": ("2.0", "list")}


# --- withdrawn, invalid and ignored input -------------------------------------------------------


def test_withdrawn_flag_marks_only_that_advisory() -> None:
    packages = [package_row("A-8", "demo", ["1.0", "1.1"]), package_row("B-8", "demo", ["1.0"])]
    rows = as_rows(run(packages, [], withdrawn={"A-8"}))
    flags = {(r["advisory_id"], r["version"]): r["withdrawn"] for r in rows}
    assert flags == {("A-8", "1.0"): True, ("A-8", "1.1"): True, ("B-8", "1.0"): False}


def test_non_pep440_listed_version_is_kept_with_origin_list() -> None:
    packages = [package_row("A-9", "demo", ["1.0", "not-a-version"])]
    events = event_rows("A-9", "demo", [[("introduced", "0")]])
    result = by_version(run(packages, events, {"demo": ["1.0", "2.0"]}))
    assert result == {
        "1": ("1.0", "both"),
        "2": ("2.0", "ranges"),
        "not-a-version": ("not-a-version", "list"),
    }


def test_range_without_introduced_is_treated_as_introduced_zero() -> None:
    packages = [package_row("A-10", "demo")]
    events = event_rows("A-10", "demo", [[("fixed", "1.0")]])
    entries = collect_entries(packages, events)
    assert entries[0].ranges == {0: [Event("introduced", None), Event("fixed", Version("1.0"))]}
    releases = {"demo": ["0.0.1", "0.9", "1.0", "1.1"]}
    assert set(by_version(run(packages, events, releases))) == {"0.0.1", "0.9"}


def test_invalid_introduced_with_valid_fix_is_treated_as_introduced_zero() -> None:
    packages = [package_row("A-11", "demo")]
    events = event_rows(
        "A-11", "demo", [[("introduced", "garbage"), ("fixed", "1.0")]], invalid=["garbage"]
    )
    releases = {"demo": ["0.5", "1.0", "2.0"]}
    assert set(by_version(run(packages, events, releases))) == {"0.5"}


def test_invalid_fixed_event_is_ignored_conservatively() -> None:
    packages = [package_row("A-12", "demo")]
    events = event_rows(
        "A-12", "demo", [[("introduced", "1.0"), ("fixed", "abc.def")]], invalid=["abc.def"]
    )
    releases = {"demo": ["0.5", "1.0", "2.0"]}
    # the fix cannot be placed, so every version from 1.0 on stays affected
    assert set(by_version(run(packages, events, releases))) == {"1", "2"}


def test_range_with_only_invalid_events_is_treated_as_introduced_zero() -> None:
    packages = [package_row("A-13", "demo")]
    events = event_rows("A-13", "demo", [[("introduced", "garbage")]], invalid=["garbage"])
    releases = {"demo": ["0.5", "1.0", "2.0"]}
    assert set(by_version(run(packages, events, releases))) == {"0.5", "1", "2"}


def test_non_pypi_entries_are_ignored() -> None:
    packages = [
        package_row("A-14", "left-pad", ["1.0"], ecosystem="npm"),
        package_row("A-14", "demo", ["2.0"], entry_index=1),
    ]
    events = event_rows("A-14", "left-pad", [[("introduced", "0")]]) + event_rows(
        "A-14", "demo", [[("introduced", "0"), ("fixed", "3.0")]], entry_index=1
    )
    entries = collect_entries(packages, events)
    assert [(e.advisory_id, e.package) for e in entries] == [("A-14", "demo")]
    rows = as_rows(run(packages, events, {"left-pad": ["1.0", "2.0"], "demo": ["2.0", "3.0"]}))
    assert {r["package"] for r in rows} == {"demo"}
    assert {r["version"] for r in rows} == {"2.0"}


def test_git_ranges_are_not_evaluated() -> None:
    packages = [package_row("A-15", "demo", ["1.0"])]
    events = event_rows(
        "A-15", "demo", [[("introduced", "0"), ("fixed", "abc123")]], range_type="GIT"
    )
    entries = collect_entries(packages, events)
    assert entries[0].ranges == {}
    result = by_version(run(packages, events, {"demo": ["0.5", "1.0", "2.0"]}))
    assert result == {"1": ("1.0", "list")}


def test_git_range_next_to_an_ecosystem_range() -> None:
    packages = [package_row("A-16", "demo")]
    events = event_rows(
        "A-16", "demo", [[("introduced", "0"), ("fixed", "deadbeef")]], range_type="GIT"
    ) + [
        {**row, "range_index": 1}
        for row in event_rows("A-16", "demo", [[("introduced", "1.0"), ("fixed", "2.0")]])
    ]
    entries = collect_entries(packages, events)
    assert list(entries[0].ranges) == [1]
    result = by_version(run(packages, events, {"demo": ["0.5", "1.0", "1.5", "2.0"]}))
    assert set(result) == {"1", "1.5"}


def test_package_without_known_versions_gives_only_listed_rows() -> None:
    packages = [package_row("A-17", "demo", ["1.0"])]
    events = event_rows("A-17", "demo", [[("introduced", "0")]])
    entries = collect_entries(packages, events)
    columns = compute_affected(entries, {}, set())
    assert by_version(columns) == {"1": ("1.0", "list")}


def test_no_entries_give_empty_columns() -> None:
    columns = compute_affected([], {}, set())
    assert columns == {name: [] for name in AFFECTED_COLUMNS}


# --- known_versions -----------------------------------------------------------------------------


def test_known_versions_merges_releases_and_mentions() -> None:
    packages = [package_row("A-18", "demo", ["1.0.0", "bogus", "0.9"])]
    events = event_rows(
        "A-18",
        "demo",
        [[("introduced", "0"), ("fixed", "1.1"), ("limit", "9.0"), ("last_affected", "0.8")]],
    ) + event_rows("A-18", "demo", [[("introduced", "x.y")]], invalid=["x.y"])
    entries = collect_entries(packages, events)
    known = known_versions(entries, events, {"demo": ["1.0", "2.0", "not pep 440"], "other": []})
    assert known == {
        # release spelling wins; "0", limits, invalid and non-PEP 440 strings are left out
        "demo": {"1": "1.0", "2": "2.0", "0.9": "0.9", "1.1": "1.1", "0.8": "0.8"},
        "other": {},
    }


def test_known_versions_picks_first_sorted_spelling_without_release() -> None:
    packages = [
        package_row("A-19", "demo", ["2.2.0"]),
        package_row("B-19", "demo", ["2.2"]),
    ]
    entries = collect_entries(packages, [])
    assert known_versions(entries, [], {}) == {"demo": {"2.2": "2.2"}}


# --- entry_affects ------------------------------------------------------------------------------


@pytest.fixture
def entry() -> Entry:
    packages = [package_row("A-20", "demo", ["0.12.2", "0.5", "weird-version"])]
    events = event_rows(
        "A-20",
        "demo",
        [[("introduced", "0.12"), ("fixed", "0.12.3")], [("introduced", "1.0")]],
    )
    (collected,) = collect_entries(packages, events)
    return collected


@pytest.mark.parametrize(
    ("version", "expected"),
    [
        ("0.12.2.post1", "ranges"),  # in no list, inside the first range
        ("0.12.2", "both"),
        ("0.12.2.0", "both"),  # PEP 440 equal to the listed 0.12.2
        ("0.12.0", "ranges"),
        ("0.12", "ranges"),
        ("0.12.3", None),  # equal to fixed
        ("0.12.3.dev1", "ranges"),  # dev release sorts before the fix
        ("0.5", "list"),
        ("0.5.0", "list"),
        ("0.11.99", None),
        ("1.0", "ranges"),
        ("1.0rc1", None),
        ("999.0", "ranges"),
        ("weird-version", "list"),  # not PEP 440: matched as text
        ("other-weird", None),
    ],
)
def test_entry_affects(entry: Entry, version: str, expected: str | None) -> None:
    assert entry_affects(entry, version) == expected


def test_entry_affects_agrees_with_compute_affected() -> None:
    packages = [package_row("A-21", "demo", ["1.0", "3.3"])]
    events = event_rows(
        "A-21",
        "demo",
        [
            [("introduced", "0"), ("fixed", "1.0")],
            [("introduced", "2.0"), ("last_affected", "2.5"), ("limit", "*")],
        ],
    )
    releases = ["0.1", "0.9", "1.0", "1.0.post1", "2.0", "2.4", "2.5", "2.5.1", "3.0", "3.3"]
    entries = collect_entries(packages, events)
    columns = compute_affected(entries, known_versions(entries, events, {"demo": releases}), set())
    rows = {row["version"]: row["origin"] for row in as_rows(columns)}
    for version in releases:
        assert entry_affects(entries[0], version) == rows.get(version), version
    assert rows == {
        "0.1": "ranges",
        "0.9": "ranges",
        "1.0": "list",
        "2.0": "ranges",
        "2.4": "ranges",
        "2.5": "ranges",
        "3.3": "list",
    }

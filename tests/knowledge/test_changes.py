"""The change feed between two snapshots (``knowledge/changes.py``), on hand-built tables."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import pyarrow as pa

from aggregators.core.contracts import contract
from aggregators.knowledge.changes import diff_rows, diff_table

Reader = Callable[[str], pa.Table | None]
WITHDRAWN = datetime(2026, 11, 21, tzinfo=UTC)


def advisory(adv_id: str, blob: str = "b1", withdrawn: datetime | None = None) -> dict[str, Any]:
    """An ``advisories`` row; ``blob`` stands for the file's git blob id."""
    return {
        "id": adv_id,
        "summary": None,
        "details": None,
        "aliases": [],
        "related": [],
        "packages": ["flask"],
        "published": None,
        "modified": None,
        "withdrawn": withdrawn,
        "severity_type": None,
        "severity_vector": None,
        "cvss_score": None,
        "cvss_rating": None,
        "references": [],
        "source_commit": "c0ffee",
        "source_path": f"vulns/flask/{adv_id}.yaml",
        "source_blob": blob,
        "origin": "pypa",
        "malicious": False,
        "merged_into": None,
        "severity_from": None,
    }


def pvs(
    package: str,
    version: str,
    advisory_ids: Sequence[str] = (),
    *,
    high: int | None = None,
    score: float | None = None,
    rank: int = 0,
    bandit: str | None = None,
) -> dict[str, Any]:
    """A ``package_version_security`` row."""
    return {
        "package": package,
        "version": version,
        "version_canonical": version,
        "version_rank": rank,
        "is_prerelease": False,
        "yanked": False,
        "upload_time": None,
        "advisory_ids": list(advisory_ids),
        "advisory_count": len(advisory_ids),
        "malicious": False,
        "malicious_project": False,
        "max_cvss_score": None,
        "max_cvss_rating": None,
        "fixed_in": None,
        "bandit_status": bandit or ("scanned" if high is not None else "not_analysed"),
        "bandit_high_findings": high,
        "scorecard_score": score,
        "scorecard_date": None,
        "snapshot_id": "s",
    }


def reader(
    advisories: Sequence[dict[str, Any]] | None = None,
    versions: Sequence[dict[str, Any]] | None = None,
) -> Reader:
    """A ``dict.get`` reader over the two tables the feed compares (absent when ``None``)."""
    tables: dict[str, pa.Table] = {}
    if advisories is not None:
        tables["advisories"] = contract("advisories").table_from_rows(advisories)
    if versions is not None:
        tables["package_version_security"] = contract("package_version_security").table_from_rows(
            versions
        )
    return tables.get


def changes(old: Reader, new: Reader) -> list[tuple[Any, ...]]:
    """(change, package, version, advisory_id, old_value, new_value) of every row, sorted."""
    keys = ("change", "package", "version", "advisory_id", "old_value", "new_value")
    rows = diff_rows(old, new, "snap-1")
    return sorted((tuple(r[k] for k in keys) for r in rows), key=repr)


def test_nothing_changed_gives_no_rows() -> None:
    tables = reader([advisory("A-1")], [pvs("flask", "1.0", ["A-1"], high=2, score=6.0)])
    assert diff_rows(tables, tables, "snap-1") == []
    assert diff_table(tables, tables, "snap-1").num_rows == 0


def test_advisory_added_changed_withdrawn_removed() -> None:
    old = reader([advisory("A-1"), advisory("A-2"), advisory("A-3"), advisory("A-4")])
    new = reader(
        [
            advisory("A-1"),  # unchanged
            advisory("A-2", blob="b2"),  # file content changed
            advisory("A-3", blob="b2", withdrawn=WITHDRAWN),  # withdrawn (and edited)
            advisory("A-5"),  # added; A-4 removed
        ]
    )
    assert changes(old, new) == [
        ("advisory_added", None, None, "A-5", None, None),
        ("advisory_changed", None, None, "A-2", None, None),
        ("advisory_removed", None, None, "A-4", None, None),
        ("advisory_withdrawn", None, None, "A-3", None, WITHDRAWN.isoformat()),
    ]


def test_already_withdrawn_advisory_is_not_withdrawn_again() -> None:
    old = reader([advisory("A-1", withdrawn=WITHDRAWN)])
    assert changes(old, reader([advisory("A-1", withdrawn=WITHDRAWN)])) == []
    edited = reader([advisory("A-1", blob="b2", withdrawn=WITHDRAWN)])
    assert changes(old, edited) == [("advisory_changed", None, None, "A-1", None, None)]


def test_versions_newly_and_no_longer_affected() -> None:
    old = reader(versions=[pvs("flask", "1.0", ["A-1", "A-2"]), pvs("flask", "1.1", [])])
    new = reader(versions=[pvs("flask", "1.0", ["A-2", "A-3"]), pvs("flask", "1.1", ["A-3"])])
    assert changes(old, new) == [
        ("version_newly_affected", "flask", "1.0", "A-3", None, None),
        ("version_newly_affected", "flask", "1.1", "A-3", None, None),
        ("version_no_longer_affected", "flask", "1.0", "A-1", None, None),
    ]


def test_new_high_findings_only_when_the_count_grows() -> None:
    old = reader(
        versions=[
            pvs("a", "1.0", high=1),
            pvs("b", "1.0", high=3),
            pvs("c", "1.0"),  # not analysed before
            pvs("d", "1.0", high=2),
        ]
    )
    new = reader(
        versions=[
            pvs("a", "1.0", high=2),
            pvs("b", "1.0", high=1),  # fewer: not reported
            pvs("c", "1.0", high=4),
            pvs("d", "1.0"),  # no longer analysed: not reported
            pvs("e", "1.0", high=0),  # new release, clean: not reported
        ]
    )
    assert changes(old, new) == [
        ("new_high_findings", "a", "1.0", None, "1", "2"),
        ("new_high_findings", "c", "1.0", None, None, "4"),
    ]


def test_a_release_whose_analysis_became_partial_is_in_the_feed() -> None:
    old = reader(versions=[pvs("a", "1.0", high=0), pvs("b", "1.0", high=0, bandit="partial")])
    new = reader(
        versions=[
            pvs("a", "1.0", high=0, bandit="partial"),  # files left out: no longer clean
            pvs("b", "1.0", high=0, bandit="partial"),  # already partial: not again
            pvs("c", "1.0", high=1, bandit="partial"),  # new release, partial
        ]
    )
    assert changes(old, new) == [
        ("bandit_partial", "a", "1.0", None, "scanned", "partial"),
        ("bandit_partial", "c", "1.0", None, None, "partial"),
        ("new_high_findings", "c", "1.0", None, None, "1"),
    ]


def test_scorecard_drop_once_per_package_and_null_scores_ignored() -> None:
    old = reader(
        versions=[
            pvs("a", "1.0", score=7.5),
            pvs("a", "2.0", score=7.5, rank=1),
            pvs("b", "1.0", score=5.0),
            pvs("c", "1.0", score=None),
            pvs("d", "1.0", score=4.0),
        ]
    )
    new = reader(
        versions=[
            pvs("a", "1.0", score=6.0),
            pvs("a", "2.0", score=6.0, rank=1),
            pvs("b", "1.0", score=5.5),  # rose: not reported
            pvs("c", "1.0", score=3.0),  # no score before
            pvs("d", "1.0", score=None),  # no score now
        ]
    )
    assert changes(old, new) == [("scorecard_drop", "a", None, None, "7.5", "6.0")]


def test_first_snapshot_reports_everything_as_new() -> None:
    def nothing(table: str) -> pa.Table | None:
        return None

    new = reader([advisory("A-1")], [pvs("flask", "1.0", ["A-1"], high=2, score=6.0)])
    rows = diff_rows(nothing, new, None)
    assert {r["previous_snapshot"] for r in rows} == {None}
    assert changes(nothing, new) == [
        ("advisory_added", None, None, "A-1", None, None),
        ("new_high_findings", "flask", "1.0", None, None, "2"),
        ("version_newly_affected", "flask", "1.0", "A-1", None, None),
    ]


def test_a_package_that_disappears_is_not_reported_as_fixed() -> None:
    old = reader(versions=[pvs("gone", "1.0", ["A-1"], score=8.0), pvs("kept", "1.0", ["A-2"])])
    new = reader(versions=[pvs("kept", "1.0", ["A-2"])])
    assert changes(old, new) == []  # unknown is never "no longer affected"


def test_previous_snapshot_is_on_every_row() -> None:
    old = reader([advisory("A-1")], [pvs("flask", "1.0")])
    new = reader([advisory("A-2")], [pvs("flask", "1.0", ["A-2"])])
    rows = diff_rows(old, new, "20261121T000000Z")
    assert len(rows) == 3
    assert {r["previous_snapshot"] for r in rows} == {"20261121T000000Z"}


def test_table_fits_the_contract_and_is_sorted_by_its_sort_by() -> None:
    old = reader(
        [advisory("B-1"), advisory("A-9")],
        [pvs("zope", "1.0", ["B-1"], score=9.0), pvs("attrs", "2.0", score=3.0)],
    )
    new = reader(
        [advisory("C-1"), advisory("A-0")],
        [
            pvs("zope", "1.0", ["C-1"], high=1, score=8.0),
            pvs("attrs", "2.0", ["A-0"], score=1.0),
            pvs("attrs", "10.0", ["A-0", "C-1"], score=1.0, rank=1),
        ],
    )
    spec = contract("changes")
    table = diff_table(old, new, "snap-1")
    assert table.schema.equals(spec.schema, check_metadata=True)
    assert table.num_rows == len(diff_rows(old, new, "snap-1")) == 12
    keys = [tuple(r[c] for c in spec.sort_by) for r in table.to_pylist()]

    def order(key: tuple[Any, ...]) -> tuple[Any, ...]:  # nulls last, as Arrow sorts them
        return tuple((value is None, value or "") for value in key)

    assert keys == sorted(keys, key=order)
    assert keys[0] == ("advisory_added", None, None, "A-0")
    assert keys[-1] == ("version_no_longer_affected", "zope", "1.0", "B-1")

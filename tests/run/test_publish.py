"""Unit tests of the publish step: ``assemble``, ``source_entry``, ``publish`` and the publish
decision of :func:`aggregators.run.steps.publish_results`, on small hand-built tables."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest

from aggregators.core.contracts import contract
from aggregators.core.errors import SnapshotError
from aggregators.core.workspace import Workspace
from aggregators.run.publish import assemble, publish, source_entry
from aggregators.run.steps import publish_results
from aggregators.sources.base import FAILED, UNCHANGED, UPDATED, SourceResult
from aggregators.sources.registry import SOURCE_TABLES
from aggregators.store.snapshots import Snapshot, SnapshotStore
from aggregators.store.staged import StagedRun

T0 = datetime(2026, 11, 16, 3, 0, tzinfo=UTC)
T1 = T0 + timedelta(hours=1)
SOURCE_NAMES = {"advisories", "pypi", "bandit", "scorecards", "popularity"}


def rows(table: str, *records: dict[str, Any]) -> pa.Table:
    return contract(table).table_from_rows(list(records))


def errors(*records: tuple[str, str, str]) -> pa.Table:
    return rows(
        "ingest_errors",
        *({"source": s, "path": p, "level": "warning", "reason": r} for s, p, r in records),
    )


def advisory_tables(*fixes: tuple[str, str], commit: str = "c0") -> dict[str, pa.Table]:
    """One advisory per ``(id, fixed)`` on flask: introduced 0, fixed ``fixed``."""
    path = "vulns/flask/{}.yaml"
    return {
        "advisories": rows(
            "advisories",
            *(
                {
                    "id": adv,
                    "aliases": [],
                    "related": [],
                    "packages": ["flask"],
                    "references": [],
                    "source_commit": commit,
                    "source_path": path.format(adv),
                    "source_blob": f"blob-{adv}-{fixed}",
                    "origin": "pypa",
                    "malicious": False,
                    "merged_into": None,
                    "severity_from": None,
                }
                for adv, fixed in fixes
            ),
        ),
        "advisory_packages": rows(
            "advisory_packages",
            *(
                {
                    "advisory_id": adv,
                    "entry_index": 0,
                    "package": "flask",
                    "package_name": "flask",
                    "ecosystem": "PyPI",
                    "versions": [],
                    "source_path": path.format(adv),
                }
                for adv, _ in fixes
            ),
        ),
        "advisory_ranges": rows(
            "advisory_ranges",
            *(
                {
                    "advisory_id": adv,
                    "package": "flask",
                    "entry_index": 0,
                    "range_index": 0,
                    "range_type": "ECOSYSTEM",
                    "event_index": i,
                    "event": event,
                    "version": version,
                    "valid": True,
                    "source_path": path.format(adv),
                }
                for adv, fixed in fixes
                for i, (event, version) in enumerate((("introduced", "0"), ("fixed", fixed)))
            ),
        ),
    }


def pypi_tables(*versions: str) -> dict[str, pa.Table]:
    return {
        "packages": rows(
            "packages",
            {
                "package": "flask",
                "display_name": "Flask",
                "status": "ok",
                "latest_version": versions[-1],
                "last_serial": 1000 + len(versions),
                "releases": len(versions),
                "repository_url": "https://github.com/pallets/flask",
                "fetched_at": T0,
            },
        ),
        "releases": rows(
            "releases",
            *(
                {
                    "package": "flask",
                    "version": v,
                    "version_canonical": v,
                    "is_pep440": True,
                    "is_prerelease": False,
                    "yanked": False,
                    "has_wheel": False,
                    "files": 1,
                }
                for v in versions
            ),
        ),
    }


def scorecard_tables(score: float) -> dict[str, pa.Table]:
    repo = "https://github.com/pallets/flask"
    return {
        "scorecards": rows(
            "scorecards",
            {
                "repository": repo,
                "asked_as": "github.com/pallets/flask",
                "packages": ["flask"],
                "status": "ok",
                "score": score,
                "result_date": T0,
                "stale": False,
                "fetched_at": T0,
            },
        ),
        "scorecard_checks": rows(
            "scorecard_checks",
            {"repository": repo, "check": "Code-Review", "score": score, "inconclusive": False},
        ),
    }


def updated(name: str, tables: dict[str, pa.Table], errs: pa.Table, **lineage: Any) -> SourceResult:
    """An updated result: ``tables``, empty ones for the other tables the source owns."""
    owned = {t: tables.get(t, contract(t).empty()) for t in SOURCE_TABLES[name]}
    return SourceResult(name, UPDATED, lineage, {**owned, "ingest_errors": errs}, {"rows": 1})


def unchanged(name: str, **lineage: Any) -> SourceResult:
    return SourceResult(name, UNCHANGED, lineage, {}, {})


@pytest.fixture
def store(tmp_path: Path) -> SnapshotStore:
    workspace = Workspace(tmp_path / "home")
    workspace.ensure()
    return SnapshotStore(workspace)


def first_results() -> dict[str, SourceResult]:
    return {
        "advisories": updated(
            "advisories",
            advisory_tables(("PYSEC-1", "1.0")),
            errors(("advisories", "vulns/x/bad.yaml", "bad yaml"), ("advisories", "b", "more")),
            commit="c0",
        ),
        "pypi": updated(
            "pypi",
            pypi_tables("0.9", "1.0"),
            errors(("pypi", "/pypi/gone/json", "404")),
            projects=1,
        ),
        "scorecards": updated(
            "scorecards",
            scorecard_tables(5.0),
            errors(("scorecards", "github.com/x/y", "503")),
            dates=["2026-11-16"],
        ),
    }


@pytest.fixture
def previous(store: SnapshotStore) -> Snapshot:
    """S0: advisories, pypi and scorecards updated, bandit never ran."""
    snapshot = publish_results(store, None, first_results(), {"bandit": "boom"}, T0, "run-0")
    assert snapshot is not None
    return snapshot


def table_rows(table: pa.Table | None) -> list[dict[str, Any]]:
    assert table is not None
    found: list[dict[str, Any]] = table.to_pylist()
    return found


def all_tables(snapshot: Snapshot, without: str = "") -> dict[str, pa.Table]:
    found = {name: snapshot.read(name) for name in snapshot.tables if name != without}
    return {name: table for name, table in found.items() if table is not None}


def error_keys(table: pa.Table) -> list[tuple[str, str]]:
    return [(r["source"], r["path"]) for r in table.to_pylist()]


# ---------------------------------------------------------------- assemble


def test_assemble_takes_updated_tables_and_carries_the_others(previous: Snapshot) -> None:
    results = {"scorecards": updated("scorecards", scorecard_tables(8.0), errors())}
    tables = assemble(previous, results, "S1")
    assert table_rows(tables["scorecards"])[0]["score"] == 8.0
    assert table_rows(tables["scorecard_checks"])[0]["score"] == 8.0
    for name in (*SOURCE_TABLES["advisories"], *SOURCE_TABLES["pypi"]):
        old = previous.read(name)
        assert old is not None and tables[name].equals(old), name
    # bandit never published anything: nothing to carry, and nothing invented
    assert not set(SOURCE_TABLES["bandit"]) & set(tables)


def test_an_unchanged_or_missing_result_carries_previous_tables(previous: Snapshot) -> None:
    results = {
        "advisories": unchanged("advisories", commit="c0"),
        "pypi": SourceResult("pypi", FAILED, {}, {"releases": pypi_tables("9.9")["releases"]}),
    }
    tables = assemble(previous, results, "S1")
    for name in ("advisories", "releases", "packages", "scorecards", "ingest_errors"):
        old = previous.read(name)
        assert old is not None and tables[name].equals(old), name


def test_ingest_errors_are_partitioned_by_source(previous: Snapshot) -> None:
    new_pypi = errors(("pypi", "/pypi/new/json", "timeout"))
    results = {"pypi": updated("pypi", pypi_tables("0.9", "1.0"), new_pypi)}
    merged = assemble(previous, results, "S1")["ingest_errors"]
    assert error_keys(merged) == [
        ("advisories", "b"),
        ("advisories", "vulns/x/bad.yaml"),
        ("pypi", "/pypi/new/json"),  # the updated source replaced only its own rows
        ("scorecards", "github.com/x/y"),
    ]
    assert merged.schema.equals(contract("ingest_errors").schema, check_metadata=False)


def test_an_updated_source_without_errors_clears_only_its_own_rows(previous: Snapshot) -> None:
    results = {"advisories": updated("advisories", advisory_tables(("PYSEC-1", "1.0")), errors())}
    merged = assemble(previous, results, "S1")["ingest_errors"]
    assert error_keys(merged) == [("pypi", "/pypi/gone/json"), ("scorecards", "github.com/x/y")]


def test_ingest_errors_exist_even_without_previous_or_errors() -> None:
    results = {"advisories": updated("advisories", advisory_tables(("A-1", "1.0")), errors())}
    tables = assemble(None, results, "S0")
    assert tables["ingest_errors"].num_rows == 0
    assert tables["changes"].num_rows == 1  # advisory_added, against nothing
    assert table_rows(tables["changes"])[0]["previous_snapshot"] is None


SENTINEL_AFFECTED = {
    "advisory_id": "SENTINEL",
    "package": "flask",
    "version": "0.1",
    "version_canonical": "0.1",
    "in_list": True,
    "in_ranges": False,
    "origin": "list",
    "withdrawn": False,
}


@pytest.fixture
def planted(store: SnapshotStore, previous: Snapshot) -> Snapshot:
    """A previous snapshot whose derived tables hold rows no rebuild would produce."""
    tables = all_tables(previous)
    tables["affected_versions"] = rows("affected_versions", SENTINEL_AFFECTED)
    pvs = table_rows(previous.read("package_version_security"))
    tables["package_version_security"] = rows(
        "package_version_security", *({**r, "fixed_in": "SENTINEL"} for r in pvs)
    )
    tables["changes"] = rows("changes", {"change": "advisory_removed", "advisory_id": "SENTINEL"})
    return store.publish(tables, previous.manifest["sources"], T0, previous)


def advisory_ids(table: pa.Table) -> set[str]:
    return set(table.column("advisory_id").to_pylist())


def test_affected_versions_are_carried_when_neither_advisories_nor_pypi_updated(
    planted: Snapshot,
) -> None:
    results = {
        "advisories": unchanged("advisories", commit="c0"),
        "pypi": unchanged("pypi"),
        "scorecards": updated("scorecards", scorecard_tables(8.0), errors()),
    }
    tables = assemble(planted, results, "S2")
    old = planted.read("affected_versions")
    assert old is not None and tables["affected_versions"].equals(old)


@pytest.mark.parametrize("source", ["advisories", "pypi"])
def test_affected_versions_are_recomputed_when_advisories_or_pypi_updated(
    planted: Snapshot, source: str
) -> None:
    fresh = {
        "advisories": updated("advisories", advisory_tables(("PYSEC-1", "1.0")), errors()),
        "pypi": updated("pypi", pypi_tables("0.9", "1.0"), errors()),
    }
    tables = assemble(planted, {source: fresh[source]}, "S2")
    affected = table_rows(tables["affected_versions"])
    assert advisory_ids(tables["affected_versions"]) == {"PYSEC-1"}
    assert [(r["version"], r["in_ranges"]) for r in affected] == [("0.9", True)]


def test_affected_versions_are_built_when_the_previous_snapshot_has_none(
    store: SnapshotStore, previous: Snapshot
) -> None:
    tables = all_tables(previous, without="affected_versions")
    bare = store.publish(tables, previous.manifest["sources"], T0, previous)
    results = {"scorecards": updated("scorecards", scorecard_tables(8.0), errors())}
    rebuilt = assemble(bare, results, "S2")["affected_versions"]
    assert advisory_ids(rebuilt) == {"PYSEC-1"}


def test_knowledge_and_changes_are_always_rebuilt(planted: Snapshot) -> None:
    results = {"scorecards": updated("scorecards", scorecard_tables(8.0), errors())}
    tables = assemble(planted, results, "S2")
    pvs = table_rows(tables["package_version_security"])
    assert [(r["version"], r["snapshot_id"]) for r in pvs] == [("0.9", "S2"), ("1.0", "S2")]
    assert {r["fixed_in"] for r in pvs} == {None}  # not the planted SENTINEL
    assert [r["scorecard_score"] for r in pvs] == [8.0, 8.0]  # the fresh scorecard
    # judged against the carried affected_versions (whose only row is for 0.1)
    assert [r["advisory_ids"] for r in pvs] == [[], []]
    changes = table_rows(tables["changes"])
    assert {r["previous_snapshot"] for r in changes} == {planted.id}
    assert "SENTINEL" not in {r["advisory_id"] for r in changes}
    assert ("scorecard_drop", "flask") not in {(r["change"], r["package"]) for r in changes}


def test_changes_compare_against_the_previous_snapshot(previous: Snapshot) -> None:
    results = {
        "advisories": updated(
            "advisories", advisory_tables(("PYSEC-1", "1.0"), ("PYSEC-2", "2.0")), errors()
        ),
    }
    changes = table_rows(assemble(previous, results, "S1")["changes"])
    assert ("advisory_added", "PYSEC-2") in {(r["change"], r["advisory_id"]) for r in changes}
    assert ("advisory_added", "PYSEC-1") not in {(r["change"], r["advisory_id"]) for r in changes}
    assert {r["previous_snapshot"] for r in changes} == {previous.id}


# ---------------------------------------------------------------- source_entry


def snapshot_with_sources(sources: dict[str, Any]) -> Snapshot:
    return Snapshot("S0", Path("/nonexistent"), {"sources": sources, "tables": {}})


def test_source_entry_of_an_updated_source() -> None:
    result = updated("pypi", {}, errors(), serial=42)
    entry = source_entry("pypi", None, result, None, T1)
    assert entry == {
        "status": "updated",
        "lineage": {"serial": 42},
        "refreshed_at": T1.isoformat(),
        "error": None,
        "stats": {"rows": 1},
        "age_seconds": 0,
    }


def test_source_entry_of_an_unchanged_source_is_fresh() -> None:
    before = snapshot_with_sources(
        {
            "advisories": {
                "status": "updated",
                "lineage": {"commit": "c0"},
                "refreshed_at": T0.isoformat(),
            }
        }
    )
    entry = source_entry("advisories", before, unchanged("advisories", commit="c0"), None, T1)
    assert entry["status"] == "unchanged" and entry["lineage"] == {"commit": "c0"}
    assert entry["refreshed_at"] == T1.isoformat() and entry["age_seconds"] == 0
    assert entry["error"] is None


def test_a_failed_source_keeps_its_previous_lineage_and_says_its_error() -> None:
    before = snapshot_with_sources(
        {
            "scorecards": {
                "status": "updated",
                "lineage": {"dates": ["2026-11-15"]},
                "refreshed_at": T0.isoformat(),
                "error": None,
                "stats": {"rows": 3},
                "age_seconds": 0,
            }
        }
    )
    entry = source_entry("scorecards", before, None, "Scorecard API unavailable", T1)
    assert entry == {
        "status": "failed",
        "lineage": {"dates": ["2026-11-15"]},
        "refreshed_at": T0.isoformat(),
        "error": "Scorecard API unavailable",
        "stats": {"rows": 3},
        "age_seconds": 3600,
    }


def test_a_source_without_result_or_error_is_carried_forward() -> None:
    before = snapshot_with_sources(
        {"bandit": {"status": "updated", "lineage": {"v": "1.9"}, "refreshed_at": T0.isoformat()}}
    )
    entry = source_entry("bandit", before, None, None, T0 + timedelta(days=2))
    assert entry["status"] == "carried_forward" and entry["error"] is None
    assert entry["lineage"] == {"v": "1.9"} and entry["age_seconds"] == 2 * 86400


def test_a_source_that_never_succeeded_has_no_age() -> None:
    entry = source_entry("bandit", None, None, "boom", T1)
    assert entry == {
        "lineage": {},
        "refreshed_at": None,
        "stats": {},
        "status": "failed",
        "error": "boom",
        "age_seconds": None,
    }


# ---------------------------------------------------------------- publish decision


def test_nothing_updated_publishes_nothing(store: SnapshotStore, previous: Snapshot) -> None:
    results = {name: unchanged(name) for name in ("advisories", "pypi", "scorecards")}
    assert publish_results(store, previous, results, {"bandit": "boom"}, T1) is None
    assert publish_results(store, previous, {}, {"advisories": "down"}, T1) is None
    latest = store.latest()
    assert latest is not None and latest.id == previous.id
    assert [s.id for s in store.all()] == [previous.id]


def test_a_first_run_without_advisories_publishes_nothing(store: SnapshotStore) -> None:
    results = {"pypi": updated("pypi", pypi_tables("1.0"), errors())}
    assert publish_results(store, None, results, {"advisories": "git down"}, T0) is None
    unchanged_advisories = {**results, "advisories": unchanged("advisories")}
    assert publish_results(store, None, unchanged_advisories, {}, T0) is None
    assert store.latest() is None and store.all() == []


def test_a_previous_snapshot_without_advisory_tables_is_no_foundation(
    store: SnapshotStore,
) -> None:
    pypi_only = store.publish(pypi_tables("1.0"), {}, T0, None)
    results = {"scorecards": updated("scorecards", scorecard_tables(5.0), errors())}
    assert publish_results(store, pypi_only, results, {}, T1) is None
    latest = store.latest()
    assert latest is not None and latest.id == pypi_only.id


def test_a_first_run_with_advisories_publishes(store: SnapshotStore) -> None:
    results = {"advisories": updated("advisories", advisory_tables(("A-1", "1.0")), errors())}
    snapshot = publish_results(store, None, results, {"pypi": "down"}, T0, "run-x")
    assert snapshot is not None
    latest = store.latest()
    assert latest is not None and latest.id == snapshot.id
    assert snapshot.manifest["previous_snapshot"] is None
    assert snapshot.manifest["sources"]["pypi"]["status"] == "failed"


def test_an_update_on_top_of_a_previous_snapshot_publishes(
    store: SnapshotStore, previous: Snapshot
) -> None:
    results = {
        "advisories": unchanged("advisories", commit="c0"),
        "scorecards": updated("scorecards", scorecard_tables(3.0), errors()),
    }
    snapshot = publish_results(store, previous, results, {"pypi": "PyPI down"}, T1, "run-1")
    assert snapshot is not None
    latest = store.latest()
    assert latest is not None and latest.id == snapshot.id != previous.id
    sources = snapshot.manifest["sources"]
    assert {n: s["status"] for n, s in sources.items()} == {
        "advisories": "unchanged",
        "pypi": "failed",
        "bandit": "carried_forward",  # failed at S0, not run now: named, not failed again
        "scorecards": "updated",
        "popularity": "carried_forward",
    }
    assert sources["pypi"]["lineage"] == {"projects": 1}  # kept from S0
    assert sources["pypi"]["error"] == "PyPI down" and sources["pypi"]["age_seconds"] == 3600
    assert sources["bandit"]["error"] is None and sources["bandit"]["age_seconds"] is None
    changes = table_rows(snapshot.read("changes"))
    assert ("scorecard_drop", "5.0", "3.0") in {
        (r["change"], r["old_value"], r["new_value"]) for r in changes
    }


# ---------------------------------------------------------------- manifest


def test_the_manifest_names_the_run_and_the_previous_snapshot(
    store: SnapshotStore, previous: Snapshot
) -> None:
    assert previous.manifest["run_id"] == "run-0"
    assert previous.manifest["previous_snapshot"] is None
    results = {"pypi": updated("pypi", pypi_tables("0.9", "1.0", "1.1"), errors())}
    snapshot = publish(store, previous, results, {}, T1, "run-1")
    manifest = snapshot.manifest
    assert manifest["snapshot_id"] == snapshot.id and manifest["run_id"] == "run-1"
    assert manifest["previous_snapshot"] == previous.id
    assert manifest["created_at"] == T1.isoformat()
    assert set(manifest["sources"]) == SOURCE_NAMES
    assert manifest["sources"]["scorecards"]["status"] == "carried_forward"
    assert set(manifest["tables"]) == set(snapshot.tables)
    pvs = snapshot.read("package_version_security")
    assert pvs is not None and set(pvs.column("snapshot_id").to_pylist()) == {snapshot.id}
    on_disk = store.get(snapshot.id)
    assert on_disk.manifest == manifest
    for name, info in manifest["tables"].items():
        table = on_disk.read(name)
        assert table is not None and table.num_rows == info["rows"], name
        assert info["schema_version"] == contract(name).version
    on_disk.verify()
    assert publish(store, snapshot, results, {}, T1).manifest["run_id"] is None


def test_verify_detects_a_table_that_does_not_match_its_manifest(previous: Snapshot) -> None:
    previous.verify()
    path = previous.table_path("advisories")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF  # same size, other content
    path.write_bytes(bytes(data))
    with pytest.raises(SnapshotError, match="advisories does not match"):
        previous.verify()


def test_a_source_known_only_to_the_previous_manifest_is_still_reported(
    store: SnapshotStore, previous: Snapshot
) -> None:
    sources = {
        **previous.manifest["sources"],
        "retired": {"status": "updated", "lineage": {"x": 1}, "refreshed_at": T0.isoformat()},
    }
    older = store.publish(all_tables(previous), sources, T0, previous)
    results = {"scorecards": updated("scorecards", scorecard_tables(8.0), errors())}
    snapshot = publish(store, older, results, {}, T1)
    entry = snapshot.manifest["sources"]["retired"]
    assert entry["status"] == "carried_forward" and entry["lineage"] == {"x": 1}
    assert entry["age_seconds"] == 3600


def test_a_published_file_depends_only_on_the_table_not_on_its_path(tmp_path: Path) -> None:
    results = first_results()
    staged = StagedRun(Workspace(tmp_path / "staged"), "run-1")
    for result in results.values():
        staged.save(result)
    round_tripped = {name: staged.load(name) for name in results}
    workspaces = [Workspace(tmp_path / root) for root in ("memory", "staged")]
    for workspace in workspaces:
        workspace.ensure()
    stores = [SnapshotStore(workspace) for workspace in workspaces]
    published = [
        store.publish(assemble(None, {k: v for k, v in found.items() if v}, "S0"), {}, T0, None)
        for store, found in zip(stores, (results, round_tripped), strict=True)
    ]
    memory, via_staging = (p.manifest["tables"] for p in published)
    assert {n: t["sha256"] for n, t in memory.items()} == {
        n: t["sha256"] for n, t in via_staging.items()
    }

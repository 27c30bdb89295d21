"""What a published snapshot holds for readers in any language: sorted Parquet with sorting
metadata, a page index and small row groups where it matters; the contracts; the data's age."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import yaml

from aggregators.core.contracts import contract, contract_text
from aggregators.core.workspace import Workspace
from aggregators.store.snapshots import SnapshotStore, data_age

NOW = datetime(2026, 11, 22, tzinfo=UTC)


def pvs_rows(packages: int, versions: int) -> list[dict[str, object]]:
    return [
        {
            "package": f"pkg{p:04d}",
            "version": f"1.{v}",
            "version_canonical": f"1.{v}",
            "version_rank": v,
            "is_prerelease": False,
            "yanked": False,
            "upload_time": None,
            "advisory_ids": [],
            "advisory_count": 0,
            "max_cvss_score": None,
            "max_cvss_rating": None,
            "fixed_in": None,
            "bandit_status": "not_analysed",
            "bandit_high_findings": None,
            "scorecard_score": None,
            "scorecard_date": None,
            "malicious": False,
            "malicious_project": False,
            "first_upload": None,
            "days_since_previous": None,
            "snapshot_id": "S",
        }
        for p in range(packages)
        for v in range(versions)
    ]


def publish(tmp_path: Path, tables: dict[str, pa.Table]) -> Path:
    store = SnapshotStore(Workspace(tmp_path))
    Workspace(tmp_path).ensure()
    return store.publish(tables, {}, NOW, None).path


def test_the_knowledge_table_is_laid_out_for_one_package_look_ups(tmp_path: Path) -> None:
    table = contract("package_version_security").table_from_rows(pvs_rows(400, 50))
    path = (
        publish(tmp_path, {"package_version_security": table}) / "package_version_security.parquet"
    )
    metadata = pq.ParquetFile(path).metadata
    assert metadata.num_rows == 20_000
    assert metadata.num_row_groups == 5  # 4,096 rows each (was one group of every row)
    group = metadata.row_group(0)
    sorting = group.sorting_columns
    names = [metadata.schema.column(c.column_index).name for c in sorting]
    assert names == ["package", "version_rank"] and not any(c.descending for c in sorting)
    column = group.column(0)
    assert column.has_column_index and column.has_offset_index  # the page index
    # statistics let a reader skip every row group but the one holding the package
    dataset = ds.dataset(path, format="parquet")
    fragment = next(iter(dataset.get_fragments()))
    kept = fragment.split_by_row_group(filter=ds.field("package") == "pkg0123")
    assert len(kept) == 1


def test_every_table_is_sorted_and_says_so(tmp_path: Path) -> None:
    rows = [
        {"source": "pypi", "path": "b", "advisory_id": None, "level": "error", "reason": "x"},
        {"source": "advisories", "path": "a", "advisory_id": None, "level": "error", "reason": "y"},
    ]
    table = contract("ingest_errors").table_from_rows(rows, sort=False)
    path = publish(tmp_path, {"ingest_errors": table}) / "ingest_errors.parquet"
    metadata = pq.ParquetFile(path).metadata
    sorting = metadata.row_group(0).sorting_columns
    assert [metadata.schema.column(c.column_index).name for c in sorting] == list(
        contract("ingest_errors").sort_by
    )
    assert pq.read_table(path).column("source").to_pylist() == ["advisories", "pypi"]


def test_each_snapshot_ships_the_contracts_of_its_tables(tmp_path: Path) -> None:
    table = contract("ingest_errors").empty()
    snapshot_dir = publish(tmp_path, {"ingest_errors": table})
    snapshot = SnapshotStore(Workspace(tmp_path)).latest()
    assert snapshot is not None
    for name, entry in {
        **snapshot.manifest["tables"],
        **snapshot.manifest["placeholders"],
    }.items():
        shipped = snapshot_dir / entry["contract"]
        assert shipped.read_text(encoding="utf-8") == contract_text(name)
        assert (
            yaml.safe_load(shipped.read_text(encoding="utf-8"))["version"]
            == entry["schema_version"]
        )
    assert (snapshot_dir / "contracts" / "package_version_security.yaml").is_file()


def test_tables_fetched_from_a_source_say_how_old_their_data_is() -> None:
    rows = [
        {"fetched_at": NOW - timedelta(days=5)},
        {"fetched_at": NOW - timedelta(hours=1)},
    ]
    table = pa.table({"fetched_at": pa.array([r["fetched_at"] for r in rows])})
    assert data_age(table, NOW) == {
        "data_as_of": (NOW - timedelta(days=5)).isoformat(),
        "data_age_seconds": 5 * 86400,
    }
    assert data_age(pa.table({"x": [1]}), NOW) == {}

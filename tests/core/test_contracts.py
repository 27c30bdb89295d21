"""Table contracts in schemas/: valid, loadable, and enforced on data."""

from __future__ import annotations

import pyarrow as pa
import pytest

from aggregators.core.contracts import all_contracts, contract, parse_contract, parse_type
from aggregators.core.errors import SchemaError

EXPECTED = {
    "advisories",
    "advisory_packages",
    "advisory_ranges",
    "affected_versions",
    "ingest_errors",
}


def test_every_contract_loads_and_documents_every_column() -> None:
    contracts = {c.table: c for c in all_contracts()}
    assert set(contracts) >= EXPECTED
    for c in contracts.values():
        assert c.version >= 1 and c.description
        assert all(col.description for col in c.columns)
        assert c.schema.metadata[b"seckb.schema_version"] == str(c.version).encode()


def test_type_grammar() -> None:
    assert parse_type("list<struct<type:string,url:string>>") == pa.list_(
        pa.struct([("type", pa.string()), ("url", pa.string())])
    )
    assert parse_type("timestamp") == pa.timestamp("us", tz="UTC")
    with pytest.raises(SchemaError, match="unknown column type"):
        parse_type("varchar")


def test_contract_validation() -> None:
    base = {
        "table": "t",
        "version": 1,
        "description": "d",
        "columns": [{"name": "a", "type": "string", "description": "x"}],
    }
    assert parse_contract(base, "t").columns[0].nullable is True
    with pytest.raises(SchemaError, match="duplicate column"):
        parse_contract({**base, "columns": base["columns"] * 2}, "t")
    with pytest.raises(SchemaError, match="sort_by names unknown"):
        parse_contract({**base, "sort_by": ["b"]}, "t")
    with pytest.raises(SchemaError, match="invalid contract"):
        parse_contract({"table": "t"}, "t")


def test_data_is_checked_against_the_contract() -> None:
    errors = contract("ingest_errors")
    row = {
        "source": "advisories",
        "path": "p",
        "advisory_id": None,
        "level": "error",
        "reason": "r",
    }
    table = errors.table_from_rows([row])
    assert table.schema.equals(errors.schema)
    with pytest.raises(SchemaError, match="not nullable"):
        errors.table_from_rows([{**row, "reason": None}])
    with pytest.raises(SchemaError, match="differ from contract"):
        errors.conform(table.drop_columns(["reason"]))
    sorted_rows = errors.table_from_rows([{**row, "path": "b"}, {**row, "path": "a"}])
    assert sorted_rows.column("path").to_pylist() == ["a", "b"]

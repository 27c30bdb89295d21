"""Table contracts: ``schemas/<table>.yaml`` is the single source of each table's Arrow schema.

A contract names the table, its schema version, a description, the sort order of published
files, whether snapshots publish it (``published: false`` for internal tables such as the Bandit
cache) and every column (name, type, nullability, description). Types are written as
``string``, ``int32``, ``int64``, ``float64``, ``bool``, ``timestamp`` (microseconds, UTC),
``date``, ``list<T>`` and ``struct<name:T,...>``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

import pyarrow as pa
import yaml

from aggregators.core.errors import SchemaError

_SCALARS: dict[str, pa.DataType] = {
    "string": pa.string(),
    "int32": pa.int32(),
    "int64": pa.int64(),
    "float64": pa.float64(),
    "bool": pa.bool_(),
    "timestamp": pa.timestamp("us", tz="UTC"),
    "date": pa.date32(),
}


def _split_top_level(text: str) -> list[str]:
    """Split ``a:T,b:list<U>`` on commas that are not nested inside ``<...>``."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(text):
        if char == "<":
            depth += 1
        elif char == ">":
            depth -= 1
        elif char == "," and depth == 0:
            parts.append(text[start:i])
            start = i + 1
    parts.append(text[start:])
    return [p.strip() for p in parts if p.strip()]


def parse_type(text: str) -> pa.DataType:
    """Turn a contract type string into an Arrow type; raise :class:`SchemaError` if unknown."""
    text = text.strip()
    if text in _SCALARS:
        return _SCALARS[text]
    if text.startswith("list<") and text.endswith(">"):
        return pa.list_(parse_type(text[5:-1]))
    if text.startswith("struct<") and text.endswith(">"):
        fields = []
        for part in _split_top_level(text[7:-1]):
            name, sep, sub = part.partition(":")
            if not sep:
                raise SchemaError(f"struct field without a type: {part!r}")
            fields.append(pa.field(name.strip(), parse_type(sub)))
        return pa.struct(fields)
    raise SchemaError(f"unknown column type {text!r}")


@dataclass(frozen=True)
class Column:
    """One column of a table contract."""

    name: str
    type: str
    nullable: bool
    description: str


@dataclass(frozen=True)
class Contract:
    """A table's published contract: what resolvers and analysts can rely on."""

    table: str
    version: int
    description: str
    columns: tuple[Column, ...]
    sort_by: tuple[str, ...]
    published: bool = True
    """Every snapshot holds the table (empty when there is nothing); false for internal tables."""
    row_group_rows: int | None = None
    """Rows per Parquet row group of published files (``None``: the writer's default). Small
    groups let a reader that filters by the sort key skip most of the file."""

    @property
    def schema(self) -> pa.Schema:
        """The Arrow schema every written file of this table has, with the contract as metadata."""
        return _schema_for(self)

    def table_from_rows(self, rows: Sequence[Mapping[str, Any]], sort: bool = True) -> pa.Table:
        """Build an Arrow table from row dicts, checked against the contract (and sorted)."""
        try:
            table = pa.Table.from_pylist(list(rows), schema=self.schema)
        except (pa.ArrowInvalid, pa.ArrowTypeError) as exc:
            raise SchemaError(f"rows do not fit the {self.table} contract: {exc}") from exc
        return self.conform(table, sort=sort)

    def conform(self, table: pa.Table, sort: bool = True) -> pa.Table:
        """Check ``table`` against the contract (columns, types, nulls) and sort it."""
        if table.schema.names != self.schema.names:
            raise SchemaError(
                f"{self.table}: columns {table.schema.names} differ from contract "
                f"{self.schema.names}"
            )
        if str(table.schema.remove_metadata()) != str(self.schema.remove_metadata()):
            # also casts what Arrow's equality ignores (list items named 'element' after a
            # Parquet round trip, 'item' when built in memory): equal tables, equal bytes
            try:
                table = table.cast(self.schema)
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise SchemaError(f"{self.table}: types differ from contract: {exc}") from exc
        table = table.replace_schema_metadata(self.schema.metadata)
        for column in self.columns:
            if not column.nullable and table.column(column.name).null_count:
                raise SchemaError(f"{self.table}.{column.name} is not nullable but has nulls")
        if sort and self.sort_by and table.num_rows:
            table = table.sort_by([(name, "ascending") for name in self.sort_by])
        return table

    def empty(self) -> pa.Table:
        """An empty table with the contract's schema."""
        return self.schema.empty_table()


@cache
def _schema_for(contract: Contract) -> pa.Schema:
    fields = [
        pa.field(
            c.name,
            parse_type(c.type),
            nullable=c.nullable,
            metadata={"description": c.description},
        )
        for c in contract.columns
    ]
    metadata = {
        "seckb.table": contract.table,
        "seckb.schema_version": str(contract.version),
        "description": contract.description,
    }
    return pa.schema(fields, metadata=metadata)


def parse_contract(data: Any, origin: str) -> Contract:
    """Validate a contract document (already loaded from YAML) and return it."""
    if not isinstance(data, dict):
        raise SchemaError(f"{origin}: a contract must be a mapping")
    try:
        columns = tuple(
            Column(
                name=str(c["name"]),
                type=str(c["type"]),
                nullable=bool(c.get("nullable", True)),
                description=str(c["description"]),
            )
            for c in data["columns"]
        )
        contract = Contract(
            table=str(data["table"]),
            version=int(data["version"]),
            description=str(data["description"]).strip(),
            columns=columns,
            sort_by=tuple(data.get("sort_by", ())),
            published=bool(data.get("published", True)),
            row_group_rows=int(data["row_group_rows"]) if data.get("row_group_rows") else None,
        )
    except (KeyError, TypeError, ValueError) as exc:
        raise SchemaError(f"{origin}: invalid contract ({exc!r})") from exc
    names = [c.name for c in columns]
    if len(set(names)) != len(names):
        raise SchemaError(f"{origin}: duplicate column names")
    unknown = set(contract.sort_by) - set(names)
    if unknown:
        raise SchemaError(f"{origin}: sort_by names unknown columns {sorted(unknown)}")
    for column in columns:
        parse_type(column.type)
    return contract


@cache
def contract_text(table: str) -> str:
    """The YAML text of ``table``'s contract as shipped (snapshots carry a copy)."""
    resource = resources.files("aggregators.contracts").joinpath(f"{table}.yaml")
    try:
        return resource.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise SchemaError(f"no contract for table {table!r} in schemas/") from exc


@cache
def contract(table: str) -> Contract:
    """Load the contract of ``table`` from the packaged ``schemas/`` directory."""
    text = contract_text(table)
    found = parse_contract(yaml.safe_load(text), f"schemas/{table}.yaml")
    if found.table != table:
        raise SchemaError(f"schemas/{table}.yaml names table {found.table!r}")
    return found


def published_contracts() -> list[Contract]:
    """The contracts of the tables every snapshot publishes."""
    return [c for c in all_contracts() if c.published]


def all_contracts() -> list[Contract]:
    """Every contract shipped in ``schemas/``, sorted by table name."""
    names: Iterable[str] = (
        entry.name[: -len(".yaml")]
        for entry in resources.files("aggregators.contracts").iterdir()
        if entry.name.endswith(".yaml")
    )
    return [contract(name) for name in sorted(names)]

"""One issue counted once across OSV repositories (pure: the ``advisories`` table in and out).

Repositories are read in order (the advisory-db first). A record of a later repository whose
id or an alias equals the id or an alias of a record of an earlier one is the same issue: it
names that record in ``merged_into`` and is counted through it (the record it merges into is
the *primary*; the earliest repository's, then the smallest id). Within one repository nothing
is merged: two records of one database are two issues unless it says otherwise.

The primary then carries what its merged records know:

* ``malicious`` when an active merged record is a malicious-package record;
* its CVSS fields, when it has none, from the first merged record that has them, named in
  ``severity_from``.

An active record is never merged into a withdrawn one (it would vanish); a withdrawn record may
name an active primary (it is inactive either way).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import PurePosixPath
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc

from aggregators.sources.advisories.osv import SOURCE
from aggregators.sources.base import error_row

SEVERITY = ("severity_type", "severity_vector", "cvss_score", "cvss_rating")
_READ = ("id", "aliases", "origin", "withdrawn", "malicious", *SEVERITY)


def _primaries(rows: list[dict[str, Any]], rank: dict[str, int]) -> list[int | None]:
    """For each row, the index of the row it merges into (``None``: counted on its own)."""
    order = sorted(range(len(rows)), key=lambda i: (rank.get(rows[i]["origin"], 0), rows[i]["id"]))
    position = {i: k for k, i in enumerate(order)}
    owner: dict[str, int] = {}  # id or alias -> the first row (in order) carrying it
    primary: list[int | None] = [None] * len(rows)
    for i in order:
        row = rows[i]
        keys = [row["id"], *row["aliases"]]
        target: int | None = None
        for key in keys:
            j = owner.get(key)
            if j is None or rows[j]["origin"] == row["origin"]:
                continue
            j = primary[j] if primary[j] is not None else j
            assert j is not None
            if target is None or position[j] < position[target]:
                target = j
        if target is not None and (
            row["withdrawn"] is not None or rows[target]["withdrawn"] is None
        ):
            primary[i] = target
        for key in keys:
            owner.setdefault(key, i)
    return primary


def merge_origins(advisories: pa.Table, origins: Sequence[str]) -> pa.Table:
    """``advisories`` with ``merged_into``, ``severity_from``, ``malicious`` and the CVSS fields
    of merged issues filled in (unchanged when every row is of one repository)."""
    if advisories.num_rows == 0 or len(set(advisories.column("origin").to_pylist())) < 2:
        return advisories
    rows = advisories.select(list(_READ)).to_pylist()
    rank = {name: i for i, name in enumerate(origins)}
    primary = _primaries(rows, rank)
    columns: dict[str, list[Any]] = {name: [r[name] for r in rows] for name in _READ}
    columns["merged_into"] = [rows[p]["id"] if p is not None else None for p in primary]
    columns["severity_from"] = list(advisories.column("severity_from").to_pylist())
    members: dict[int, list[int]] = {}
    for i, p in enumerate(primary):
        if p is not None:
            members.setdefault(p, []).append(i)
    for root, group in members.items():
        active = [
            i
            for i in sorted(group, key=lambda i: (rank.get(rows[i]["origin"], 0), rows[i]["id"]))
            if rows[i]["withdrawn"] is None
        ]
        if any(rows[i]["malicious"] for i in active):
            columns["malicious"][root] = True
        scored = [i for i in active if rows[i]["cvss_score"] is not None]
        if rows[root]["cvss_score"] is None and scored:
            for name in SEVERITY:
                columns[name][root] = rows[scored[0]][name]
            columns["severity_from"][root] = rows[scored[0]]["id"]
    for name in ("malicious", "merged_into", "severity_from", *SEVERITY):
        index = advisories.schema.get_field_index(name)
        field = advisories.schema.field(index)
        advisories = advisories.set_column(index, field, pa.array(columns[name], field.type))
    return advisories


def _dedupe_key(row: dict[str, Any], rank: dict[str, int]) -> tuple[int, int, str]:
    """The earliest repository first, then the canonical file for an id
    (``vulns/<pkg>/<ID>.yaml``), then by path."""
    canonical = PurePosixPath(row["source_path"]).stem == row["id"]
    return (rank.get(row["origin"], 0), 0 if canonical else 1, row["source_path"])


def drop_duplicates(
    advisories: pa.Table, origins: Sequence[str], errors: list[dict[str, Any]]
) -> tuple[set[str], set[str]]:
    """Keep one file per id, deterministically (the earliest repository's): the paths of
    the others, each recorded in ``errors``, and the ids an active malicious record of
    another repository dropped this way marks malicious."""
    rank = {name: i for i, name in enumerate(origins)}
    by_id: dict[str, list[dict[str, Any]]] = {}
    columns = ["id", "source_path", "origin", "malicious", "withdrawn"]
    for row in advisories.select(columns).to_pylist():
        by_id.setdefault(row["id"], []).append(row)
    dropped: set[str] = set()
    flagged: set[str] = set()
    for adv_id, group in by_id.items():
        if len(group) < 2:
            continue
        winner, *losers = sorted(group, key=lambda row: _dedupe_key(row, rank))
        for loser in losers:
            dropped.add(loser["source_path"])
            if loser["origin"] == winner["origin"]:
                reason = f"duplicate id {adv_id}: already defined in {winner['source_path']}"
                errors.append(error_row(SOURCE, loser["source_path"], reason, "error", adv_id))
            else:
                reason = f"{adv_id} is also in {winner['origin']}: its record is the one kept"
                errors.append(error_row(SOURCE, loser["source_path"], reason, "warning", adv_id))
                if loser["malicious"] and loser["withdrawn"] is None:
                    flagged.add(adv_id)
    return dropped, flagged


def flag_malicious(advisories: pa.Table, ids: set[str]) -> pa.Table:
    """``advisories`` with ``malicious`` set on the rows of ``ids``."""
    if not ids:
        return advisories
    index = advisories.schema.get_field_index("malicious")
    marked = pc.or_(
        advisories.column("malicious"),
        pc.is_in(advisories.column("id"), pa.array(sorted(ids), pa.string())),
    )
    return advisories.set_column(index, advisories.schema.field(index), marked)

"""Compaction of the Bandit result cache: many small parts merged into one, crash-safe.

Every flush adds a part, so a cache fed every night by many Airflow tasks grows without bound in
files, and the first lookup of a run reads the footer of each. Past ``bandit_cache_max_parts``
live parts, the parts smaller than ``bandit_cache_compact_mb`` are merged into one new part,
with one row per file hash, analysis key and outcome kept (the one a lookup would pick).

The merged part names, in its Parquet metadata, the parts it replaces. That list is the
tombstone: a replaced part is ignored as soon as the merged part exists, deleted from this
directory and from the shared store by whoever sees it next, and never uploaded again by a
worker that still holds a copy. So a crash at any step leaves either the old parts alone (the
merged part was not in place yet) or a merged part whose replaced parts every later sync
removes; a result is never lost, at worst held twice for a while.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from aggregators.core.contracts import contract
from aggregators.sources.bandit.engine import CRASH, ERROR, TIMEOUT

TABLE = "bandit_cache"
REPLACES = b"seckb.replaces"
"""Parquet metadata key of a merged part: the JSON list of the part names it replaces."""
_RETRYABLE = frozenset({TIMEOUT, CRASH, ERROR})
TOMBSTONES = 2000
"""At most this many replaced names, the newest (names begin with their time), are carried from
merge to merge: a worker holding an older replaced part re-uploads it, a duplicate the next
merge drops again."""


def replaced_by(part: Path) -> list[str]:
    """The part names ``part`` replaces (none for a part written by a flush)."""
    metadata = pq.read_schema(part).metadata or {}
    raw = metadata.get(REPLACES)
    if raw is None:
        return []
    names = json.loads(raw)
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise ValueError(f"{part.name}: {REPLACES.decode()} is not a list of part names")
    return names


def rows_to_keep(table: pa.Table) -> list[int]:
    """Indices of the rows a merged part keeps: per (file hash, Bandit version, configuration),
    the newest final outcome if there is one, else each limit-dependent failure that happened
    under limits no other one exceeds in both (a lookup under any limits picks the same)."""
    columns = [
        table.column(name).to_pylist()
        for name in (
            "file_sha256",
            "bandit_version",
            "config_hash",
            "status",
            "timeout_seconds",
            "memory_mb",
            "analysed_at",
        )
    ]
    final: dict[tuple[str, str, str], int] = {}
    failures: dict[tuple[str, str, str], list[int]] = {}
    for i, (sha, version, config, status, _, _, at) in enumerate(zip(*columns, strict=True)):
        key = (sha, version, config)
        if status not in _RETRYABLE:
            if key not in final or at > columns[6][final[key]]:
                final[key] = i
        else:
            failures.setdefault(key, []).append(i)
    keep = list(final.values())
    timeouts, memories = columns[4], columns[5]
    for key, indices in failures.items():
        if key in final:
            continue
        best: dict[tuple[float, int], int] = {}
        for i in indices:  # one row per distinct limits, the newest
            limits = (timeouts[i], memories[i])
            if limits not in best or columns[6][i] > columns[6][best[limits]]:
                best[limits] = i
        keep += [
            i
            for (t, m), i in best.items()
            if not any(t2 >= t and m2 >= m and (t2, m2) != (t, m) for t2, m2 in best)
        ]
    return sorted(keep)


def merge(
    parts: Iterable[Path], directory: Path, now: datetime, carried: Iterable[str] = ()
) -> Path:
    """Write the rows of ``parts`` worth keeping as one new part of ``directory`` (temporary
    name, then ``os.replace``) that names them, and the ``carried`` names the merged ones
    among them replaced, as replaced; return its path."""
    parts = list(parts)
    schema = contract(TABLE).schema
    table = pa.concat_tables([pq.read_table(p, schema=schema) for p in parts])
    table = table.take(pa.array(rows_to_keep(table), pa.int64()))
    direct = {p.name for p in parts}
    names = direct | set(sorted(set(carried) - direct)[-TOMBSTONES:])
    metadata = {**(schema.metadata or {}), REPLACES: json.dumps(sorted(names))}
    table = table.replace_schema_metadata(metadata)
    name = f"part-{now.strftime('%Y%m%dT%H%M%S')}-merged-{uuid.uuid4().hex[:12]}.parquet"
    final = directory / name
    tmp = directory / f".{name}.tmp"
    try:
        pq.write_table(table, tmp, compression="zstd")
        os.replace(tmp, final)
    finally:
        tmp.unlink(missing_ok=True)
    return final


def to_merge(parts: Iterable[Path], max_parts: int, small_bytes: int) -> list[Path]:
    """The parts to merge now: the small ones, when there are more than ``max_parts`` live
    parts and at least two of them are small (nothing otherwise)."""
    parts = list(parts)
    if len(parts) <= max_parts:
        return []
    small = [p for p in parts if p.stat().st_size < small_bytes]
    return small if len(small) >= 2 else []

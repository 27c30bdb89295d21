"""One verified snapshot, loaded for serving: the OSV records and what decides "affected".

Which advisories affect a version is decided as ``seckb audit`` decides it (the lookup API):

* a release the snapshot lists (``package_version_security``): its ``advisory_ids``, computed at
  publish time from the advisories' lists and ranges — a hash probe;
* any other version: :mod:`aggregators.clients.evaluation`, the rule ``seckb query``, the lookup
  API and ``seckb audit`` share, over the advisory rows of the whole snapshot (read once here).
  Its answers are memoized per (package, PEP 440 version) in a bounded cache, so a server asked
  for many distinct versions keeps a bounded memory.

The OSV documents are kept as the bytes of their JSON text (``osv_records``), ready to be
written into a response as the advisory-db has them.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, Generic, TypeVar

import pyarrow.parquet as pq

from aggregators.clients.evaluation import (
    FACT_COLUMNS,
    AdvisoryFacts,
    PackageAdvisories,
    active_affecting,
    facts_from_rows,
    group_advisories,
)
from aggregators.core.errors import SnapshotError
from aggregators.core.versions import canonical_version

if TYPE_CHECKING:
    from aggregators.clients.lookup import KnowledgeBase
    from aggregators.store.snapshots import Snapshot

V = TypeVar("V")
OSV_TABLE = "osv_records"
SECURITY = "package_version_security"
CACHE_SIZE = 200_000
"""Most (package, version) verdicts memoized per snapshot."""


@dataclass(frozen=True)
class OsvRecords:
    """The advisories' own OSV documents, by id and by alias."""

    documents: dict[str, bytes]
    """Id -> the OSV document as UTF-8 JSON text."""
    modified: dict[str, str | None]
    """Id -> the document's ``modified`` as written."""
    by_alias: dict[str, tuple[str, ...]]
    """Alias (CVE, GHSA...) -> the ids of the documents naming it, active ones first."""

    def resolve(self, name: str) -> str | None:
        """The id of the document ``name`` names: its own id, else the first carrying it as an
        alias (an active advisory before a withdrawn one)."""
        if name in self.documents:
            return name
        ids = self.by_alias.get(name)
        return ids[0] if ids else None


class BoundedCache(Generic[V]):
    """A thread-safe least-recently-used mapping of at most ``size`` entries."""

    def __init__(self, size: int) -> None:
        """Start empty."""
        self.size = size
        self._items: OrderedDict[tuple[str, str], V] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: tuple[str, str]) -> V | None:
        """The value of ``key`` (now most recently used), or ``None``."""
        with self._lock:
            value = self._items.get(key)
            if value is not None:
                self._items.move_to_end(key)
            return value

    def put(self, key: tuple[str, str], value: V) -> None:
        """Store ``value``, dropping the least recently used entry when full."""
        with self._lock:
            self._items[key] = value
            self._items.move_to_end(key)
            if len(self._items) > self.size:
                self._items.popitem(last=False)

    def __len__(self) -> int:
        """How many entries are held."""
        return len(self._items)


class View:
    """A snapshot, verified and indexed; immutable once built (safe to share between threads)."""

    def __init__(self, snapshot: Snapshot, loaded_at: datetime, kb: KnowledgeBase | None) -> None:
        """Read the advisory tables of ``snapshot`` (already verified) into memory."""
        self.snapshot = snapshot
        self.loaded_at = loaded_at
        self.kb = kb
        """The knowledge table (``None`` when the snapshot has none), for seckb's own API."""
        packages = _read(snapshot, "advisory_packages")
        ranges = _read(snapshot, "advisory_ranges")
        self.advisories: dict[str, PackageAdvisories] = group_advisories(packages, ranges)
        for item in self.advisories.values():  # the first query of a version pays nothing
            item.prepare()
        self.facts: dict[str, AdvisoryFacts] = facts_from_rows(
            _read(snapshot, "advisories", list(FACT_COLUMNS))
        )
        self.osv = self._osv_records() if OSV_TABLE in snapshot.tables else None
        self._listed = self._listed_releases() if kb is not None else {}
        self._cache: BoundedCache[tuple[str, ...]] = BoundedCache(CACHE_SIZE)

    def _listed_releases(self) -> dict[tuple[str, str], tuple[str, ...]]:
        """(package, canonical version) -> active advisories, for every listed release."""
        columns = ["package", "version_canonical", "advisory_ids"]
        table = pq.read_table(self.snapshot.table_path(SECURITY), columns=columns)
        return {
            (package, canonical): tuple(sorted(ids))
            for package, canonical, ids in zip(
                *(table.column(name).to_pylist() for name in columns), strict=True
            )
        }

    def _osv_records(self) -> OsvRecords:
        rows = _read(self.snapshot, OSV_TABLE, ["id", "aliases", "modified", "record"])
        documents = {r["id"]: r["record"].encode("utf-8") for r in rows}
        by_alias: dict[str, list[str]] = {}
        for row in rows:
            for alias in row["aliases"]:
                if alias != row["id"]:
                    by_alias.setdefault(alias, []).append(row["id"])
        withdrawn = {i for i, fact in self.facts.items() if fact.withdrawn}
        return OsvRecords(
            documents,
            {r["id"]: r["modified"] for r in rows},
            {k: tuple(sorted(v, key=lambda i: (i in withdrawn, i))) for k, v in by_alias.items()},
        )

    @property
    def id(self) -> str:
        """The snapshot id."""
        return self.snapshot.id

    def knows(self, package: str) -> bool:
        """Whether an advisory names ``package`` (PEP 503 name)."""
        return package in self.advisories

    def affecting(self, package: str, version: str) -> tuple[str, ...]:
        """The active advisories affecting ``version`` of ``package`` (PEP 503 name), sorted."""
        key = (package, canonical_version(version))
        found = self._listed.get(key)
        if found is not None:
            return found
        found = self._cache.get(key)
        if found is None:
            found = tuple(active_affecting(self.advisories.get(package), self.facts, version))
            self._cache.put(key, found)
        return found

    def affecting_many(self, pairs: Iterable[tuple[str, str]]) -> list[tuple[str, ...]]:
        """:meth:`affecting` for many pairs, in order."""
        return [self.affecting(package, version) for package, version in pairs]

    @property
    def cached_verdicts(self) -> int:
        """How many verdicts are memoized."""
        return len(self._cache)


def _read(snapshot: Snapshot, table: str, columns: list[str] | None = None) -> list[dict[str, Any]]:
    if table not in snapshot.tables:
        raise SnapshotError(f"snapshot {snapshot.id} has no {table} table")
    rows: list[dict[str, Any]] = pq.read_table(
        snapshot.table_path(table), columns=columns
    ).to_pylist()
    return rows


def build_view(snapshot: Snapshot, loaded_at: datetime, verify: bool = True) -> View:
    """Verify every file of ``snapshot`` against its manifest, then load it for serving.

    Raise :class:`SnapshotError` when a file is missing or differs from the manifest (a
    snapshot still being published, or damaged): such a snapshot is never served.
    """
    from aggregators.clients.lookup import TABLE, KnowledgeBase

    if verify:
        snapshot.verify()
    kb = KnowledgeBase(snapshot) if TABLE in snapshot.tables else None
    return View(snapshot, loaded_at, kb)

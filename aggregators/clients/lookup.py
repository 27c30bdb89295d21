"""The Python API for resolvers: open a snapshot, look up (package, version) pairs, recommend.

    from aggregators.clients.lookup import KnowledgeBase
    kb = KnowledgeBase.open("/srv/seckb")          # a data root (uses LATEST) or a snapshot dir
    info = kb.lookup("Django", "2.2.0")            # PEP 503 names, PEP 440 equality
    if info and info.vulnerable: print(info.advisory_ids, "fixed in", info.fixed_in)

Everything is read once from the snapshot's ``package_version_security`` Parquet file into a
dictionary, so look-ups after opening cost a hash probe.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from packaging.specifiers import InvalidSpecifier, SpecifierSet

from aggregators.core.errors import SeckbError, SnapshotError
from aggregators.core.names import normalize_name
from aggregators.core.versions import canonical_version, parse_version
from aggregators.core.workspace import Workspace
from aggregators.store.snapshots import MANIFEST, Snapshot, SnapshotStore

TABLE = "package_version_security"


@dataclass(frozen=True)
class VersionSecurity:
    """What the snapshot knows about one release."""

    package: str
    version: str
    advisory_ids: tuple[str, ...]
    max_cvss_score: float | None
    max_cvss_rating: str | None
    fixed_in: str | None
    yanked: bool
    is_prerelease: bool | None
    bandit_status: str
    bandit_high_findings: int | None
    scorecard_score: float | None
    scorecard_date: datetime | None

    @property
    def vulnerable(self) -> bool:
        """An active advisory affects this version."""
        return bool(self.advisory_ids)

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (dates as ISO 8601)."""
        return {
            "package": self.package,
            "version": self.version,
            "vulnerable": self.vulnerable,
            "advisory_ids": list(self.advisory_ids),
            "max_cvss_score": self.max_cvss_score,
            "max_cvss_rating": self.max_cvss_rating,
            "fixed_in": self.fixed_in,
            "yanked": self.yanked,
            "is_prerelease": self.is_prerelease,
            "bandit_status": self.bandit_status,
            "bandit_high_findings": self.bandit_high_findings,
            "scorecard_score": self.scorecard_score,
            "scorecard_date": self.scorecard_date.isoformat() if self.scorecard_date else None,
        }


@dataclass
class Recommendation:
    """The greatest acceptable version (or ``None``) and why the newer ones were skipped."""

    package: str
    specifier: str
    version: str | None
    skipped: list[tuple[str, str]] = field(default_factory=list)


class KnowledgeBase:
    """One snapshot's knowledge table, indexed for look-ups."""

    def __init__(self, snapshot: Snapshot, packages: Iterable[str] | None = None) -> None:
        """Load ``snapshot``'s knowledge table (raise SnapshotError if it has none).

        With ``packages``, only those packages' rows are read (the file is sorted by package,
        so row groups of other packages are skipped): what a one-off audit needs.
        """
        self.snapshot = snapshot
        if TABLE not in snapshot.tables:
            raise SnapshotError(f"snapshot {snapshot.id} has no {TABLE} table")
        only = None if packages is None else sorted({normalize_name(p) for p in packages})
        filters = [("package", "in", only)] if only else None
        if only == []:
            filters = [("package", "in", [""])]  # nothing asked: read no row
        table = pq.read_table(snapshot.table_path(TABLE), filters=filters)
        columns = {name: table.column(name).to_pylist() for name in table.column_names}
        self._index: dict[tuple[str, str], VersionSecurity] = {}
        self._by_package: dict[str, list[VersionSecurity]] = {}
        for i in range(table.num_rows):
            row = VersionSecurity(
                package=columns["package"][i],
                version=columns["version"][i],
                advisory_ids=tuple(columns["advisory_ids"][i]),
                max_cvss_score=columns["max_cvss_score"][i],
                max_cvss_rating=columns["max_cvss_rating"][i],
                fixed_in=columns["fixed_in"][i],
                yanked=columns["yanked"][i],
                is_prerelease=columns["is_prerelease"][i],
                bandit_status=columns["bandit_status"][i],
                bandit_high_findings=columns["bandit_high_findings"][i],
                scorecard_score=columns["scorecard_score"][i],
                scorecard_date=columns["scorecard_date"][i],
            )
            self._index[(row.package, columns["version_canonical"][i])] = row
            self._by_package.setdefault(row.package, []).append(row)  # in version order

    @classmethod
    def open(cls, location: str | Path) -> KnowledgeBase:
        """Open a snapshot directory, or the latest snapshot of a data root."""
        path = Path(location)
        if (path / MANIFEST).is_file():
            return cls(SnapshotStore(Workspace(path.parent.parent)).get(path.name))
        snapshot = SnapshotStore(Workspace(path)).latest()
        if snapshot is None:
            raise SeckbError(f"no snapshot in {path}; run 'seckb ingest' first")
        return cls(snapshot)

    def knows(self, package: str) -> bool:
        """Whether PyPI releases of ``package`` are in the snapshot."""
        return normalize_name(package) in self._by_package

    def lookup(self, package: str, version: str) -> VersionSecurity | None:
        """The release, matched by PEP 503 name and PEP 440 equality; ``None`` if unknown."""
        return self._index.get((normalize_name(package), canonical_version(version)))

    def lookup_many(self, pairs: Iterable[tuple[str, str]]) -> list[VersionSecurity | None]:
        """:meth:`lookup` for many pairs, in order."""
        index = self._index
        return [index.get((normalize_name(p), canonical_version(v))) for p, v in pairs]

    def versions(self, package: str) -> Sequence[VersionSecurity]:
        """Every known release of ``package``, oldest first."""
        return self._by_package.get(normalize_name(package), [])

    def recommend(
        self, package: str, specifier: str = "", prereleases: bool = False
    ) -> Recommendation:
        """The greatest version satisfying ``specifier`` with no active advisory, not yanked.

        Pre-releases only when ``prereleases`` is true. Every newer candidate that was passed
        over is listed with the reason.
        """
        try:
            spec = SpecifierSet(specifier)
        except InvalidSpecifier as exc:
            raise SeckbError(f"invalid version specifier {specifier!r}: {exc}") from exc
        result = Recommendation(normalize_name(package), specifier, None)
        for release in reversed(self.versions(package)):
            parsed = parse_version(release.version)
            if parsed is None:
                continue
            if not spec.contains(parsed, prereleases=prereleases or None):
                continue
            if parsed.is_prerelease and not prereleases:
                continue
            if release.yanked:
                result.skipped.append((release.version, "yanked"))
            elif release.vulnerable:
                result.skipped.append(
                    (release.version, "affected by " + ", ".join(release.advisory_ids))
                )
            else:
                result.version = release.version
                break
        return result

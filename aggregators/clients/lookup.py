"""The Python API for resolvers: open a snapshot, look up (package, version) pairs, recommend.

    from aggregators.clients.lookup import KnowledgeBase
    kb = KnowledgeBase.open("/srv/seckb")          # a data root (uses LATEST) or a snapshot dir
    kb = KnowledgeBase.open("s3://bucket/seckb")   # or a published location (tables cached)
    info = kb.lookup("Django", "2.2.0")            # PEP 503 names, PEP 440 equality
    if info and info.vulnerable: print(info.advisory_ids, "fixed in", info.fixed_in)

The PyPI releases are read once from the snapshot's ``package_version_security`` Parquet file
into a dictionary, so look-ups after opening cost a hash probe. A version the releases do not
list (a post-release or local build PyPI does not have, or any version of a package whose PyPI
data the snapshot lacks) is still judged against the advisories' lists and ranges, as
``seckb query`` judges it (:mod:`aggregators.clients.evaluation`): its ``VersionSecurity`` has
``listed=False``. The advisory rows are read lazily, the first time such a version of a
package is asked, and only that package's rows.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
from packaging.specifiers import InvalidSpecifier, SpecifierSet

from aggregators.clients.evaluation import (
    AdvisoryFacts,
    PackageAdvisories,
    active_affecting,
    is_malicious,
    malicious_project,
    read_advisory_facts,
    read_package_advisories,
    worst_severity,
)
from aggregators.clients.fixes import SafeReleases
from aggregators.clients.popularity import Popularity, read_popularity
from aggregators.core.config import Settings, load_settings
from aggregators.core.errors import SeckbError, SnapshotError
from aggregators.core.names import normalize_name
from aggregators.core.objects import is_remote
from aggregators.core.versions import canonical_version, parse_version, version_sort_key
from aggregators.core.workspace import Workspace
from aggregators.knowledge.security import NOT_ANALYSED
from aggregators.store.locations import open_published
from aggregators.store.snapshots import MANIFEST, Snapshot, SnapshotStore

TABLE = "package_version_security"


@dataclass(frozen=True)
class VersionSecurity:
    """What the snapshot knows about one release, or about a version it does not list.

    ``listed`` is false for a version that is not among the snapshot's PyPI releases of the
    package (there may be none: see :meth:`KnowledgeBase.knows`). Such a version is judged from
    the advisories alone: ``advisory_ids`` and the CVSS fields as for a release, ``fixed_in``
    the lowest later final, non-yanked listed release no active advisory affects, ``yanked``
    false, ``bandit_status`` ``not_analysed``, Scorecard as for the package's releases.
    """

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
    listed: bool = True
    malicious: bool = False
    """A malicious-package record affects this version."""
    malicious_project: bool = False
    """A malicious-package record covers the whole project
    (:mod:`aggregators.knowledge.malicious`)."""
    first_upload: datetime | None = None
    """The project's earliest upload."""
    days_since_previous: float | None = None
    """Days since the upload of the release before this one."""
    fixed_in_from: str = "releases"
    """Where ``fixed_in`` comes from: ``releases`` (the lowest listed release no advisory
    affects) or ``advisories`` (the snapshot has no release list of the package: the lowest
    fixed version the advisories name that none of them affects)."""

    @property
    def vulnerable(self) -> bool:
        """An active advisory affects this version."""
        return bool(self.advisory_ids)

    @property
    def suspect(self) -> bool:
        """Not listed by a malicious record, but a version of a malicious project."""
        return self.malicious_project and not self.malicious

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
            "listed": self.listed,
            "malicious": self.malicious,
            "suspect": self.suspect,
            "malicious_project": self.malicious_project,
            "first_upload": self.first_upload.isoformat() if self.first_upload else None,
            "days_since_previous": self.days_since_previous,
            "fixed_in_from": self.fixed_in_from,
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
        so row groups of other packages are skipped): what a one-off audit needs. Look-ups of
        other packages then answer ``None``.
        """
        self.snapshot = snapshot
        if TABLE not in snapshot.tables:
            raise SnapshotError(f"snapshot {snapshot.id} has no {TABLE} table")
        only = None if packages is None else sorted({normalize_name(p) for p in packages})
        self._only = None if only is None else frozenset(only)
        self._advisories: dict[str, PackageAdvisories | None] = {}  # read lazily, per package
        self._facts: dict[str, AdvisoryFacts] = {}
        self._unlisted: dict[tuple[str, str], VersionSecurity | None] = {}
        self._fixes: dict[str, SafeReleases] = {}
        self._popularity: Popularity | None = None
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
                malicious=columns["malicious"][i],
                malicious_project=columns["malicious_project"][i],
                first_upload=columns["first_upload"][i],
                days_since_previous=columns["days_since_previous"][i],
            )
            self._index[(row.package, columns["version_canonical"][i])] = row
            self._by_package.setdefault(row.package, []).append(row)  # in version order

    @classmethod
    def open(
        cls, location: str | Path | None = None, settings: Settings | None = None
    ) -> KnowledgeBase:
        """Open a snapshot directory, the latest snapshot of a data root, or a published
        location by URL (``s3://bucket/prefix``, ``gs://…``, ``…/snapshots/<id>``: tables are
        downloaded once, verified against the manifest's sha256, and cached under the data
        root). Without ``location``: ``SECKB_SNAPSHOT_URL``, else the store, else the data root
        (settings as the CLI reads them, unless ``settings`` are given)."""
        if location is not None and not is_remote(str(location)):
            path = Path(location)
            if (path / MANIFEST).is_file():
                return cls(SnapshotStore(Workspace(path.parent.parent)).get(path.name))
            snapshot = SnapshotStore(Workspace(path)).latest()
            if snapshot is None:
                raise SeckbError(f"no snapshot in {path}; run 'seckb ingest' first")
            return cls(snapshot)
        found = open_published(settings or load_settings(), str(location) if location else None)
        return cls(found)

    @property
    def popularity(self) -> Popularity:
        """The snapshot's popular projects (read the first time they are needed)."""
        if self._popularity is None:
            self._popularity = read_popularity(self.snapshot)
        return self._popularity

    def is_malicious_project(self, package: str) -> bool:
        """Whether a malicious-package record covers the whole of ``package``
        (:mod:`aggregators.knowledge.malicious`): every version is malicious or suspect."""
        name = normalize_name(package)
        releases = self._by_package.get(name)
        if releases:
            return releases[0].malicious_project
        if self._only is not None and name not in self._only:
            return False
        self._load_advisories({name})
        popular = self.popularity.rank(name) is not None
        return malicious_project(self._advisories.get(name), self._facts, (), popular)

    def knows(self, package: str) -> bool:
        """Whether PyPI releases of ``package`` are in the snapshot."""
        return normalize_name(package) in self._by_package

    def lookup(self, package: str, version: str) -> VersionSecurity | None:
        """The release, matched by PEP 503 name and PEP 440 equality.

        A version the snapshot's releases do not list is judged from the advisories
        (``listed=False``); ``None`` only when nothing is known of the package (no release and
        no advisory), or it is outside the packages this instance was opened with.
        """
        return self.lookup_many([(package, version)])[0]

    def lookup_many(self, pairs: Iterable[tuple[str, str]]) -> list[VersionSecurity | None]:
        """:meth:`lookup` for many pairs, in order."""
        index = self._index
        asked = [(normalize_name(p), v) for p, v in pairs]
        keys = [(p, canonical_version(v)) for p, v in asked]
        found = [index.get(key) for key in keys]
        missing = [i for i, row in enumerate(found) if row is None]
        if missing:
            self._load_advisories({keys[i][0] for i in missing})
            for i in missing:
                found[i] = self._judge_unlisted(keys[i], asked[i][1])
        return found

    def _load_advisories(self, packages: set[str]) -> None:
        """Read, once, the advisory rows of those ``packages`` not read yet."""
        wanted = [
            p
            for p in sorted(packages)
            if p not in self._advisories and (self._only is None or p in self._only)
        ]
        if not wanted:
            return
        found = read_package_advisories(self.snapshot, wanted)
        for package in wanted:
            self._advisories[package] = found.get(package)
        ids = {a for item in found.values() for a in item.ids} - self._facts.keys()
        self._facts.update(read_advisory_facts(self.snapshot, ids))

    def _judge_unlisted(self, key: tuple[str, str], version: str) -> VersionSecurity | None:
        """A version the releases do not list, judged from the advisories (memoized)."""
        if key not in self._unlisted:
            self._unlisted[key] = self._evaluate(key[0], version)
        judged = self._unlisted[key]
        if judged is not None and judged.version != version:
            judged = replace(judged, version=version)  # shown as asked
        return judged

    def _evaluate(self, package: str, version: str) -> VersionSecurity | None:
        """The :class:`VersionSecurity` of an unlisted ``version`` (``None``: nothing known)."""
        if self._only is not None and package not in self._only:
            return None
        named = self._advisories.get(package)
        releases = self._by_package.get(package, [])
        if named is None and not releases:
            return None
        ids = active_affecting(named, self._facts, version)
        score, rating = worst_severity(ids, self._facts)
        parsed = parse_version(version)
        card = releases[0] if releases else None
        whole = (
            card.malicious_project
            if card is not None
            else malicious_project(
                named, self._facts, (), self.popularity.rank(package) is not None
            )
        )
        fixed, fixed_from = None, "releases"
        if ids and releases:
            fixed = self._safe(package, releases).above(version)
        elif ids and named is not None:
            fixed, fixed_from = self._fixed_by_advisories(named, version), "advisories"
        return VersionSecurity(
            package=package,
            version=version,
            advisory_ids=tuple(ids),
            max_cvss_score=score,
            max_cvss_rating=rating,
            fixed_in=fixed,
            fixed_in_from=fixed_from,
            yanked=False,
            is_prerelease=parsed.is_prerelease if parsed is not None else None,
            bandit_status=NOT_ANALYSED,
            bandit_high_findings=None,
            scorecard_score=card.scorecard_score if card else None,
            scorecard_date=card.scorecard_date if card else None,
            listed=False,
            malicious=is_malicious(ids, self._facts),
            malicious_project=whole,
            first_upload=card.first_upload if card else None,
        )

    def _safe(self, package: str, releases: Sequence[VersionSecurity]) -> SafeReleases:
        """The releases of ``package`` a fix may name: final, not yanked, no active advisory,
        not suspect (ordered once per package)."""
        if package not in self._fixes:
            self._fixes[package] = SafeReleases(
                (
                    r.version,
                    not (r.vulnerable or r.suspect or r.yanked) and r.is_prerelease is False,
                )
                for r in releases
            )
        return self._fixes[package]

    def _fixed_by_advisories(self, named: PackageAdvisories, version: str) -> str | None:
        """The lowest ``fixed`` version the advisories name above ``version`` that no active
        advisory affects (for a package without a release list)."""
        parsed = parse_version(version)
        if parsed is None:
            return None
        candidates = {v for versions in named.fixed.values() for v in versions if parse_version(v)}
        for candidate in sorted(candidates, key=version_sort_key):
            above = parse_version(candidate)
            if (
                above is not None
                and above > parsed
                and not active_affecting(named, self._facts, candidate)
            ):
                return candidate
        return None

    def listed(self, package: str, version: str) -> VersionSecurity | None:
        """The listed release ``version`` of ``package`` (PEP 503 name), or ``None``: a probe
        that never reads advisories (:meth:`lookup` judges unlisted versions too)."""
        return self._index.get((package, canonical_version(version)))

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
            elif release.suspect:
                result.skipped.append((release.version, "suspect: a malicious project"))
            else:
                result.version = release.version
                break
        return result

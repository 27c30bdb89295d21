"""``seckb audit``: judge pinned package versions against a snapshot (pure, given its tables).

Every requirement becomes one :class:`AuditRow` with a status:

* ``vulnerable`` — an active advisory affects the version: a listed release, or a version the
  snapshot's PyPI releases do not list (``listed`` false or null, and a note says so), judged
  from the advisories' lists and ranges exactly as ``seckb query`` judges it;
* ``ok`` — the release is listed and no active advisory affects it;
* ``unknown_version`` — the package's releases are known, this version is not among them, and
  no active advisory affects it;
* ``unknown_package`` — the snapshot has no release of the package (no advisory names it and it
  is not on the watchlist, or PyPI was not read), and no active advisory affects the version;
* ``unpinned`` — the requirement names no single version (``flask>=2``);
* ``direct_reference`` — a URL or local path requirement (``pkg @ https://...``, ``./src``):
  there is no version to look up, so it is not checked;
* ``invalid`` — the line or component could not be read (not a requirement, not PEP 440, an
  editable install, an included file that cannot be read...).

An environment marker is kept with its row (``marker``) and never evaluated: a pinned requirement
is audited whatever environment it is meant for.

Nothing is ever passed silently: :func:`fails` decides, per row, whether it breaks the
``--fail-on`` threshold. A vulnerable release fails when its highest CVSS rating reaches the
threshold *or* when one of its advisories has no score at all. The statuses other than ``ok``
and ``vulnerable`` fail too unless ``allow_unknown`` is set.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aggregators.core.versions import parse_version
from aggregators.knowledge.policy import meets_threshold

if TYPE_CHECKING:
    from aggregators.clients.lookup import KnowledgeBase, VersionSecurity
    from aggregators.store.snapshots import Snapshot

THRESHOLDS = ("low", "medium", "high", "critical")
STATUSES = (
    "vulnerable",
    "ok",
    "unknown_version",
    "unknown_package",
    "unpinned",
    "direct_reference",
    "invalid",
)


@dataclass(frozen=True)
class Requirement:
    """One pinned (or not) package to audit, and where it was found."""

    package: str
    version: str | None
    where: str
    problem: str | None = None  # set for ``invalid`` entries: why it could not be read
    reference: str | None = None  # set for ``direct_reference`` entries: what they point at
    marker: str | None = None  # the environment marker as written (never evaluated)


@dataclass
class AuditRow:
    """The verdict on one requirement."""

    package: str
    version: str | None
    where: str
    status: str
    advisories: list[str] = field(default_factory=list)
    unscored_advisories: list[str] = field(default_factory=list)
    max_cvss_score: float | None = None
    max_cvss_rating: str | None = None
    fixed_in: str | None = None
    yanked: bool | None = None
    bandit_status: str | None = None
    bandit_high_findings: int | None = None
    scorecard_score: float | None = None
    listed: bool | None = None  # among the snapshot's PyPI releases; None: not looked up, or
    # the snapshot has no PyPI release list of the package
    marker: str | None = None
    note: str | None = None
    fails: bool = False


def advisory_scores(snapshot: Snapshot) -> dict[str, float | None]:
    """CVSS score of every advisory of ``snapshot`` (``None`` when it has none)."""
    import pyarrow.parquet as pq

    if "advisories" not in snapshot.tables:
        return {}
    table = pq.read_table(snapshot.table_path("advisories"), columns=["id", "cvss_score"])
    return dict(
        zip(table.column("id").to_pylist(), table.column("cvss_score").to_pylist(), strict=True)
    )


def audit(
    requirements: Sequence[Requirement],
    kb: KnowledgeBase,
    scores: Mapping[str, float | None],
) -> list[AuditRow]:
    """One :class:`AuditRow` per requirement, in order (``fails`` is left false)."""
    pinned = [(r.package, r.version) for r in requirements if _looked_up(r) and r.version]
    found = iter(kb.lookup_many(pinned))
    rows: list[AuditRow] = []
    for req in requirements:
        row = AuditRow(
            req.package, req.version, req.where, "invalid", marker=req.marker, note=req.problem
        )
        rows.append(row)
        if req.problem:
            continue
        if req.reference:
            row.status = "direct_reference"
            row.note = req.reference
            continue
        if not req.version:
            row.status = "unpinned"
            row.note = "no single version pinned with =="
            continue
        _judge(row, next(found), kb, scores)
    return rows


def _judge(
    row: AuditRow,
    release: VersionSecurity | None,
    kb: KnowledgeBase,
    scores: Mapping[str, float | None],
) -> None:
    """Fill ``row`` from what the snapshot knows of its pinned version (``release``: a listed
    release, a version judged from the advisories, or ``None`` when nothing is known)."""
    known = kb.knows(row.package)
    pep440 = "" if parse_version(row.version or "") else "not a PEP 440 version: "
    if release is None:
        row.status = "unknown_package"
        row.note = pep440 + "no release of this package in the snapshot and no advisory names it"
        return
    row.listed = True if release.listed else (False if known else None)
    row.advisories = list(release.advisory_ids)
    row.unscored_advisories = [a for a in release.advisory_ids if scores.get(a) is None]
    row.max_cvss_score = release.max_cvss_score
    row.max_cvss_rating = release.max_cvss_rating
    row.fixed_in = release.fixed_in
    row.yanked = release.yanked if release.listed else None
    row.bandit_status = release.bandit_status
    row.bandit_high_findings = release.bandit_high_findings
    row.scorecard_score = release.scorecard_score
    if release.listed:
        row.status = "vulnerable" if release.vulnerable else "ok"
        row.note = "yanked on PyPI" if release.yanked else None
        return
    if release.vulnerable:
        row.status = "vulnerable"
        unlisted = (
            "PyPI does not list this version"
            if known
            else "the snapshot has no PyPI release of this package"
        )
        row.note = f"{pep440}{unlisted}; judged from the advisories' versions and ranges"
    elif known:
        row.status = "unknown_version"
        row.note = f"{pep440}no known advisory affects it, but PyPI does not list it"
    else:
        row.status = "unknown_package"
        row.note = (
            f"{pep440}no known advisory affects it, but the snapshot has no PyPI release of "
            "this package"
        )


def _looked_up(req: Requirement) -> bool:
    return not req.problem and not req.reference


def fails(row: AuditRow, threshold: str, allow_unknown: bool) -> bool:
    """Whether ``row`` breaks ``--fail-on threshold`` (see the module documentation)."""
    if row.status == "ok":
        return False
    if row.status != "vulnerable":
        return not allow_unknown
    if row.unscored_advisories:
        return True  # an advisory without a score meets every threshold
    return meets_threshold(row.max_cvss_rating, threshold)


def mark_failures(rows: Iterable[AuditRow], threshold: str | None, allow_unknown: bool) -> int:
    """Set ``fails`` on every row; return how many fail (always 0 without a threshold)."""
    count = 0
    for row in rows:
        row.fails = threshold is not None and fails(row, threshold, allow_unknown)
        count += row.fails
    return count


def summary(rows: Sequence[AuditRow]) -> dict[str, int]:
    """Rows per status (every status present, zero included), plus ``total`` and ``failing``."""
    counts = Counter(row.status for row in rows)
    result = {status: counts.get(status, 0) for status in STATUSES}
    result["total"] = len(rows)
    result["failing"] = sum(row.fails for row in rows)
    return result

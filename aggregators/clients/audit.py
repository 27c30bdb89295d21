"""``seckb audit``: judge pinned package versions against a snapshot (pure, given its tables).

Every requirement becomes one :class:`AuditRow` with a status:

* ``malicious`` — a malicious-package record affects the version (it must not be installed,
  whatever else is known of it);
* ``vulnerable`` — an active advisory affects the version: a listed release, or a version the
  snapshot's PyPI releases do not list (``listed`` false or null, and a note says so), judged
  from the advisories' lists and ranges exactly as ``seckb query`` judges it;
* ``suspect`` — no record lists the version, but a malicious-package record covers the whole
  project (:mod:`aggregators.knowledge.malicious`); an unpinned or direct-reference requirement
  of such a project is suspect too;
* ``suspicious_name`` — the name looks like a much more popular project's
  (:mod:`aggregators.knowledge.typosquat`) and nothing worse is known; the row's
  ``suspicion`` says which project, by which rule, and both ranks. A row of another status keeps
  its status and carries the suspicion as well;
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
``--fail-on`` threshold. ``malicious`` and ``suspect`` rows fail at every threshold, and no
option lets them through; a ``malicious`` row fails even without a threshold. A vulnerable
release fails when its highest CVSS rating reaches the threshold *or* when one of its advisories
has no score at all. A ``suspicious_name`` fails
unless ``allow_suspicious`` is set; the other statuses (unpinned, direct reference, unknown,
invalid) fail unless ``allow_unknown`` is set.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from aggregators.clients.checks import Checks
from aggregators.core.versions import parse_version
from aggregators.knowledge.policy import meets_threshold
from aggregators.knowledge.signals import Signal, release_signals
from aggregators.knowledge.typosquat import Suspicion

if TYPE_CHECKING:
    from aggregators.clients.lookup import KnowledgeBase, VersionSecurity
    from aggregators.store.snapshots import Snapshot

THRESHOLDS = ("low", "medium", "high", "critical")
STATUSES = (
    "malicious",
    "vulnerable",
    "suspect",
    "suspicious_name",
    "ok",
    "unknown_version",
    "unknown_package",
    "unpinned",
    "direct_reference",
    "invalid",
)


@dataclass(frozen=True)
class AuditOptions:
    """When a row fails: ``--fail-on``, ``--allow-unknown``, ``--allow-suspicious``."""

    fail_on: str | None = None
    allow_unknown: bool = False
    allow_suspicious: bool = False

    def to_json(self) -> dict[str, object]:
        """The options as the documents record them."""
        return {
            "fail_on": self.fail_on,
            "allow_unknown": self.allow_unknown,
            "allow_suspicious": self.allow_suspicious,
        }


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
    fixed_in_from: str = "releases"
    """``advisories`` when ``fixed_in`` comes from the advisories' fixed versions (no release
    list): a version no advisory affects, not a release seen on PyPI."""
    yanked: bool | None = None
    bandit_status: str | None = None
    bandit_high_findings: int | None = None
    scorecard_score: float | None = None
    listed: bool | None = None  # among the snapshot's PyPI releases; None: not looked up, or
    # the snapshot has no PyPI release list of the package
    marker: str | None = None
    note: str | None = None
    suspicion: Suspicion | None = None
    """When the name looks like a more popular project's."""
    signals: list[Signal] = field(default_factory=list)
    """New-release signals (never a status)."""
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
    checks: Checks | None = None,
) -> list[AuditRow]:
    """One :class:`AuditRow` per requirement, in order (``fails`` is left false); names and
    signals are checked with the ``checks`` thresholds (the defaults when ``None``)."""
    checks = checks or Checks()
    now = checks.at()
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
        if req.reference or not req.version:
            row.status = "direct_reference" if req.reference else "unpinned"
            row.note = req.reference or "no single version pinned with =="
            if kb.is_malicious_project(req.package):
                row.status = "suspect"
                row.note = f"a malicious project: no version of it can be trusted; {row.note}"
        else:
            release = next(found)
            _judge(row, release, kb, scores)
            if release is not None:
                row.signals = release_signals(
                    release.first_upload, release.days_since_previous, now, checks.signals
                )
        _check_name(row, kb, checks)
    return rows


SUSPICIOUS = frozenset({"ok", "unknown_version", "unknown_package", "unpinned", "direct_reference"})
"""Statuses a suspicious name replaces (nothing worse is known of the row)."""


def _check_name(row: AuditRow, kb: KnowledgeBase, checks: Checks) -> None:
    """Attach the suspicion on the row's name, and make it the status when nothing worse is
    known."""
    row.suspicion = kb.popularity.check(row.package, checks.names)
    if row.suspicion is not None and row.status in SUSPICIOUS:
        was = row.status.replace("_", " ")
        row.note = "; ".join(p for p in (row.suspicion.message(), f"{was}", row.note) if p)
        row.status = "suspicious_name"


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
    if release.malicious or release.suspect:
        ids = ", ".join(release.advisory_ids)
        row.status = "malicious" if release.malicious else "suspect"
        row.note = (
            f"a malicious-package record names this release ({ids}): do not install it"
            if release.malicious
            else "a malicious project: no record lists this version, and none clears it"
        )
        return
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
        if release.fixed_in_from == "advisories" and release.fixed_in:
            row.fixed_in_from = "advisories"
            row.note += f"; fixed in {release.fixed_in} by the advisories' fixed versions"
    elif known:
        row.status = "unknown_version"
        row.note = f"{pep440}no known advisory affects it, but PyPI does not list it"
    else:
        row.status = "unknown_package"
        row.note = (
            f"{pep440}no known advisory affects it, but the snapshot has no PyPI release of "
            "this package"
        )


def audit_snapshot(
    snapshot: Snapshot,
    requirements: Sequence[Requirement],
    options: AuditOptions,
    checks: Checks,
) -> tuple[list[AuditRow], int, list[str]]:
    """Audit ``requirements`` against ``snapshot`` as ``seckb audit`` does: the rows, how many
    fail ``options``, and the notes on what could not be checked."""
    from aggregators.clients.lookup import KnowledgeBase
    from aggregators.clients.popularity import NOT_CHECKED

    kb = KnowledgeBase(snapshot, {r.package for r in requirements if r.package})
    rows = audit(requirements, kb, advisory_scores(snapshot), checks)
    notes = [] if kb.popularity.known else [NOT_CHECKED]
    return rows, mark_failures(rows, options), notes


def _looked_up(req: Requirement) -> bool:
    return not req.problem and not req.reference


def fails(
    row: AuditRow, threshold: str, allow_unknown: bool, allow_suspicious: bool = False
) -> bool:
    """Whether ``row`` breaks ``--fail-on threshold`` (see the module documentation)."""
    if row.status == "ok":
        return False
    if row.status in ("malicious", "suspect"):
        return True
    if row.status == "suspicious_name":
        return not allow_suspicious
    if row.status != "vulnerable":
        return not allow_unknown
    if row.unscored_advisories:
        return True  # an advisory without a score meets every threshold
    return meets_threshold(row.max_cvss_rating, threshold)


def mark_failures(rows: Iterable[AuditRow], options: AuditOptions) -> int:
    """Set ``fails`` on every row; return how many fail. Without a threshold only a
    ``malicious`` release fails: malware is never a matter of severity."""
    count = 0
    for row in rows:
        row.fails = row.status == "malicious" or (
            options.fail_on is not None
            and fails(row, options.fail_on, options.allow_unknown, options.allow_suspicious)
        )
        count += row.fails
    return count


def summary(rows: Sequence[AuditRow]) -> dict[str, int]:
    """Rows per status (every status present, zero included), plus ``total`` and ``failing``."""
    counts = Counter(row.status for row in rows)
    result = {status: counts.get(status, 0) for status in STATUSES}
    result["total"] = len(rows)
    result["failing"] = sum(row.fails for row in rows)
    return result

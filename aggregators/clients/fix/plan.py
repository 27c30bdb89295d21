"""What ``seckb fix`` reads and proposes (pure): the pins of a file, the changes, what cannot be
fixed and why, and the ``seckb.fix/1`` document.

Changes are grouped by the blocked pin they fix (a forced change belongs to the fix that forced
it) and the groups ordered by advisories removed per changed pin, most first, as a person would
apply them.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from aggregators.knowledge.policy import Verdict

FIX_SCHEMA = "seckb.fix/1"
STRATEGIES = ("in-place", "relax")


@dataclass(frozen=True)
class Pin:
    """One pinned requirement of the input."""

    package: str
    """PEP 503 name."""
    version: str
    origin: str
    """The file the line is in (a ``-r`` include's own path)."""
    line: int
    marker: str | None = None
    hashed: bool = False
    """The line carries ``--hash`` options."""

    @property
    def where(self) -> str:
        """``file:line``."""
        return f"{self.origin}:{self.line}"

    def requirement(self) -> str:
        """The pin's name (and marker) as a requirement uv resolves freely."""
        return f"{self.package} ; {self.marker}" if self.marker else self.package

    def exact(self) -> str:
        """The pin as an exact requirement (``flask==1.1.4 ; marker``)."""
        marker = f" ; {self.marker}" if self.marker else ""
        return f"{self.package}=={self.version}{marker}"


@dataclass(frozen=True)
class Kept:
    """A line a fix does not change (editable, URL or path requirement, unpinned, invalid)."""

    package: str | None
    where: str
    status: str
    note: str


@dataclass(frozen=True)
class FixInput:
    """What a fix starts from."""

    kind: str
    """``requirements`` or ``uv.lock``."""
    path: str
    pins: tuple[Pin, ...]
    kept: tuple[Kept, ...] = ()
    direct: tuple[str, ...] = ()
    """The direct requirements (PEP 508) the pins were resolved from (``relax``); empty: the
    pins' names."""
    direct_source: str | None = None
    notes: tuple[str, ...] = ()
    digests: tuple[tuple[str, str], ...] = ()
    """(file, sha256) of every file read: a file changed on disk meanwhile is never written."""

    @property
    def hashed(self) -> bool:
        """Whether the file pins with hashes (then every changed pin gets new ones)."""
        return any(p.hashed for p in self.pins)


@dataclass(frozen=True)
class AdvisoryRef:
    """An advisory as a plan names it."""

    id: str
    severity: str
    """``High 7.5``, or ``unscored``."""


def advisory_refs(verdict: Verdict) -> tuple[AdvisoryRef, ...]:
    """The blocking advisories of ``verdict`` with their severity."""
    return tuple(
        AdvisoryRef(r.advisory, r.severity or "unscored") for r in verdict.reasons if r.advisory
    )


@dataclass(frozen=True)
class Change:
    """One pin moved, added or removed."""

    package: str
    old: str | None
    """``None``: added (a new dependency)."""
    new: str | None
    """``None``: removed (no longer required)."""
    where: str | None
    kind: str
    """``fix`` (a blocked pin), ``forced`` (moved because a fix needs it), ``added``,
    ``removed``."""
    because: str
    group: str
    """The blocked package whose fix this change belongs to."""
    removes: tuple[AdvisoryRef, ...] = ()
    bandit_status: str | None = None
    scorecard_score: float | None = None


@dataclass(frozen=True)
class Unfixable:
    """A blocked pin left as it is, and why."""

    package: str
    version: str
    where: str
    advisories: tuple[AdvisoryRef, ...]
    reason: str
    """``no_release`` (no release without a blocking advisory), ``conflict`` (uv found none
    that resolves with the rest), ``bound`` (the file's own requirement excludes every
    unblocked release)."""
    message: str


@dataclass(frozen=True)
class Counts:
    """Pins, blocked pins and blocking advisories of a set of pins."""

    pins: int
    blocked: int
    advisories: int


@dataclass
class Plan:
    """The proposal: changes, what cannot be fixed, before and after."""

    strategy: str
    source: FixInput
    changes: list[Change] = field(default_factory=list)
    unfixable: list[Unfixable] = field(default_factory=list)
    accepted: list[dict[str, Any]] = field(default_factory=list)
    """Blocked-by-advisory pins an accepted risk lets through (not changed)."""
    before: Counts = Counts(0, 0, 0)
    after: Counts = Counts(0, 0, 0)
    final: dict[str, str] = field(default_factory=dict)
    """Every pin after the fix (PEP 503 name -> version)."""
    hashes: dict[str, tuple[str, ...]] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)
    index: str = ""
    resolutions: int = 0
    uv: str = ""

    @property
    def needed(self) -> bool:
        """Whether there was anything to fix."""
        return self.before.blocked > 0


def ordered(changes: Sequence[Change]) -> list[Change]:
    """``changes`` grouped by the fix they belong to, groups ordered by advisories removed per
    changed pin (most first), the fix itself first in its group."""
    groups: dict[str, list[Change]] = defaultdict(list)
    for change in changes:
        groups[change.group].append(change)

    def score(name: str) -> tuple[float, int, str]:
        items = groups[name]
        removed = len({a.id for c in items for a in c.removes})
        return (-removed / max(1, len(items)), -removed, name)

    result: list[Change] = []
    for name in sorted(groups, key=score):
        result.extend(sorted(groups[name], key=lambda c: (c.kind != "fix", c.package)))
    return result


def per_pin(changes: Sequence[Change], group: str) -> float:
    """Advisories removed per changed pin by one group of changes."""
    items = [c for c in changes if c.group == group]
    return len({a.id for c in items for a in c.removes}) / max(1, len(items))


def fix_document(
    plan: Plan, snapshot: dict[str, Any], exit_code: int, written: bool
) -> dict[str, Any]:
    """The ``seckb.fix/1`` document of ``plan``."""
    return {
        "schema": FIX_SCHEMA,
        "snapshot": snapshot,
        "source": {
            "kind": plan.source.kind,
            "path": plan.source.path,
            "direct": plan.source.direct_source,
        },
        "strategy": plan.strategy,
        "index": plan.index,
        "exit_code": exit_code,
        "written": written,
        "before": asdict(plan.before),
        "after": asdict(plan.after),
        "changes": [
            {
                **asdict(c),
                "removes": [asdict(a) for a in c.removes],
                "advisories_removed_per_changed_pin": round(per_pin(plan.changes, c.group), 3),
            }
            for c in plan.changes
        ],
        "unfixable": [
            {**asdict(u), "advisories": [asdict(a) for a in u.advisories]} for u in plan.unfixable
        ],
        "accepted": plan.accepted,
        "kept": [asdict(k) for k in plan.source.kept],
        "notes": [*plan.source.notes, *plan.notes],
        "uv": {"version": plan.uv, "resolutions": plan.resolutions},
    }

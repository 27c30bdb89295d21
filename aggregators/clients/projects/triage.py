"""Analysis decisions (triage): who decided what about an advisory in a project, and when.

A decision names an advisory, optionally one package (none: every package of the project the
advisory affects), a state (CycloneDX VEX analysis states: ``in_triage``, ``exploitable``,
``false_positive``, ``not_affected``, ``resolved``), an optional CycloneDX justification, a
reason, an optional end date, who made it and when, and the advisory's ``modified`` time then.
Decisions are only ever appended (an audit trail); the one in force for a finding is the latest
that matches it, as long as

* its date has not come (``until`` 2027-01-31: in force up to 2027-01-30, expired on the 31st),
* and the advisory has not changed since (its ``modified`` time is the one recorded).

``not_affected`` and ``false_positive`` silence a finding: it stops failing ``--fail-on`` and
stops notifying. The other states are recorded and shown, and change nothing.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time
from typing import Any

from aggregators.core.errors import SeckbError
from aggregators.core.names import normalize_name

STATES = ("in_triage", "exploitable", "false_positive", "not_affected", "resolved")
SILENCING = frozenset({"false_positive", "not_affected"})
JUSTIFICATIONS = (
    "code_not_present",
    "code_not_reachable",
    "requires_configuration",
    "requires_dependency",
    "requires_environment",
    "protected_by_compiler",
    "protected_at_runtime",
    "protected_at_perimeter",
    "protected_by_mitigating_control",
)
"""CycloneDX ``analysis.justification`` values."""


class TriageError(SeckbError):
    """A decision that cannot be recorded (unknown state, bad date...)."""


@dataclass(frozen=True)
class Decision:
    """One analysis decision."""

    advisory_id: str
    package: str | None
    state: str
    justification: str | None
    reason: str | None
    until: date | None
    by: str
    at: str
    advisory_modified: str | None
    source: str

    def to_json(self) -> dict[str, Any]:
        """The stored record."""
        return {
            "advisory_id": self.advisory_id,
            "package": self.package,
            "state": self.state,
            "justification": self.justification,
            "reason": self.reason,
            "until": self.until.isoformat() if self.until else None,
            "by": self.by,
            "at": self.at,
            "advisory_modified": self.advisory_modified,
            "source": self.source,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Decision:
        """Read a stored record back."""
        until = data.get("until")
        return cls(
            advisory_id=str(data["advisory_id"]),
            package=data.get("package"),
            state=str(data["state"]),
            justification=data.get("justification"),
            reason=data.get("reason"),
            until=date.fromisoformat(until) if until else None,
            by=str(data.get("by") or "unknown"),
            at=str(data.get("at") or ""),
            advisory_modified=data.get("advisory_modified"),
            source=str(data.get("source") or "cli"),
        )

    @property
    def silences(self) -> bool:
        """Whether the state silences a finding."""
        return self.state in SILENCING

    def expires_at(self) -> datetime | None:
        """The moment the decision stops being in force by its date (``None``: never)."""
        return datetime.combine(self.until, time(0), tzinfo=UTC) if self.until else None

    def lapse(self, now: datetime, modified: str | None) -> str | None:
        """Why the decision is no longer in force (expired, advisory changed), or ``None``."""
        end = self.expires_at()
        if end is not None and now >= end:
            return f"the {self.state} decision expired on {self.until}"
        if self.advisory_modified and modified and modified != self.advisory_modified:
            return f"the advisory changed ({modified}) after the {self.state} decision"
        return None


def parse_until(text: str | None) -> date | None:
    """An ``--until`` date (``YYYY-MM-DD``); raise :class:`TriageError` otherwise."""
    if text is None or not text.strip():
        return None
    try:
        return date.fromisoformat(text.strip())
    except ValueError as exc:
        raise TriageError(f"--until must be a date such as 2027-01-31, not {text!r}") from exc


def make_decision(
    advisory_id: str,
    package: str | None,
    state: str,
    *,
    by: str,
    at: datetime,
    source: str,
    justification: str | None = None,
    reason: str | None = None,
    until: date | None = None,
    advisory_modified: str | None = None,
) -> Decision:
    """A checked decision; raise :class:`TriageError` for an unknown state or justification."""
    if state not in STATES:
        raise TriageError(f"state must be one of {', '.join(STATES)}, not {state!r}")
    if justification is not None and justification not in JUSTIFICATIONS:
        raise TriageError(
            f"justification must be one of {', '.join(JUSTIFICATIONS)}, not {justification!r}"
        )
    return Decision(
        advisory_id=advisory_id.strip(),
        package=normalize_name(package) if package else None,
        state=state,
        justification=justification,
        reason=reason.strip() if reason and reason.strip() else None,
        until=until,
        by=by or "unknown",
        at=at.isoformat(),
        advisory_modified=advisory_modified,
        source=source,
    )


class Decisions:
    """A project's decisions, indexed for finding the one that matches a finding."""

    def __init__(self, records: Iterable[Mapping[str, Any] | Decision]) -> None:
        """Index ``records`` (oldest first)."""
        self.all = [r if isinstance(r, Decision) else Decision.from_json(r) for r in records]
        self._by_id: dict[str, list[tuple[int, Decision]]] = {}
        for position, decision in enumerate(self.all):
            self._by_id.setdefault(decision.advisory_id, []).append((position, decision))

    def latest(self, advisory_id: str, aliases: Sequence[str], package: str) -> Decision | None:
        """The latest decision about ``advisory_id`` (or one of its aliases) for ``package``."""
        if not self._by_id:
            return None
        found: tuple[int, Decision] | None = None
        for key in (advisory_id, *aliases):
            for position, decision in self._by_id.get(key, ()):
                if decision.package in (None, package) and (found is None or position > found[0]):
                    found = (position, decision)
        return found[1] if found else None

    def current(self) -> list[Decision]:
        """The latest decision of each (advisory, package), in the order they were made."""
        latest: dict[tuple[str, str | None], Decision] = {}
        for decision in self.all:
            latest.pop((decision.advisory_id, decision.package), None)
            latest[(decision.advisory_id, decision.package)] = decision
        return list(latest.values())

    def next_expiry(self, now: datetime) -> datetime | None:
        """The next moment a decision in force expires by its date (``None``: none will)."""
        ends = [
            end
            for d in self.current()
            if (end := d.expires_at()) is not None and end > now and d.silences
        ]
        return min(ends) if ends else None

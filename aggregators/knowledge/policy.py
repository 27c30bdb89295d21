"""Whether a release may be installed: the one policy the index, ``audit``, ``fix`` and watched
projects apply (pure: facts and a policy in, a :class:`Verdict` with its reasons out).

A release is **blocked** when

* an active advisory affecting it reaches the severity threshold (``any``, the default, is
  reached by every advisory; an advisory without a CVSS score reaches every threshold, as
  ``audit --fail-on`` rules);
* an advisory affecting it is a malicious-package record, whatever the threshold (never lifted
  by an accepted risk);
* it is a version of a malicious project that no record lists (``suspect``,
  :mod:`aggregators.knowledge.malicious`), whatever the threshold (an accepted risk naming the
  package or the version lifts it);
* optionally, its Bandit analysis has one of the blocking statuses (``partial``...) or more
  high-severity, high-confidence findings than allowed, or its repository's Scorecard score is
  below the minimum.

An **accepted risk** (package, advisory or version, reason, expiry) lifts the reasons it names
until it expires; an expired one stops applying and the verdict says so. What the policy could
not judge (no Bandit analysis, no Scorecard score while a rule asks for one) is a note of the
verdict, never a silent pass.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import date
from typing import Any

from aggregators.core.versions import canonical_version

SEVERITIES = ("any", "low", "medium", "high", "critical")
"""Severity thresholds of the advisory rule, lowest first."""
RATING_LEVEL = {"none": 0, "low": 1, "medium": 2, "high": 3, "critical": 4}
BANDIT_STATUSES = (
    "partial",
    "no_sdist",
    "download_error",
    "unsafe_archive",
    "too_large",
    "timeout",
    "bandit_error",
)
"""Bandit statuses a policy may block on (``scanned`` and ``not_analysed`` never block)."""


def meets_threshold(rating: str | None, threshold: str) -> bool:
    """Whether an advisory rated ``rating`` (``None``: no CVSS score) reaches ``threshold``.

    Every advisory reaches ``any``; an unscored one reaches every threshold; otherwise the
    CVSS rating is compared (an unknown rating word counts as critical)."""
    if threshold == "any" or rating is None:
        return True
    return RATING_LEVEL.get(rating.lower(), 4) >= RATING_LEVEL[threshold]


@dataclass(frozen=True)
class Rules:
    """The blocking rules (settings, or the policy file's ``[rules]``)."""

    severity: str = "any"
    """Advisories at or above this threshold block (``any``: every advisory)."""
    bandit_statuses: tuple[str, ...] = ()
    """Bandit statuses that block (off by default; ``partial`` is the usual one)."""
    bandit_max_high: int | None = None
    """More high-severity, high-confidence findings (outside tests) than this block (off)."""
    scorecard_min: float | None = None
    """A repository Scorecard score below this blocks (off)."""


@dataclass(frozen=True)
class AcceptedRisk:
    """An exception to the policy: what it lifts, why, and until when."""

    package: str
    """PEP 503 name."""
    advisory: str | None
    """An advisory id or alias: only that advisory's reason is lifted."""
    version: str | None
    """A version: only that version's reasons are lifted (with ``advisory``: that advisory on
    that version)."""
    reason: str
    expires: date
    """The last day it applies."""
    where: str = ""
    """Where it was written (``policy.toml: accept #3``)."""

    def covers(self, package: str, version: str) -> bool:
        """Whether it names this release (PEP 503 name, PEP 440 equality)."""
        if package != self.package:
            return False
        return self.version is None or canonical_version(version) == canonical_version(self.version)

    def lifts(self, reason: Reason, names: Sequence[str]) -> bool:
        """Whether it lifts ``reason`` (``names``: the id and aliases of the reason's advisory)."""
        if reason.rule == "malicious":
            return False
        if self.advisory is None:
            return True
        return reason.advisory is not None and self.advisory in names

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict."""
        return {**asdict(self), "expires": self.expires.isoformat()}


@dataclass(frozen=True)
class Policy:
    """The rules and the accepted risks, as one value."""

    rules: Rules = field(default_factory=Rules)
    accepted: tuple[AcceptedRisk, ...] = ()

    def digest(self) -> str:
        """A short digest naming this policy (pages say which policy decided them)."""
        text = json.dumps(
            {"rules": asdict(self.rules), "accepted": [a.to_json() for a in self.accepted]},
            sort_keys=True,
            default=str,
        )
        return hashlib.sha256(text.encode()).hexdigest()[:12]

    def in_force(self, today: date) -> frozenset[int]:
        """Indexes of the accepted risks that still apply on ``today`` (for cache keys)."""
        return frozenset(i for i, a in enumerate(self.accepted) if today <= a.expires)


@dataclass(frozen=True)
class AdvisoryFact:
    """What the policy needs of one active advisory affecting a release."""

    id: str
    aliases: tuple[str, ...] = ()
    score: float | None = None
    rating: str | None = None
    fixed: tuple[str, ...] = ()
    """Its fixed versions for this package, in version order."""
    malicious: bool = False


@dataclass(frozen=True)
class ReleaseFacts:
    """What is known of one release (or of a version no release list has)."""

    package: str
    version: str
    advisories: tuple[AdvisoryFact, ...] = ()
    bandit_status: str | None = None
    """``None``: no Bandit analysis is known (``not_analysed``)."""
    bandit_high: int | None = None
    scorecard_score: float | None = None
    suspect: bool = False
    """A version of a malicious project that no malicious record lists."""


@dataclass(frozen=True)
class Reason:
    """One rule a release breaks."""

    rule: str
    """``advisory``, ``malicious``, ``suspect``, ``bandit_status``, ``bandit_high`` or
    ``scorecard``."""
    text: str
    advisory: str | None = None
    severity: str | None = None
    """For an advisory: ``High 7.5``, ``unscored`` or ``malicious``."""


@dataclass(frozen=True)
class Verdict:
    """The policy's decision on one release, with everything that led to it."""

    package: str
    version: str
    blocked: bool
    reasons: tuple[Reason, ...] = ()
    """What blocks it (empty when allowed)."""
    accepted: tuple[tuple[Reason, AcceptedRisk], ...] = ()
    """Reasons an accepted risk lifted, with the risk."""
    expired: tuple[AcceptedRisk, ...] = ()
    """Accepted risks naming this release that no longer apply."""
    below_threshold: tuple[str, ...] = ()
    """Advisories that affect it but do not reach the severity threshold."""
    notes: tuple[str, ...] = ()
    """What the policy could not judge."""

    @property
    def malicious(self) -> bool:
        """A malicious-package record names this release."""
        return any(r.rule == "malicious" for r in self.reasons)

    @property
    def suspect(self) -> bool:
        """A version of a malicious project no record lists (and no accepted risk lifts)."""
        return any(r.rule == "suspect" for r in self.reasons)

    @property
    def advisories(self) -> tuple[str, ...]:
        """The advisories among the blocking reasons."""
        return tuple(r.advisory for r in self.reasons if r.advisory)

    def message(self, limit: int = 400) -> str:
        """The reasons in one line of at most ``limit`` characters (a yank reason)."""
        texts = [r.text for r in self.reasons]
        line = "; ".join(texts)
        if len(line) <= limit:
            return line
        for keep in range(len(texts) - 1, 0, -1):
            line = "; ".join(texts[:keep]) + f"; and {len(texts) - keep} more"
            if len(line) <= limit:
                return line
        return line[: limit - 1] + "…"

    def to_json(self) -> dict[str, Any]:
        """A JSON-ready dict (``seckb.policy/1`` verdicts)."""
        return {
            "version": self.version,
            "verdict": "blocked" if self.blocked else "allowed",
            "malicious": self.malicious,
            "suspect": self.suspect,
            "reasons": [asdict(r) for r in self.reasons],
            "accepted": [
                {**asdict(reason), "accepted_risk": risk.to_json()}
                for reason, risk in self.accepted
            ],
            "expired_accepted_risks": [risk.to_json() for risk in self.expired],
            "below_threshold": list(self.below_threshold),
            "notes": list(self.notes),
        }


SUSPECT = Reason(
    "suspect",
    "suspect: a version of a malicious project (a malicious-package record covers every "
    "version, and none lists this one)",
)


def _severity_text(fact: AdvisoryFact) -> str:
    if fact.score is None:
        return "unscored"
    return f"{fact.rating or 'CVSS'} {fact.score:g}"


def _advisory_reason(fact: AdvisoryFact) -> Reason:
    fixed = f", fixed in {', '.join(fact.fixed)}" if fact.fixed else ", no fixed version"
    if fact.malicious:
        return Reason("malicious", f"{fact.id}: malicious package", fact.id, "malicious")
    severity = _severity_text(fact)
    return Reason("advisory", f"{fact.id} ({severity}{fixed})", fact.id, severity)


def _rule_reasons(facts: ReleaseFacts, rules: Rules) -> tuple[list[Reason], list[str]]:
    reasons: list[Reason] = []
    notes: list[str] = []
    status = facts.bandit_status
    if rules.bandit_statuses or rules.bandit_max_high is not None:
        if status is None or status == "not_analysed":
            notes.append("bandit: not analysed (the Bandit rules could not be applied)")
        elif status in rules.bandit_statuses:
            reasons.append(Reason("bandit_status", f"bandit: {status}"))
        if (
            rules.bandit_max_high is not None
            and facts.bandit_high is not None
            and facts.bandit_high > rules.bandit_max_high
        ):
            reasons.append(
                Reason(
                    "bandit_high",
                    f"bandit: {facts.bandit_high} high-severity finding(s) "
                    f"(at most {rules.bandit_max_high} allowed)",
                )
            )
    if rules.scorecard_min is not None:
        if facts.scorecard_score is None:
            notes.append(
                "scorecard: no score for the repository (the Scorecard rule was not applied)"
            )
        elif facts.scorecard_score < rules.scorecard_min:
            reasons.append(
                Reason(
                    "scorecard",
                    f"scorecard: repository score {facts.scorecard_score:g} "
                    f"(below {rules.scorecard_min:g})",
                )
            )
    return reasons, notes


def judge(facts: ReleaseFacts, policy: Policy, today: date) -> Verdict:
    """The verdict of ``policy`` on the release ``facts`` describe, on ``today``."""
    reasons: list[Reason] = []
    below: list[str] = []
    names: dict[str, tuple[str, ...]] = {}
    for fact in facts.advisories:
        names[fact.id] = (fact.id, *fact.aliases)
        if fact.malicious or meets_threshold(
            fact.rating if fact.score is not None else None, policy.rules.severity
        ):
            reasons.append(_advisory_reason(fact))
        else:
            below.append(fact.id)
    if facts.suspect:
        reasons.append(SUSPECT)
    extra, notes = _rule_reasons(facts, policy.rules)
    reasons.extend(extra)
    risks = [a for a in policy.accepted if a.covers(facts.package, facts.version)]
    live = [a for a in risks if today <= a.expires]
    expired = tuple(a for a in risks if today > a.expires)
    kept: list[Reason] = []
    lifted: list[tuple[Reason, AcceptedRisk]] = []
    for reason in reasons:
        risk = next(
            (a for a in live if a.lifts(reason, names.get(reason.advisory or "", ()))), None
        )
        if risk is None:
            kept.append(reason)
        else:
            lifted.append((reason, risk))
    if any(r.rule == "malicious" for r in kept) and any(a.advisory is None for a in live):
        notes.append("an accepted risk never lifts a malicious-package record")
    return Verdict(
        facts.package,
        facts.version,
        bool(kept),
        tuple(kept),
        tuple(lifted),
        expired,
        tuple(below),
        tuple(notes),
    )

"""The policy's verdicts on the versions of one served snapshot (memoized per snapshot and
policy): the facts of each version gathered from the :class:`View`, then
:func:`aggregators.knowledge.policy.judge`.

Which advisories affect a version is the rule every client shares (:meth:`View.affecting`: a
listed release by its knowledge row, any other version from the advisories' lists and ranges),
so a version no release list has is judged too: "unknown to PyPI" is never "allowed by default".
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from aggregators.clients.evaluation import malicious_project
from aggregators.clients.server.view import BoundedCache, View
from aggregators.core.versions import canonical_version
from aggregators.knowledge.policy import AdvisoryFact, Policy, Reason, ReleaseFacts, Verdict, judge

TRACKED, ADVISORIES_ONLY, UNKNOWN = "tracked", "advisories", "unknown"
"""What seckb knows of a package: its PyPI releases (and advisories, if any); only advisories
naming it; nothing (its pages pass through unchanged)."""


def knowledge_of(view: View, package: str) -> str:
    """:data:`TRACKED`, :data:`ADVISORIES_ONLY` or :data:`UNKNOWN`."""
    if view.kb is not None and view.kb.knows(package):
        return TRACKED
    return ADVISORIES_ONLY if view.knows(package) else UNKNOWN


def release_facts(view: View, package: str, version: str) -> ReleaseFacts:
    """What ``view`` knows of ``version`` of ``package`` (PEP 503 name)."""
    named = view.advisories.get(package)
    advisories = []
    for advisory_id in view.affecting(package, version):
        fact = view.facts.get(advisory_id)
        advisories.append(
            AdvisoryFact(
                advisory_id,
                fact.aliases if fact else (),
                fact.cvss_score if fact else None,
                fact.cvss_rating if fact else None,
                tuple(named.fixed.get(advisory_id, ())) if named else (),
                fact.malicious if fact else False,
            )
        )
    release = view.kb.listed(package, version) if view.kb is not None else None
    score = release.scorecard_score if release is not None else None
    if release is None and view.kb is not None:
        known = view.kb.versions(package)
        score = known[0].scorecard_score if known else None
    return ReleaseFacts(
        package,
        version,
        tuple(advisories),
        release.bandit_status if release is not None else None,
        release.bandit_high_findings if release is not None else None,
        score,
        _suspect(view, package, advisories),
    )


def _suspect(view: View, package: str, advisories: list[AdvisoryFact]) -> bool:
    """Whether the version is a suspect version of a malicious project (not itself listed by
    a malicious record)."""
    if any(a.malicious for a in advisories):
        return False
    if view.kb is None:  # no knowledge table: no release list, no popularity
        return malicious_project(view.advisories.get(package), view.facts, (), False)
    return view.kb.is_malicious_project(package)


UNREADABLE = Reason(
    "file_version",
    "seckb cannot tell this file's version from its name, and advisories name the package",
)


@dataclass(frozen=True)
class Judge:
    """Verdicts of one policy on one snapshot, memoized (thread-safe)."""

    view: View
    policy: Policy
    today: date
    cache: BoundedCache[Verdict]

    @classmethod
    def of(cls, view: View, policy: Policy, today: date) -> Judge:
        """A judge with an empty memo."""
        return cls(view, policy, today, BoundedCache(100_000))

    def verdict(self, package: str, version: str | None) -> Verdict:
        """The verdict on ``version`` of ``package``; a file whose version cannot be told
        (``None``) is blocked when any advisory names the package, allowed otherwise."""
        if version is None:
            blocked = self.view.knows(package)
            return Verdict(package, "", blocked, (UNREADABLE,) if blocked else ())
        key = (package, canonical_version(version))
        found = self.cache.get(key)
        if found is None:
            found = judge(release_facts(self.view, package, version), self.policy, self.today)
            self.cache.put(key, found)
        return found

"""The policy: which releases may be installed, and why (pure)."""

from __future__ import annotations

import tomllib
from datetime import date

import pytest

from aggregators.core.errors import ConfigError
from aggregators.knowledge.policy import (
    AcceptedRisk,
    AdvisoryFact,
    Policy,
    ReleaseFacts,
    Rules,
    judge,
    meets_threshold,
)
from aggregators.knowledge.policy_file import policy_from_document

TODAY = date(2026, 12, 6)
HIGH = AdvisoryFact("GHSA-high", ("CVE-2024-1",), 7.5, "High", ("1.2",))
LOW = AdvisoryFact("PYSEC-low", (), 2.0, "Low", ())
UNSCORED = AdvisoryFact("PYSEC-unscored", ("CVE-2024-2",), None, None, ("2.1",))
MALICIOUS = AdvisoryFact("MAL-2024-1", (), None, None, (), malicious=True)


def facts(*advisories: AdvisoryFact, **extra: object) -> ReleaseFacts:
    return ReleaseFacts("demo", "1.0", tuple(advisories), **extra)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("rating", "threshold", "meets"),
    [
        ("Low", "any", True),
        ("None", "any", True),
        ("None", "low", False),
        ("Low", "medium", False),
        ("High", "high", True),
        ("Critical", "high", True),
        (None, "critical", True),  # unscored reaches every threshold
        ("Weird", "critical", True),  # an unknown rating counts as critical
    ],
)
def test_thresholds(rating: str | None, threshold: str, meets: bool) -> None:
    assert meets_threshold(rating, threshold) is meets


def test_any_active_advisory_blocks_by_default() -> None:
    verdict = judge(facts(LOW), Policy(), TODAY)
    assert verdict.blocked and verdict.advisories == ("PYSEC-low",)
    assert verdict.message() == "PYSEC-low (Low 2, no fixed version)"
    assert not judge(facts(), Policy(), TODAY).blocked


def test_the_threshold_keeps_lower_advisories_visible() -> None:
    policy = Policy(Rules(severity="high"))
    verdict = judge(facts(LOW), policy, TODAY)
    assert not verdict.blocked and verdict.below_threshold == ("PYSEC-low",)
    assert judge(facts(LOW, UNSCORED), policy, TODAY).advisories == ("PYSEC-unscored",)
    assert judge(facts(HIGH), policy, TODAY).message() == "GHSA-high (High 7.5, fixed in 1.2)"


def test_malicious_blocks_at_every_threshold_and_no_accepted_risk_lifts_it() -> None:
    accept = AcceptedRisk("demo", None, "1.0", "we trust it", date(2030, 1, 1))
    by_id = AcceptedRisk("demo", "MAL-2024-1", None, "we trust it", date(2030, 1, 1))
    verdict = judge(facts(MALICIOUS), Policy(Rules(severity="critical"), (accept, by_id)), TODAY)
    assert verdict.blocked and verdict.malicious
    assert verdict.accepted == ()
    assert "never lifts a malicious" in " ".join(verdict.notes)


def test_accepted_risks_lift_by_alias_and_expire() -> None:
    alias = AcceptedRisk("demo", "CVE-2024-1", None, "not reachable", date(2026, 12, 6))
    verdict = judge(facts(HIGH), Policy(accepted=(alias,)), TODAY)
    assert not verdict.blocked
    ((reason, risk),) = verdict.accepted
    assert reason.advisory == "GHSA-high" and risk.reason == "not reachable"
    later = judge(facts(HIGH), Policy(accepted=(alias,)), date(2026, 12, 7))
    assert later.blocked and later.expired == (alias,)  # the day after expiry: it says so


def test_an_advisory_risk_lifts_only_that_advisory() -> None:
    accept = AcceptedRisk("demo", "GHSA-high", None, "r", date(2030, 1, 1))
    verdict = judge(facts(HIGH, UNSCORED), Policy(accepted=(accept,)), TODAY)
    assert verdict.blocked and verdict.advisories == ("PYSEC-unscored",)


def test_a_version_risk_lifts_every_reason_of_that_version_only() -> None:
    accept = AcceptedRisk("demo", None, "1.0.0", "pinned by vendor", date(2030, 1, 1))
    assert not judge(facts(HIGH, UNSCORED), Policy(accepted=(accept,)), TODAY).blocked
    other = ReleaseFacts("demo", "1.1", (HIGH,))
    assert judge(other, Policy(accepted=(accept,)), TODAY).blocked
    stranger = ReleaseFacts("other", "1.0", (HIGH,))
    assert judge(stranger, Policy(accepted=(accept,)), TODAY).blocked


def test_bandit_and_scorecard_rules_are_off_by_default_and_say_what_they_could_not_judge() -> None:
    release = facts(bandit_status="partial", bandit_high=9, scorecard_score=1.0)
    assert not judge(release, Policy(), TODAY).blocked
    rules = Rules(bandit_statuses=("partial",), bandit_max_high=2, scorecard_min=4.0)
    verdict = judge(release, Policy(rules), TODAY)
    assert [r.rule for r in verdict.reasons] == ["bandit_status", "bandit_high", "scorecard"]
    unknown = judge(facts(bandit_status=None, scorecard_score=None), Policy(rules), TODAY)
    assert not unknown.blocked
    assert len(unknown.notes) == 2  # not analysed; no score: said, not passed silently


def test_a_long_reason_is_cut_to_fit() -> None:
    many = [AdvisoryFact(f"PYSEC-2024-{i}", (), 9.8, "Critical", ("9.9",)) for i in range(40)]
    message = judge(facts(*many), Policy(), TODAY).message(limit=200)
    assert len(message) <= 200 and message.endswith("more")


POLICY_FILE = """
[rules]
severity = "medium"
bandit_statuses = ["partial", "unsafe_archive"]

[[accept]]
package = "Django"
advisory = "CVE-2024-1"
reason = "feature not used"
expires = 2027-01-31

[[accept]]
package = "flask"
version = "0.12.2"
reason = "legacy service, isolated"
expires = 2027-01-31T00:00:00Z
"""


def test_a_policy_file() -> None:
    policy = policy_from_document(tomllib.loads(POLICY_FILE), "policy.toml", Rules())
    assert policy.rules == Rules("medium", ("partial", "unsafe_archive"))
    django, flask = policy.accepted
    assert (django.package, django.advisory, django.expires) == (
        "django",
        "CVE-2024-1",
        date(2027, 1, 31),
    )
    assert (flask.version, flask.expires) == ("0.12.2", date(2027, 1, 31))
    assert flask.where == "policy.toml: accept #2"
    assert policy.digest() != Policy().digest()


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        ("[rulez]\n", "unknown section"),
        ('[rules]\nseverity = "severe"\n', "severity must be one of"),
        ('[rules]\nbandit_statuses = ["scanned"]\n', "cannot block"),
        ("[rules]\nbandit_max_high = -3\n", "bandit_max_high"),
        ("[rules]\nscorecard_min = 11\n", "scorecard_min"),
        ("[rules]\ncolour = 1\n", "unknown rule"),
        ('[[accept]]\nadvisory = "X"\nreason = "r"\nexpires = 2027-01-01\n', "'package'"),
        ('[[accept]]\npackage = "a"\nreason = "r"\nexpires = 2027-01-01\n', "advisory"),
        (
            '[[accept]]\npackage = "a"\nversion = "not a version"\nreason = "r"\n'
            "expires = 2027-01-01\n",
            "PEP 440",
        ),
        ('[[accept]]\npackage = "a"\nadvisory = "X"\nexpires = 2027-01-01\n', "'reason'"),
        ('[[accept]]\npackage = "a"\nadvisory = "X"\nreason = "r"\n', "'expires'"),
        (
            '[[accept]]\npackage = "a"\nadvisory = "X"\nreason = "r"\nexpires = "soon"\n',
            "'expires'",
        ),
        (
            '[[accept]]\npackage = "a"\nadvisory = "X"\nreason = "r"\nexpires = 2027-01-01\n'
            "x = 1\n",
            "unknown key",
        ),
        ('accept = "everything"\n', "array of tables"),
    ],
)
def test_a_broken_policy_file_names_the_problem(text: str, problem: str) -> None:
    with pytest.raises(ConfigError, match=problem):
        policy_from_document(tomllib.loads(text), "policy.toml", Rules())

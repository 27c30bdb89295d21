"""Reading a policy file (pure: the parsed TOML document in, a :class:`Policy` out).

    [rules]                                  # optional: over the settings' rules
    severity = "high"                        # any, low, medium, high, critical
    bandit_statuses = ["partial"]
    bandit_max_high = 0
    scorecard_min = 4.0

    [[accept]]                               # accepted risks
    package = "django"
    advisory = "GHSA-2gwj-7jmv-h26r"         # an id or an alias; or version = "3.2.18"; or both
    reason = "the affected feature is not used"
    expires = 2027-03-31                     # the last day it applies

Every mistake is a :class:`ConfigError` naming the file and the entry.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from aggregators.core.errors import ConfigError
from aggregators.core.names import normalize_name
from aggregators.core.versions import parse_version
from aggregators.knowledge.policy import BANDIT_STATUSES, SEVERITIES, AcceptedRisk, Policy, Rules


def _rules_from(data: Mapping[str, Any], where: str, base: Rules) -> Rules:
    known = {"severity", "bandit_statuses", "bandit_max_high", "scorecard_min"}
    unknown = sorted(set(data) - known)
    if unknown:
        raise ConfigError(f"{where}: unknown rule(s) {', '.join(unknown)}")
    rules = Rules(
        severity=str(data.get("severity", base.severity)),
        bandit_statuses=tuple(data.get("bandit_statuses", base.bandit_statuses)),
        bandit_max_high=data.get("bandit_max_high", base.bandit_max_high),
        scorecard_min=data.get("scorecard_min", base.scorecard_min),
    )
    return check_rules(rules, where)


def check_rules(rules: Rules, where: str) -> Rules:
    """``rules`` when valid; :class:`ConfigError` naming ``where`` otherwise."""
    if rules.severity not in SEVERITIES:
        raise ConfigError(
            f"{where}: severity must be one of {', '.join(SEVERITIES)}, not {rules.severity!r}"
        )
    for status in rules.bandit_statuses:
        if status not in BANDIT_STATUSES:
            raise ConfigError(
                f"{where}: bandit status {status!r} cannot block; "
                f"choose among {', '.join(BANDIT_STATUSES)}"
            )
    high = rules.bandit_max_high
    if high is not None and (isinstance(high, bool) or not isinstance(high, int) or high < 0):
        raise ConfigError(f"{where}: bandit_max_high must be a number of findings (0 or more)")
    card = rules.scorecard_min
    if card is not None and (
        isinstance(card, bool) or not isinstance(card, int | float) or not 0 <= card <= 10
    ):
        raise ConfigError(f"{where}: scorecard_min must be a score between 0 and 10")
    return rules


def _accepted_from(item: Any, where: str) -> AcceptedRisk:
    if not isinstance(item, Mapping):
        raise ConfigError(f"{where}: an accepted risk must be a table")
    unknown = sorted(set(item) - {"package", "advisory", "version", "reason", "expires"})
    if unknown:
        raise ConfigError(f"{where}: unknown key(s) {', '.join(unknown)}")
    package, reason, expires = item.get("package"), item.get("reason"), item.get("expires")
    advisory, version = item.get("advisory"), item.get("version")
    if not isinstance(package, str) or not package.strip():
        raise ConfigError(f"{where}: 'package' (a project name) is required")
    if advisory is None and version is None:
        raise ConfigError(f"{where}: name an 'advisory' (id or alias) or a 'version', or both")
    if advisory is not None and (not isinstance(advisory, str) or not advisory.strip()):
        raise ConfigError(f"{where}: 'advisory' must be an advisory id or alias")
    if version is not None and (not isinstance(version, str) or parse_version(version) is None):
        raise ConfigError(f"{where}: 'version' must be a PEP 440 version, not {version!r}")
    if not isinstance(reason, str) or not reason.strip():
        raise ConfigError(f"{where}: 'reason' is required: say why the risk is accepted")
    if not isinstance(expires, date):
        raise ConfigError(f"{where}: 'expires' must be a TOML date (expires = 2027-01-31)")
    day = expires if type(expires) is date else expires.date()  # type: ignore[attr-defined]
    return AcceptedRisk(
        normalize_name(package.strip()),
        advisory.strip() if advisory else None,
        version,
        reason.strip(),
        day,
        where,
    )


def policy_from_document(data: Mapping[str, Any], where: str, base: Rules) -> Policy:
    """The policy a parsed policy file describes (pure): its ``[rules]`` over ``base`` (the
    settings' rules) and its ``[[accept]]`` entries; :class:`ConfigError` naming the file and
    entry when something is wrong."""
    unknown = sorted(set(data) - {"rules", "accept"})
    if unknown:
        raise ConfigError(f"{where}: unknown section(s) {', '.join(unknown)} (rules, accept)")
    rules_data = data.get("rules", {})
    if not isinstance(rules_data, Mapping):
        raise ConfigError(f"{where}: [rules] must be a table")
    entries = data.get("accept", [])
    if not isinstance(entries, list):
        raise ConfigError(f"{where}: accept must be an array of tables ([[accept]])")
    accepted = tuple(
        _accepted_from(item, f"{where}: accept #{i}") for i, item in enumerate(entries, 1)
    )
    return Policy(_rules_from(rules_data, where, base), accepted)

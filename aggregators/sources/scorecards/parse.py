"""Normalize one Scorecard API answer into rows (pure).

The answer: ``date`` (``YYYY-MM-DD`` or RFC 3339), ``repo{name, commit}``,
``scorecard{version, commit}``, ``score`` and ``checks[]{name, score, reason, details,
documentation{short, url}}``. A check score of -1 means inconclusive: stored as NULL with a flag.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from aggregators.core.clock import parse_timestamp

# Risk of each check as Scorecard documents it (docs/checks/internal/checks.yaml).
CHECK_RISK = {
    "Binary-Artifacts": "High",
    "Branch-Protection": "High",
    "CI-Tests": "Low",
    "CII-Best-Practices": "Low",
    "Code-Review": "High",
    "Contributors": "Low",
    "Dangerous-Workflow": "Critical",
    "Dependency-Update-Tool": "High",
    "Fuzzing": "Medium",
    "License": "Low",
    "Maintained": "High",
    "Packaging": "Medium",
    "Pinned-Dependencies": "Medium",
    "SAST": "Medium",
    "SBOM": "Medium",
    "Security-Policy": "Medium",
    "Signed-Releases": "High",
    "Token-Permissions": "High",
    "Vulnerabilities": "High",
    "Webhooks": "Critical",
}


class ScorecardError(ValueError):
    """The answer does not have the documented shape."""


@dataclass
class Scorecard:
    """The ``scorecards`` row fields and the ``scorecard_checks`` rows of one answer."""

    result: dict[str, Any]
    checks: list[dict[str, Any]]


def _text(value: Any, what: str, required: bool = False) -> str | None:
    if value is None and not required:
        return None
    if not isinstance(value, str):
        raise ScorecardError(f"{what} is not text: {value!r:.40}")
    return value


def _score(value: Any, what: str) -> float | None:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ScorecardError(f"{what} is not a number: {value!r:.40}")
    if value == -1:
        return None
    if not 0 <= value <= 10:
        raise ScorecardError(f"{what} out of range: {value}")
    return float(value)


def _check(repository: str, index: int, check: Any) -> dict[str, Any]:
    """One ``scorecard_checks`` row; raise :class:`ScorecardError` if malformed."""
    if not isinstance(check, dict):
        raise ScorecardError(f"checks[{index}] is not an object")
    name = _text(check.get("name"), f"checks[{index}].name", required=True)
    assert name is not None
    check_score = _score(check.get("score"), f"{name} score")
    details = check.get("details")
    if details is not None and not (
        isinstance(details, list) and all(isinstance(d, str) for d in details)
    ):
        raise ScorecardError(f"{name} details is not a list of text")
    documentation = check.get("documentation")
    doc_url = documentation.get("url") if isinstance(documentation, dict) else None
    return {
        "repository": repository,
        "check": name,
        "score": check_score,
        "inconclusive": check_score is None,
        "reason": _text(check.get("reason"), f"{name} reason"),
        "details": details,
        "documentation_url": doc_url if isinstance(doc_url, str) else None,
        "risk": CHECK_RISK.get(name),
    }


def parse_scorecard(
    document: Any, repository: str, now: datetime, stale_after: timedelta
) -> Scorecard:
    """Rows for one answer about ``repository``; raise :class:`ScorecardError` if malformed."""
    if not isinstance(document, dict):
        raise ScorecardError("answer is not a JSON object")
    try:
        date_text = _text(document.get("date"), "date", required=True)
        assert date_text is not None
        result_date = parse_timestamp(date_text)
    except (ValueError, OverflowError) as exc:
        raise ScorecardError(f"date is not a date: {document.get('date')!r:.40}") from exc
    repo: dict[str, Any] = document["repo"] if isinstance(document.get("repo"), dict) else {}
    tool: dict[str, Any] = (
        document["scorecard"] if isinstance(document.get("scorecard"), dict) else {}
    )
    if "score" not in document:
        raise ScorecardError("answer has no score")
    score = _score(document["score"], "score")
    raw_checks = document.get("checks")
    if not isinstance(raw_checks, list):
        raise ScorecardError("checks is not a list")
    checks = [_check(repository, i, check) for i, check in enumerate(raw_checks)]
    return Scorecard(
        result={
            "status": "ok",
            "reason": None,
            "result_date": result_date.astimezone(UTC),
            "repo_name": _text(repo.get("name"), "repo.name"),
            "repo_commit": _text(repo.get("commit"), "repo.commit"),
            "scorecard_version": _text(tool.get("version"), "scorecard.version"),
            "scorecard_commit": _text(tool.get("commit"), "scorecard.commit"),
            "score": score,
            "stale": now - result_date > stale_after,
        },
        checks=checks,
    )

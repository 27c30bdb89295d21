"""CVSS vectors to base score and rating, through the maintained ``cvss`` library."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from cvss import CVSS2, CVSS3, CVSS4
from cvss.exceptions import CVSSError

# Newest standard first: when an advisory carries several vectors, the newest one scores it.
_PREFERENCE = ("CVSS_V4", "CVSS_V3", "CVSS_V2")


@dataclass(frozen=True)
class Severity:
    """The severity chosen for an advisory."""

    type: str
    vector: str
    score: float | None
    rating: str | None


def _rating_v2(score: float) -> str:
    """NVD's qualitative scale for CVSS v2 (the v2 standard itself defines none)."""
    if score >= 7.0:
        return "High"
    if score >= 4.0:
        return "Medium"
    return "Low"


def score_vector(kind: str, vector: str) -> tuple[float, str]:
    """Return ``(base score, rating)`` for one vector; raise ``ValueError`` if it is invalid."""
    try:
        if kind == "CVSS_V3":
            v3 = CVSS3(vector)
            return float(v3.base_score), str(v3.severities()[0])
        if kind == "CVSS_V4":
            v4 = CVSS4(vector)
            return float(v4.base_score), str(v4.severity)
        if kind == "CVSS_V2":
            score = float(CVSS2(vector).base_score)
            return score, _rating_v2(score)
    except CVSSError as exc:
        raise ValueError(f"invalid {kind} vector {vector!r}: {exc}") from exc
    raise ValueError(f"unsupported severity type {kind!r}")


def choose_severity(entries: Sequence[Any]) -> tuple[Severity | None, list[str]]:
    """Pick and score the preferred severity of an OSV ``severity`` list.

    Returns the severity (``None`` when there is none) and a list of warnings for entries that
    could not be read. An invalid preferred vector keeps its type and vector with a NULL score.
    """
    warnings: list[str] = []
    candidates: dict[str, str] = {}
    for entry in entries:
        if not isinstance(entry, dict):
            warnings.append(f"severity entry is not a mapping: {entry!r:.80}")
            continue
        kind, vector = entry.get("type"), entry.get("score")
        if not isinstance(kind, str) or not isinstance(vector, str):
            warnings.append(f"severity entry without type and score: {entry!r:.80}")
            continue
        if kind not in _PREFERENCE:
            warnings.append(f"unsupported severity type {kind!r}")
            continue
        candidates.setdefault(kind, vector.strip())
    for kind in _PREFERENCE:
        if kind in candidates:
            vector = candidates[kind]
            try:
                score, rating = score_vector(kind, vector)
            except ValueError as exc:
                warnings.append(str(exc))
                return Severity(kind, vector, None, None), warnings
            return Severity(kind, vector, score, rating), warnings
    return None, warnings

"""Severity choice and scoring: ``choose_severity`` and ``score_vector``."""

from __future__ import annotations

import pytest

from aggregators.sources.advisories.severity import Severity, choose_severity, score_vector

V4 = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N"  # 9.3 Critical
V4_MEDIUM = "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:L/VI:N/VA:N/SC:N/SI:N/SA:N"  # 6.9 Medium
V3 = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"  # 9.8 Critical
V3_MEDIUM = "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:U/C:L/I:N/A:N"  # 4.3 Medium
V2 = "AV:N/AC:L/Au:N/C:P/I:P/A:P"  # 7.5 High


def sev(kind: str, vector: str) -> dict[str, str]:
    return {"type": kind, "score": vector}


# --- preference ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "entries",
    [
        [sev("CVSS_V2", V2), sev("CVSS_V3", V3), sev("CVSS_V4", V4)],
        [sev("CVSS_V4", V4), sev("CVSS_V3", V3), sev("CVSS_V2", V2)],
        [sev("CVSS_V3", V3), sev("CVSS_V4", V4)],
    ],
)
def test_v4_preferred_over_v3_and_v2(entries: list[dict[str, str]]) -> None:
    severity, warnings = choose_severity(entries)
    assert severity == Severity("CVSS_V4", V4, 9.3, "Critical")
    assert warnings == []


@pytest.mark.parametrize(
    "entries",
    [
        [sev("CVSS_V2", V2), sev("CVSS_V3", V3)],
        [sev("CVSS_V3", V3), sev("CVSS_V2", V2)],
    ],
)
def test_v3_preferred_over_v2(entries: list[dict[str, str]]) -> None:
    severity, warnings = choose_severity(entries)
    assert severity == Severity("CVSS_V3", V3, 9.8, "Critical")
    assert warnings == []


def test_v2_alone_is_scored_on_the_nvd_scale() -> None:
    severity, warnings = choose_severity([sev("CVSS_V2", V2)])
    assert severity == Severity("CVSS_V2", V2, 7.5, "High")
    assert warnings == []


def test_first_vector_of_a_kind_wins() -> None:
    severity, _ = choose_severity([sev("CVSS_V3", V3_MEDIUM), sev("CVSS_V3", V3)])
    assert severity is not None
    assert (severity.vector, severity.score, severity.rating) == (V3_MEDIUM, 4.3, "Medium")


def test_vector_whitespace_is_stripped() -> None:
    severity, warnings = choose_severity([sev("CVSS_V3", f"  {V3}\n")])
    assert severity == Severity("CVSS_V3", V3, 9.8, "Critical")
    assert warnings == []


def test_no_entries_no_severity() -> None:
    assert choose_severity([]) == (None, [])


# --- ratings ------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "vector", "score", "rating"),
    [
        ("CVSS_V2", "AV:N/AC:L/Au:N/C:C/I:C/A:C", 10.0, "High"),
        ("CVSS_V2", "AV:N/AC:L/Au:N/C:P/I:P/A:P", 7.5, "High"),
        ("CVSS_V2", "AV:N/AC:M/Au:N/C:P/I:P/A:P", 6.8, "Medium"),
        ("CVSS_V2", "AV:N/AC:L/Au:N/C:P/I:N/A:N", 5.0, "Medium"),
        ("CVSS_V2", "AV:L/AC:H/Au:M/C:P/I:N/A:N", 0.8, "Low"),
        ("CVSS_V3", V3, 9.8, "Critical"),
        ("CVSS_V3", "CVSS:3.0/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H", 9.8, "Critical"),
        ("CVSS_V3", V3_MEDIUM, 4.3, "Medium"),
        ("CVSS_V3", "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:N", 0.0, "None"),
        ("CVSS_V4", V4, 9.3, "Critical"),
        ("CVSS_V4", V4_MEDIUM, 6.9, "Medium"),
    ],
)
def test_score_vector(kind: str, vector: str, score: float, rating: str) -> None:
    assert score_vector(kind, vector) == (score, rating)


# --- malformed entries --------------------------------------------------------------------------


def test_entries_that_are_not_mappings_or_lack_fields_are_warned_about() -> None:
    entries = [
        "CVSS:3.1/AV:N",
        {"type": "CVSS_V3"},
        {"score": V3},
        {"type": 3, "score": V3},
        {"type": "CVSS_V3", "score": 9.8},
        None,
    ]
    severity, warnings = choose_severity(entries)
    assert severity is None
    assert len(warnings) == len(entries)
    assert "not a mapping" in warnings[0]
    assert all("without type and score" in w for w in warnings[1:5])
    assert "not a mapping" in warnings[5]


def test_unsupported_type_is_warned_about_and_skipped() -> None:
    severity, warnings = choose_severity([sev("Ubuntu", "high"), sev("CVSS_V3", V3)])
    assert severity == Severity("CVSS_V3", V3, 9.8, "Critical")
    assert len(warnings) == 1
    assert "unsupported severity type 'Ubuntu'" in warnings[0]


def test_malformed_entries_do_not_prevent_a_valid_choice() -> None:
    severity, warnings = choose_severity(["junk", sev("CVSS_V2", V2), {"type": "CVSS_V4"}])
    assert severity == Severity("CVSS_V2", V2, 7.5, "High")
    assert len(warnings) == 2


@pytest.mark.parametrize(
    ("kind", "vector"),
    [
        ("CVSS_V3", "garbage"),
        ("CVSS_V3", ""),
        ("CVSS_V3", "CVSS:3.1/AV:N"),  # missing mandatory metrics
        ("CVSS_V3", "CVSS:3.1/AV:X/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"),  # unknown value
        ("CVSS_V3", V4),  # a v4 vector labelled v3
        ("CVSS_V4", "CVSS:4.0/AV:N"),
        ("CVSS_V4", V3),
        ("CVSS_V2", "(AV:N/AC:L/Au:N/C:P/I:P/A:P)"),
        ("CVSS_V2", V3),
    ],
)
def test_invalid_preferred_vector_keeps_type_with_null_score(kind: str, vector: str) -> None:
    with pytest.raises(ValueError, match=f"invalid {kind} vector"):
        score_vector(kind, vector)
    severity, warnings = choose_severity([sev(kind, vector)])
    assert severity == Severity(kind, vector, None, None)
    assert len(warnings) == 1
    assert f"invalid {kind} vector" in warnings[0]


def test_invalid_preferred_vector_does_not_fall_back() -> None:
    # documented: the preferred type keeps its vector with a NULL score
    severity, warnings = choose_severity([sev("CVSS_V4", "CVSS:4.0/bad"), sev("CVSS_V3", V3)])
    assert severity == Severity("CVSS_V4", "CVSS:4.0/bad", None, None)
    assert len(warnings) == 1


def test_score_vector_rejects_unsupported_kind() -> None:
    with pytest.raises(ValueError, match="unsupported severity type"):
        score_vector("CVSS_V5", V3)

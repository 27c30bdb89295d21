"""``osv.parse_advisory``: one OSV advisory file's bytes to advisory, package and event rows."""

from __future__ import annotations

import json
import textwrap
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from aggregators.sources.advisories import fastyaml
from aggregators.sources.advisories.osv import ParsedFile, parse_advisory, parse_timestamp

PATH = "vulns/flask-login/PYSEC-2021-1.yaml"
COMMIT = "0123456789abcdef0123456789abcdef01234567"
V3 = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"

COMPLETE = """\
id: PYSEC-2021-1
summary: Open redirect in Flask-Login
details: |
  Flask-Login before 0.6.1 allows an open redirect.
aliases:
- CVE-2021-1234
- GHSA-aaaa-bbbb-cccc
related:
- PYSEC-2020-9
modified: '2021-02-01T10:00:00.123456789Z'
published: '2021-01-01T12:30:00+02:00'
severity:
- type: CVSS_V3
  score: CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H
affected:
- package:
    name: Flask_Login
    ecosystem: PyPI
    purl: pkg:pypi/flask-login
  ranges:
  - type: ECOSYSTEM
    events:
    - introduced: '0'
    - fixed: 0.5.0
    - introduced: 0.5.1
    - fixed: 0.6.1
  - type: GIT
    repo: https://github.com/maxcountryman/flask-login
    events:
    - introduced: '0'
    - fixed: 1a2b3c4d
  versions:
  - 0.1.0
  - 0.4.1
  - 0.5.1
  - 0.6.0
references:
- type: ADVISORY
  url: https://example.invalid/advisory
- url: https://example.invalid/no-type
"""


def parse(text: str, path: str = PATH) -> ParsedFile:
    return parse_advisory(path, textwrap.dedent(text).encode("utf-8"), COMMIT)


def levels(parsed: ParsedFile) -> list[str]:
    return [e["level"] for e in parsed.errors]


def warnings(parsed: ParsedFile) -> list[str]:
    return [e["reason"] for e in parsed.errors if e["level"] == "warning"]


def minimal(
    *,
    events: str = "    - introduced: '0'\n    - fixed: '1.0'\n",
    versions: str = "",
    extra: str = "",
    range_type: str = "ECOSYSTEM",
) -> str:
    text = (
        "id: PYSEC-2000-1\n"
        "affected:\n"
        "- package:\n    name: demo\n    ecosystem: PyPI\n"
        f"  ranges:\n  - type: {range_type}\n    events:\n{events}"
    )
    if versions:
        text += "  versions:\n" + versions
    return text + extra


def assert_error_row(row: dict[str, Any], level: str, advisory_id: str | None) -> None:
    assert set(row) == {"source", "path", "advisory_id", "level", "reason"}
    assert row["source"] == "advisories"
    assert row["path"] == PATH
    assert row["advisory_id"] == advisory_id
    assert row["level"] == level
    assert isinstance(row["reason"], str) and row["reason"]


# --- a complete valid advisory ------------------------------------------------------------------


def test_complete_advisory_row() -> None:
    parsed = parse(COMPLETE)
    assert parsed.errors == []
    adv = parsed.advisory
    assert adv is not None
    assert adv["id"] == "PYSEC-2021-1"
    assert adv["summary"] == "Open redirect in Flask-Login"
    assert adv["details"] == "Flask-Login before 0.6.1 allows an open redirect.\n"
    assert adv["aliases"] == ["CVE-2021-1234", "GHSA-aaaa-bbbb-cccc"]
    assert adv["related"] == ["PYSEC-2020-9"]
    assert adv["packages"] == ["flask-login"]
    assert adv["published"] == datetime(2021, 1, 1, 10, 30, tzinfo=UTC)
    assert adv["published"].utcoffset().total_seconds() == 0
    assert adv["modified"] == datetime(2021, 2, 1, 10, 0, 0, 123456, tzinfo=UTC)
    assert adv["withdrawn"] is None
    assert adv["severity_type"] == "CVSS_V3"
    assert adv["severity_vector"] == V3
    assert adv["cvss_score"] == 9.8
    assert adv["cvss_rating"] == "Critical"
    assert adv["references"] == [
        {"type": "ADVISORY", "url": "https://example.invalid/advisory"},
        {"type": "WEB", "url": "https://example.invalid/no-type"},
    ]
    assert adv["source_commit"] == COMMIT
    assert adv["source_path"] == PATH


def test_complete_advisory_package_row() -> None:
    parsed = parse(COMPLETE)
    assert parsed.packages == [
        {
            "advisory_id": "PYSEC-2021-1",
            "entry_index": 0,
            "package": "flask-login",
            "package_name": "Flask_Login",
            "ecosystem": "PyPI",
            "purl": "pkg:pypi/flask-login",
            "versions": ["0.1.0", "0.4.1", "0.5.1", "0.6.0"],
            "source_path": PATH,
        }
    ]


def test_complete_advisory_event_rows() -> None:
    parsed = parse(COMPLETE)
    rows = [
        (e["range_index"], e["range_type"], e["event_index"], e["event"], e["version"], e["valid"])
        for e in parsed.events
    ]
    assert rows == [
        (0, "ECOSYSTEM", 0, "introduced", "0", True),
        (0, "ECOSYSTEM", 1, "fixed", "0.5.0", True),
        (0, "ECOSYSTEM", 2, "introduced", "0.5.1", True),
        (0, "ECOSYSTEM", 3, "fixed", "0.6.1", True),
        (1, "GIT", 0, "introduced", "0", True),
        (1, "GIT", 1, "fixed", "1a2b3c4d", True),
    ]
    for event in parsed.events:
        assert event["advisory_id"] == "PYSEC-2021-1"
        assert event["package"] == "flask-login"
        assert event["entry_index"] == 0
        assert event["source_path"] == PATH
    assert [e["repo"] for e in parsed.events] == [None] * 4 + [
        "https://github.com/maxcountryman/flask-login"
    ] * 2


@pytest.mark.parametrize(
    ("raw", "normalized"),
    [
        ("Flask_Login", "flask-login"),
        ("zope.interface", "zope-interface"),
        ("Django", "django"),
        ("a-_.B", "a-b"),
        ("  PyYAML  ", "pyyaml"),
    ],
)
def test_package_names_are_pep503_normalized(raw: str, normalized: str) -> None:
    text = f"id: X-1\naffected:\n- package:\n    name: '{raw}'\n    ecosystem: PyPI\n"
    parsed = parse(text)
    assert parsed.packages[0]["package"] == normalized
    assert parsed.packages[0]["package_name"] == raw.strip()
    assert parsed.advisory is not None and parsed.advisory["packages"] == [normalized]


def test_several_entries_get_entry_indexes_and_sorted_unique_packages() -> None:
    text = """\
    id: X-2
    affected:
    - package: {name: Zeta, ecosystem: PyPI}
      versions: ['1.0']
    - package: {name: alpha, ecosystem: PyPI}
      ranges:
      - type: ECOSYSTEM
        events: [{introduced: '0'}, {fixed: '2.0'}]
    - package: {name: zeta, ecosystem: PyPI}
      ranges:
      - type: ECOSYSTEM
        events: [{introduced: '3.0'}]
    """
    parsed = parse(text)
    assert parsed.errors == []
    assert [(p["entry_index"], p["package"]) for p in parsed.packages] == [
        (0, "zeta"),
        (1, "alpha"),
        (2, "zeta"),
    ]
    assert parsed.advisory is not None and parsed.advisory["packages"] == ["alpha", "zeta"]
    assert [(e["entry_index"], e["range_index"], e["event_index"]) for e in parsed.events] == [
        (1, 0, 0),
        (1, 0, 1),
        (2, 0, 0),
    ]


def test_json_advisory_is_parsed_as_json() -> None:
    doc = {
        "id": "GHSA-json-0001",
        "published": "2022-03-04T05:06:07Z",
        "affected": [
            {
                "package": {"name": "Some.Package", "ecosystem": "PyPI"},
                "ranges": [
                    {"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "1.10"}]}
                ],
                "versions": ["1.9"],
            }
        ],
    }
    path = "vulns/x/GHSA-json-0001.json"
    parsed = parse_advisory(path, json.dumps(doc).encode(), COMMIT)
    assert parsed.errors == []
    assert parsed.advisory is not None
    assert parsed.advisory["id"] == "GHSA-json-0001"
    assert parsed.advisory["published"] == datetime(2022, 3, 4, 5, 6, 7, tzinfo=UTC)
    assert parsed.advisory["source_path"] == path
    assert parsed.packages[0]["package"] == "some-package"
    assert [e["version"] for e in parsed.events] == ["0", "1.10"]


def test_json_path_does_not_accept_yaml() -> None:
    parsed = parse_advisory("vulns/x/A.json", b"id: X\n", COMMIT)
    assert parsed.advisory is None
    assert levels(parsed) == ["error"]
    assert "malformed JSON" in parsed.errors[0]["reason"]


# --- files that cannot be read ------------------------------------------------------------------


def test_malformed_yaml_is_one_error() -> None:
    parsed = parse("id: X\naffected: [unclosed\n")
    assert parsed.advisory is None
    assert parsed.packages == [] and parsed.events == []
    assert len(parsed.errors) == 1
    assert_error_row(parsed.errors[0], "error", None)
    assert parsed.errors[0]["reason"].startswith("malformed YAML")


@pytest.mark.parametrize(
    ("text", "found"),
    [("- id: X\n- id: Y\n", "list"), ("just a string\n", "str"), ("42\n", "int"), ("", "None")],
)
def test_document_that_is_not_a_mapping_is_an_error(text: str, found: str) -> None:
    parsed = parse(text)
    assert parsed.advisory is None
    assert len(parsed.errors) == 1
    assert_error_row(parsed.errors[0], "error", None)
    assert "not a mapping" in parsed.errors[0]["reason"]
    assert found in parsed.errors[0]["reason"]


@pytest.mark.parametrize(
    "text",
    [
        "summary: no id\naffected: []\n",
        "id: ''\n",
        "id: '   '\n",
        "id: 12\n",
        "id: [a]\n",
        "id:\n",
    ],
)
def test_missing_or_bad_id_is_an_error(text: str) -> None:
    parsed = parse(text)
    assert parsed.advisory is None
    assert parsed.packages == [] and parsed.events == []
    assert len(parsed.errors) == 1
    assert_error_row(parsed.errors[0], "error", None)
    assert "no 'id'" in parsed.errors[0]["reason"]


def test_id_is_stripped() -> None:
    parsed = parse("id: '  PYSEC-1  '\naffected: [{package: {name: a, ecosystem: PyPI}}]\n")
    assert parsed.advisory is not None and parsed.advisory["id"] == "PYSEC-1"
    assert parsed.packages[0]["advisory_id"] == "PYSEC-1"


def test_non_utf8_bytes_are_an_error() -> None:
    data = b"id: X\nsummary: caf\xe9 \xff\n"
    parsed = parse_advisory(PATH, data, COMMIT)
    assert parsed.advisory is None
    assert len(parsed.errors) == 1
    assert_error_row(parsed.errors[0], "error", None)
    assert "not UTF-8" in parsed.errors[0]["reason"]


def test_python_tag_never_executes(tmp_path: Path) -> None:
    marker = tmp_path / "executed"
    text = (
        "id: !!python/object/apply:os.system\n"
        f"- touch {marker}\n"
        f"summary: !!python/object/apply:os.system ['touch {marker}']\n"
    )
    parsed = parse(text)
    assert not marker.exists()
    assert parsed.advisory is None
    assert levels(parsed) == ["error"]
    assert "malformed YAML" in parsed.errors[0]["reason"]


def test_python_tag_inside_a_quoted_string_is_inert_text(tmp_path: Path) -> None:
    marker = tmp_path / "executed"
    text = f"id: X\nsummary: '!!python/object/apply:os.system [touch {marker}]'\n"
    parsed = parse(text)
    assert not marker.exists()
    assert parsed.advisory is not None
    assert parsed.advisory["summary"] == f"!!python/object/apply:os.system [touch {marker}]"


# --- kept with warnings -------------------------------------------------------------------------


def test_unknown_event_type_is_a_warning_and_dropped() -> None:
    parsed = parse(minimal(events="    - introduced: '0'\n    - fixd: '1.0'\n"))
    assert parsed.advisory is not None
    assert [(e["event"], e["version"]) for e in parsed.events] == [("introduced", "0")]
    assert parsed.events[0]["event_index"] == 0
    assert levels(parsed) == ["warning"]
    assert_error_row(parsed.errors[0], "warning", "PYSEC-2000-1")
    assert "unknown event type 'fixd'" in parsed.errors[0]["reason"]


def test_event_indexes_stay_dense_after_a_dropped_event() -> None:
    events = "    - introduced: '0'\n    - bogus: '1.0'\n    - fixed: '2.0'\n"
    parsed = parse(minimal(events=events))
    assert [(e["event_index"], e["event"]) for e in parsed.events] == [
        (0, "introduced"),
        (1, "fixed"),
    ]


def test_non_pep440_listed_version_is_a_warning_and_kept() -> None:
    parsed = parse(minimal(versions="  - '1.0'\n  - 'not a version'\n  - '2.0-final-ish!'\n"))
    assert parsed.packages[0]["versions"] == ["1.0", "not a version", "2.0-final-ish!"]
    reasons = warnings(parsed)
    assert len(reasons) == 2
    assert all("not PEP 440; kept as text" in r for r in reasons)
    assert levels(parsed) == ["warning", "warning"]


def test_non_pep440_fixed_version_is_a_warning_and_invalid_row() -> None:
    parsed = parse(minimal(events="    - introduced: '0'\n    - fixed: 'abc.def'\n"))
    assert parsed.advisory is not None
    assert [(e["event"], e["version"], e["valid"]) for e in parsed.events] == [
        ("introduced", "0", True),
        ("fixed", "abc.def", False),
    ]
    assert levels(parsed) == ["warning"]
    assert "fixed version 'abc.def' is not PEP 440" in parsed.errors[0]["reason"]


def test_non_pep440_introduced_gives_a_treated_as_zero_warning() -> None:
    parsed = parse(minimal(events="    - introduced: 'garbage'\n    - fixed: '2.0'\n"))
    assert [(e["event"], e["valid"]) for e in parsed.events] == [
        ("introduced", False),
        ("fixed", True),
    ]
    reasons = warnings(parsed)
    assert len(reasons) == 2
    assert "introduced version 'garbage' is not PEP 440" in reasons[0]
    assert "treated as introduced '0'" in reasons[1]


def test_git_range_versions_are_not_checked_as_pep440() -> None:
    parsed = parse(minimal(range_type="GIT", events="    - introduced: 'deadbeef'\n"))
    assert parsed.errors == []
    assert parsed.events[0]["valid"] is True
    assert parsed.events[0]["range_type"] == "GIT"


def test_special_zero_and_star_are_valid_in_ecosystem_ranges() -> None:
    parsed = parse(minimal(events="    - introduced: '0'\n    - limit: '*'\n"))
    assert parsed.errors == []
    assert [(e["event"], e["version"], e["valid"]) for e in parsed.events] == [
        ("introduced", "0", True),
        ("limit", "*", True),
    ]


def test_unquoted_float_versions_are_warned_about() -> None:
    parsed = parse(minimal(versions="  - 1.10\n  - 2.0\n  - '1.10'\n  - 3\n"))
    # YAML reads 1.10 as the float 1.1: the text is lost, so it must be flagged
    assert parsed.packages[0]["versions"] == ["1.1", "2.0", "1.10", "3"]
    reasons = warnings(parsed)
    assert len(reasons) == 3
    assert all("YAML number" in r for r in reasons)
    assert "'1.1'" in reasons[0]


def test_unquoted_float_event_version_is_warned_about() -> None:
    parsed = parse(minimal(events="    - introduced: '0'\n    - fixed: 1.10\n"))
    assert parsed.events[1]["version"] == "1.1"
    assert any("YAML number" in r for r in warnings(parsed))


def test_withdrawn_advisory_keeps_its_row() -> None:
    parsed = parse(minimal(extra="withdrawn: '2023-05-06T07:08:09-01:00'\n"))
    assert parsed.advisory is not None
    assert parsed.advisory["withdrawn"] == datetime(2023, 5, 6, 8, 8, 9, tzinfo=UTC)
    assert parsed.advisory["withdrawn"].tzinfo is not None
    assert parsed.advisory["withdrawn"].utcoffset().total_seconds() == 0
    assert len(parsed.packages) == 1 and len(parsed.events) == 2
    assert parsed.errors == []


def test_bad_timestamp_is_a_warning_and_null() -> None:
    parsed = parse(minimal(extra="published: 'last tuesday'\nmodified: 2021\n"))
    assert parsed.advisory is not None
    assert parsed.advisory["published"] is None
    assert parsed.advisory["modified"] is None
    reasons = warnings(parsed)
    assert len(reasons) == 2
    assert "'published' is not an RFC 3339 timestamp" in reasons[0]
    assert "'modified' is not an RFC 3339 timestamp" in reasons[1]


@pytest.mark.parametrize("use_fast_path", [True, False])
def test_unquoted_timestamps_read_alike_on_both_yaml_paths(
    monkeypatch: pytest.MonkeyPatch, use_fast_path: bool
) -> None:
    if not use_fast_path:
        monkeypatch.setattr(fastyaml, "ryml", None)
    elif fastyaml.ryml is None:
        pytest.skip("rapidyaml is not installed")
    extra = (
        "published: 2021-01-01T00:00:00Z\n"
        "modified: 2021-06-01 12:00:00.5+02:00\n"
        "withdrawn: 2022-02-02\n"
    )
    parsed = parse(minimal(extra=extra))
    assert parsed.errors == []
    assert parsed.advisory is not None
    assert parsed.advisory["published"] == datetime(2021, 1, 1, tzinfo=UTC)
    assert parsed.advisory["modified"] == datetime(2021, 6, 1, 10, 0, 0, 500000, tzinfo=UTC)
    assert parsed.advisory["withdrawn"] == datetime(2022, 2, 2, tzinfo=UTC)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2021-01-01T00:00:00Z", datetime(2021, 1, 1, tzinfo=UTC)),
        ("2021-01-01t00:00:00z", datetime(2021, 1, 1, tzinfo=UTC)),
        ("2021-01-01T00:00:00", datetime(2021, 1, 1, tzinfo=UTC)),
        ("2021-01-01T00:00:00.123456789Z", datetime(2021, 1, 1, 0, 0, 0, 123456, tzinfo=UTC)),
        ("2021-06-01T12:00:00+02:00", datetime(2021, 6, 1, 10, tzinfo=UTC)),
        (datetime(2021, 1, 1, 5), datetime(2021, 1, 1, 5, tzinfo=UTC)),
    ],
)
def test_parse_timestamp(value: Any, expected: datetime) -> None:
    got = parse_timestamp(value)
    assert got == expected
    assert got.tzinfo == UTC


# --- severity ------------------------------------------------------------------------------------


def test_invalid_cvss_vector_is_a_warning_and_null_score() -> None:
    extra = "severity:\n- type: CVSS_V3\n  score: CVSS:3.1/AV:N/AC:Q\n"
    parsed = parse(minimal(extra=extra))
    adv = parsed.advisory
    assert adv is not None
    assert (adv["severity_type"], adv["severity_vector"]) == ("CVSS_V3", "CVSS:3.1/AV:N/AC:Q")
    assert adv["cvss_score"] is None
    assert adv["cvss_rating"] is None
    assert levels(parsed) == ["warning"]
    assert "invalid CVSS_V3 vector" in parsed.errors[0]["reason"]


def test_per_package_severity_is_used_without_a_top_level_one() -> None:
    text = f"""\
    id: X-3
    affected:
    - package: {{name: a, ecosystem: PyPI}}
      severity:
      - type: CVSS_V3
        score: {V3}
    """
    parsed = parse(text)
    assert parsed.advisory is not None
    assert parsed.advisory["cvss_score"] == 9.8
    assert parsed.advisory["cvss_rating"] == "Critical"


def test_no_severity_gives_null_columns() -> None:
    parsed = parse(minimal())
    adv = parsed.advisory
    assert adv is not None
    assert [adv[k] for k in ("severity_type", "severity_vector", "cvss_score", "cvss_rating")] == [
        None
    ] * 4


# --- other structural problems ------------------------------------------------------------------


def test_no_affected_list_is_a_warning() -> None:
    parsed = parse("id: X-4\n")
    assert parsed.advisory is not None
    assert parsed.advisory["packages"] == []
    assert levels(parsed) == ["warning"]
    assert "no 'affected' list" in parsed.errors[0]["reason"]


def test_entry_without_package_name_is_skipped_with_a_warning() -> None:
    text = (
        "id: X-5\naffected:\n- package: {ecosystem: PyPI}\n- package: {name: ok, ecosystem: PyPI}\n"
        "  versions: ['1.0']\n"
    )
    parsed = parse(text)
    assert [(p["entry_index"], p["package"]) for p in parsed.packages] == [(1, "ok")]
    assert levels(parsed) == ["warning"]


def test_an_entry_naming_no_version_at_all_is_kept_with_a_warning() -> None:
    """Kept: a malicious record of that shape covers its whole project (knowledge.malicious).
    A withdrawn record of that shape (real: PYSEC-2022-15, rejected) is not worth a warning."""
    parsed = parse("id: X-5b\naffected:\n- package: {name: evil, ecosystem: PyPI}\n")
    assert [p["package"] for p in parsed.packages] == ["evil"]
    assert warnings(parsed) == ["affected[0] (evil) lists no versions and no ranges"]
    withdrawn = parse(
        "id: X-5c\nwithdrawn: '2022-02-22T16:15:07Z'\n"
        "affected:\n- package: {name: a, ecosystem: PyPI}\n"
    )
    assert warnings(withdrawn) == []


def test_range_without_events_list_is_an_error_row_but_advisory_kept() -> None:
    text = (
        "id: X-6\naffected:\n- package: {name: a, ecosystem: PyPI}\n"
        "  ranges:\n  - type: ECOSYSTEM\n"
    )
    parsed = parse(text)
    assert parsed.advisory is not None
    assert levels(parsed) == ["error"]
    assert "has no events list" in parsed.errors[0]["reason"]


def test_aliases_that_are_not_a_list_of_strings_are_ignored_with_a_warning() -> None:
    parsed = parse("id: X-7\naliases: CVE-2020-1\nrelated: [1, 2]\naffected: []\n")
    assert parsed.advisory is not None
    assert parsed.advisory["aliases"] == [] and parsed.advisory["related"] == []
    assert sum("is not a list of strings" in r for r in warnings(parsed)) == 2


# --- bugs ---------------------------------------------------------------------------------------


@pytest.mark.skipif(fastyaml.ryml is None, reason="the bug is in the rapidyaml path")
def test_explicit_document_start_marker() -> None:
    parsed = parse("---\n" + minimal())
    assert parsed.errors == []
    assert parsed.advisory is not None and parsed.advisory["id"] == "PYSEC-2000-1"


def test_scalar_number_versions_does_not_raise() -> None:
    parsed = parse(minimal(extra="  versions: 1.0\n"))
    assert parsed.advisory is not None
    assert parsed.errors


def test_scalar_string_versions_is_not_split_into_characters() -> None:
    parsed = parse(minimal(extra="  versions: '1.0'\n"))
    assert parsed.packages[0]["versions"] in ([], ["1.0"])


def test_scalar_affected_does_not_raise() -> None:
    parsed = parse("id: X-8\naffected: 5\n")
    assert parsed.advisory is not None
    assert "no 'affected' list" in parsed.errors[0]["reason"]


def test_scalar_references_does_not_raise() -> None:
    parsed = parse(minimal(extra="references: 5\n"))
    assert parsed.advisory is not None
    assert parsed.advisory["references"] == []
    assert warnings(parsed)


def test_out_of_range_timestamp_does_not_raise() -> None:
    parsed = parse(minimal(extra="published: '0001-01-01T00:00:00+01:00'\n"))
    assert parsed.advisory is not None
    assert parsed.advisory["published"] is None
    assert any("published" in r for r in warnings(parsed))

"""``fastyaml.load_yaml`` must read every document exactly like libyaml's safe loader.

libyaml (``yaml.CSafeLoader``) is the reference. The one documented difference is unquoted
timestamps: the rapidyaml path leaves them as strings (``osv.parse_timestamp`` reads both).
"""

from __future__ import annotations

import math
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml

from aggregators.sources.advisories import fastyaml
from aggregators.sources.advisories.fastyaml import fast_path_applies, load_yaml, reads_alike
from aggregators.sources.advisories.osv import parse_timestamp

needs_ryml = pytest.mark.skipif(fastyaml.ryml is None, reason="rapidyaml is not installed")

REFERENCE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def reference(text: str) -> Any:
    return yaml.load(text, Loader=REFERENCE_LOADER)


def typed(value: Any) -> Any:
    """A comparable form that keeps types apart (1 == 1.0 == True in plain Python)."""
    if isinstance(value, dict):
        return ("dict", [(typed(k), typed(v)) for k, v in value.items()])
    if isinstance(value, list):
        return ("list", [typed(v) for v in value])
    if isinstance(value, float) and math.isnan(value):
        return ("float", "nan")
    return (type(value).__name__, value)


def assert_same_as_libyaml(text: str) -> None:
    expected = reference(text)
    got = load_yaml(text.encode("utf-8"))
    assert typed(got) == typed(expected), f"load_yaml={got!r} libyaml={expected!r}"


ADVISORY = """\
id: PYSEC-2021-1
details: |
  Something bad happens in `flask-login` when a "quoted" value
  spans lines: yes, really.
aliases:
- CVE-2021-1234
- GHSA-aaaa-bbbb-cccc
modified: '2021-02-01T00:00:00Z'
published: "2021-01-01T00:00:00.123456Z"
affected:
- package:
    name: Flask_Login
    ecosystem: PyPI
    purl: pkg:pypi/flask-login
  ranges:
  - type: ECOSYSTEM
    events:
    - introduced: "0"
    - fixed: 0.6.1
  versions:
  - 0.1.0
  - '0.10'
  - 0.5.0rc1
  - 1!2.0
  - 2.0+local
references:
- type: WEB
  url: https://example.invalid/a?b=c#d
"""

PARITY_DOCUMENTS = {
    # plain and quoted scalars
    "plain": "a: hello world",
    "single-quoted": "a: 'it''s'",
    "double-quoted": 'a: "say \\"hi\\""',
    "plain-with-quotes": 'a: say "hi"',
    "plain-backslash": "a: C:\\path\\x",
    "plain-multiline": "a: plain\n  multi line",
    "quoted-multiline": 'a: "multi\n  line"',
    "single-quoted-blank-line": "a: 'line1\n\n  line2'",
    "comment": "a: b # comment\nc: 'x' # another",
    "int": "a: 1\nb: -1\nc: 0\nd: -0",
    "big-int": "a: 123456789012345678901234567890",
    "float": "a: 3.0\nb: 0.5\nc: 6.02e+23\nd: 1.5E-3",
    "float-leading-dot": "a: .5\nb: 1.",
    # YAML 1.1 specials
    "tilde": "a: ~",
    "null": "a: null\nb: Null\nc: NULL\nd:",
    "empty-string": "a: ''",
    "yes-no": "a: yes\nb: no\nc: Yes\nd: NO",
    "on-off": "a: on\nb: off\nc: ON\nd: Off",
    "true-false": "a: true\nb: True\nc: FALSE",
    "y-n-are-strings": "a: y\nb: n\nc: Y",
    "hex": "a: 0x1F",
    "binary": "a: 0b101",
    "yaml12-octal-is-string": "a: 0o17",
    "underscore-int": "a: 1_000",
    "underscore-float": "a: 1_0.5",
    "exponent-without-dot-is-string": "a: 1e3\nb: 12e3\nc: 1e+3",
    "exponent-with-dot": "a: 1.0e+3",
    "exponent-without-sign-is-string": "a: 1.0E3",
    "inf": "a: .inf\nb: -.inf\nc: .Inf",
    "nan": "a: .nan\nb: NaN\nc: nan",
    "sexagesimal": "a: 1:20\nb: 1:20:30.5\nc: 190:20:30",
    "sexagesimal-invalid-is-string": "a: 1:60",
    "unquoted-float-version": "a: 1.10\nb: [1.10, 0.10]",
    "quoted-float-version": "a: '1.10'\nb: \"1.10\"",
    "version-strings": "a: 1.2.3\nb: 1.0rc1\nc: 1!2.0\nd: 2.0+local\ne: v1.0\nf: 1.0.post1",
    "leading-zero-non-octal-is-string": "a: 08\nb: 0.0.1",
    "sign-and-dot": "a: -.5\nb: +.5\nc: +",
    # anchors, aliases and merges
    "anchor-alias-scalar": "a: &x 1\nb: *x",
    "anchor-alias-mapping": "a: &x {c: 1}\nb: *x",
    "merge-key-alias": "a: &x\n  c: 1\nb:\n  <<: *x\n  d: 2",
    "anchor-on-key": "&k a: 1\nb: 2",
    # tags
    "tag-str": "a: !!str 1",
    "tag-int": "a: !!int '1'",
    "tag-verbatim": "a: !<tag:yaml.org,2002:str> 12",
    "tag-null": "a: !!null ''",
    "tag-binary": "a: !!binary aGVsbG8=",
    "non-specific-tag": "a: ! 123",
    # block scalars
    "literal": "a: |\n  line1\n  line2\n",
    "literal-strip": "a: |-\n  line1\n",
    "literal-keep": "a: |+\n  line1\n\n",
    "literal-indent-indicator": "a: |2\n   x\n",
    "folded": "a: >\n  folded\n  text\n\n  para\n",
    "folded-strip-more-indented": "a: >-\n  x\n   y\n  z\n",
    # flow collections
    "flow-sequence": "a: [1, 'x', \"y\", z]",
    "flow-mapping": "a: {b: c, d: [e]}",
    "flow-trailing-comma": "a: [a, b,]",
    "flow-empty-value": "a: {b: }",
    "flow-root-mapping": "{a: 1}",
    "flow-root-sequence": "[1, 2]",
    # escapes and unicode
    "unicode-escapes": 'a: "\\u00e9\\x41\\U0001F600"',
    "yaml-escapes": 'a: "\\N\\_\\L\\P\\/\\ \\t"',
    "c-escapes": 'a: "\\0\\a\\b\\e\\f\\v\\x7f"',
    "single-quoted-no-escapes": "a: '\\u00e9'",
    "unicode-plain": 'a: é\nb: 😀\n"k\\u00e9y": v',
    "bom": "\ufeffa: 1",
    "crlf": "a: 1\r\nb: 2\r\n",
    # documents and structure
    "empty-document": "",
    "comment-only": "# only a comment\n",
    "document-end-marker": "a: 1\n...\n",
    "root-sequence": "- a\n- b",
    "root-scalar-int": "42",
    "root-scalar-str": "'x'",
    "sequence-with-null": "a:\n- \n- x",
    "complex-key-syntax": "? complex\n: value",
    "keys-with-spaces": "key with spaces: v\n'quoted key': w",
    "duplicate-keys-last-wins": "b: 1\na: 2\nb: 3",
    "special-word-keys": "on: 1\n~: 2\nyes: 3",
    "hex-key": "0x10: a",
    "advisory": ADVISORY,
}


@pytest.mark.parametrize("text", PARITY_DOCUMENTS.values(), ids=PARITY_DOCUMENTS.keys())
def test_load_yaml_matches_libyaml(text: str) -> None:
    assert_same_as_libyaml(text)


def test_parity_samples_really_differ_in_type() -> None:
    # guard against a comparison that cannot fail: these differ only by type
    assert typed(1) != typed(1.0) != typed(True)
    assert typed({"a": "1.10"}) != typed({"a": 1.1})


def test_advisory_document_values() -> None:
    doc = load_yaml(ADVISORY.encode())
    assert doc["affected"][0]["versions"] == ["0.1.0", "0.10", "0.5.0rc1", "1!2.0", "2.0+local"]
    assert doc["affected"][0]["ranges"][0]["events"] == [{"introduced": "0"}, {"fixed": "0.6.1"}]
    assert doc["details"].startswith("Something bad happens in `flask-login`")


# Known divergences from libyaml: each is a real bug in the fast path (see reasons).
_LIST_WRAP = (
    "BUG: rapidyaml path returns the document stream as a list when the document has an "
    "explicit start marker '---' (or a %YAML directive): load_yaml gives [doc] instead of doc"
)
_KEYS = (
    "BUG: rapidyaml path turns non-string mapping keys into strings (JSON keys): "
    "'1: a' gives {'1': 'a'}, libyaml {1: 'a'}; reads_alike accepts digit-only strings"
)
_OCTAL = (
    "BUG: YAML 1.1 integers with leading zeros (017 octal, 0001, 00) stay strings on the "
    "rapidyaml path; reads_alike skips every digits-and-dots string"
)
_TAB = "BUG: 'a:<TAB>b' is read by rapidyaml as the plain scalar 'a:\\tb', by libyaml as {'a': 'b'}"
_MERGE = (
    "BUG: a merge key '<<' whose value is not an alias is not detected: rapidyaml keeps a "
    "literal '<<' key where libyaml merges the mapping"
)


def regression(text: str, name: str, reason: str) -> Any:
    """A case where the fast path once parted from libyaml; ``reason`` says how it went wrong."""
    assert reason.startswith("BUG")
    return pytest.param(text, id=name)


DIVERGENT_DOCUMENTS = [
    regression("---\nid: X\n", "explicit-document-start", _LIST_WRAP),
    regression("# header\n---\nid: X\n", "comment-then-document-start", _LIST_WRAP),
    regression("---\n- a\n", "document-start-sequence", _LIST_WRAP),
    regression("%YAML 1.1\n---\na: 1", "yaml-directive", _LIST_WRAP),
    regression("1: a", "int-key", _KEYS),
    regression("1.5: a", "float-key", _KEYS),
    regression("a: 017", "octal", _OCTAL),
    regression("a: 0001", "zero-padded", _OCTAL),
    regression("a: 00", "double-zero", _OCTAL),
    regression("a:\tb", "tab-separator", _TAB),
    regression("<<: {a: 1}\nb: 2", "merge-without-alias", _MERGE),
]


@needs_ryml
@pytest.mark.parametrize("text", DIVERGENT_DOCUMENTS)
def test_load_yaml_matches_libyaml_on_edge_documents(text: str) -> None:
    assert_same_as_libyaml(text)


# --- malformed documents ------------------------------------------------------------------------

MALFORMED = {
    "unclosed-flow": "a: [1, 2",
    "unclosed-quote": "a: 'unterminated\n",
    "nested-colon": "a: b: c",
    "bad-indent": "a:\n  b: 1\n c: 2",
    "block-scalar-less-indented": "a: |\n   indented\n  less\n",
    "tab-indent": "a: 1\n\tb: 2",
    "seq-in-scalar": "a: - b",
    "dash-without-space": "a:\n  - 1\n  -2",
    "empty-flow-entry": "a: [a, , b]",
    "lone-alias-star": "a: *",
    "undefined-alias": "a: *nowhere",
    "unknown-tag": "a: !foo bar",
    "python-tag": "a: !!python/name:os.system",
    "unhashable-key": "[1, 2]: a",
    "mapping-key": "{a: 1}: b",
    "unknown-escape": 'a: "\\q"',
}


@pytest.mark.parametrize("text", MALFORMED.values(), ids=MALFORMED.keys())
def test_malformed_yaml_raises_yaml_error(text: str) -> None:
    with pytest.raises(yaml.YAMLError):
        reference(text)  # the reference agrees the document is malformed
    with pytest.raises(yaml.YAMLError):
        load_yaml(text.encode("utf-8"))


_LENIENT = "BUG: rapidyaml accepts a document libyaml rejects, so load_yaml returns data"

MALFORMED_ACCEPTED = [
    regression(
        "a: 1\n---\nb: 2\n",
        "two-documents",
        _LENIENT + " (a two-document stream comes back as a list)",
    ),
    regression(
        "a: @x", "reserved-at", _LENIENT + " (reserved indicator '@' starts a plain scalar)"
    ),
    regression(
        "a: `x", "reserved-backtick", _LENIENT + " (reserved indicator '`' starts a plain scalar)"
    ),
    regression(
        'a: "\\ud800"', "lone-surrogate", _LENIENT + " (lone surrogate escape becomes garbage text)"
    ),
    regression(
        "a: <<",
        "merge-key-as-value",
        _LENIENT + " ('<<' as a value is a ConstructorError in libyaml)",
    ),
    regression(
        "a: =",
        "value-key-as-value",
        _LENIENT + " ('=' as a value is a ConstructorError in libyaml)",
    ),
]


@needs_ryml
@pytest.mark.parametrize("text", MALFORMED_ACCEPTED)
def test_malformed_yaml_rejected_by_libyaml_raises(text: str) -> None:
    with pytest.raises(yaml.YAMLError):
        reference(text)
    with pytest.raises(yaml.YAMLError):
        load_yaml(text.encode("utf-8"))


def test_unsafe_tag_is_never_constructed(tmp_path: Path) -> None:
    marker = tmp_path / "pwned"
    text = f"a: !!python/object/apply:os.system ['touch {marker}']\n"
    with pytest.raises(yaml.YAMLError):
        load_yaml(text.encode())
    assert not marker.exists()


# --- timestamps: the documented difference ------------------------------------------------------


@needs_ryml
def test_unquoted_timestamp_is_text_on_the_fast_path() -> None:
    text = "id: X\npublished: 2021-01-01T00:00:00Z\nmodified: 2021-02-03\n"
    fast = load_yaml(text.encode())
    ref = reference(text)
    # libyaml builds datetime/date objects; the rapidyaml path leaves the text
    assert ref["published"] == datetime(2021, 1, 1, tzinfo=UTC)
    assert ref["modified"] == date(2021, 2, 3)
    assert fast == {"id": "X", "published": "2021-01-01T00:00:00Z", "modified": "2021-02-03"}
    # the caller reads both forms to the same instant
    assert parse_timestamp(fast["published"]) == parse_timestamp(ref["published"])
    assert parse_timestamp(fast["modified"]) == parse_timestamp(ref["modified"])


def test_timestamp_in_a_document_sent_to_libyaml_is_a_datetime() -> None:
    # any YAML 1.1 special scalar sends the whole document to libyaml
    doc = load_yaml(b"published: 2021-01-01T00:00:00Z\nflag: yes\n")
    assert doc == {"published": datetime(2021, 1, 1, tzinfo=UTC), "flag": True}


# --- fast path selection ------------------------------------------------------------------------


@needs_ryml
def test_plain_document_does_not_touch_libyaml(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(*args: Any, **kwargs: Any) -> Any:
        raise AssertionError("libyaml was called for a plain document")

    monkeypatch.setattr(fastyaml.yaml, "load", refuse)
    assert load_yaml(b"id: X\nversions: ['1.0', 1.2.3]\n") == {
        "id": "X",
        "versions": ["1.0", "1.2.3"],
    }


@needs_ryml
def test_special_document_goes_to_libyaml(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    real = fastyaml.yaml.load

    def spy(text: str, Loader: Any) -> Any:  # yaml.load's own keyword
        calls.append(text)
        return real(text, Loader=Loader)

    monkeypatch.setattr(fastyaml.yaml, "load", spy)
    assert load_yaml(b"a: 1.10\n") == {"a": 1.1}
    assert load_yaml(b"a: !!str 1\n") == {"a": "1"}
    assert len(calls) == 2


@pytest.mark.parametrize(
    "text", ["a: 1", "a: yes", "a: 1.10", "a: &x 1\nb: *x", "a: !!str 1", "---\nid: X\n"]
)
def test_without_rapidyaml_everything_goes_to_libyaml(
    monkeypatch: pytest.MonkeyPatch, text: str
) -> None:
    monkeypatch.setattr(fastyaml, "ryml", None)
    assert fast_path_applies(text.encode()) is False
    assert typed(load_yaml(text.encode())) == typed(reference(text))


@needs_ryml
@pytest.mark.parametrize(
    "data",
    [b"a: 1", b"a: b!c", b"a: 'hi!'", b'a: "!important"', b"a: x!!y", b""],
)
def test_fast_path_applies_without_tags(data: bytes) -> None:
    assert fast_path_applies(data) is True


@pytest.mark.parametrize(
    "data",
    [
        b"a: !!str 1",
        b"!!map {a: 1}",
        b"- !foo x",
        b"a: [!!int '1']",
        b"a: {b: !!str 2}",
        b"a: !<tag:yaml.org,2002:str> 1",
        b"a:\n  !!python/object/apply:os.system ['true']",
    ],
)
def test_fast_path_refused_for_tags(data: bytes) -> None:
    assert fast_path_applies(data) is False


@pytest.mark.parametrize(
    "value",
    [
        {"id": "X", "versions": ["1.0", "1.2.3", "0.10.1", "2.0rc1"], "count": 1},
        ["yesterday", "nothing", "offline", "truly", "normal text"],
        "1.0.0",
        12,
        None,
        True,
        [],
        {},
        "",
    ],
)
def test_reads_alike_accepts_plain_values(value: Any) -> None:
    assert reads_alike(value) is True


@pytest.mark.parametrize(
    "value",
    [
        1.5,
        {"a": 1.1},
        "yes",
        "No",
        "on",
        "OFF",
        "~",
        "Null",
        "0x1F",
        "0b101",
        "1:20",
        "1_000",
        "1.0e+3",
        ".inf",
        "-.NaN",
        "*alias",
        {"on": "key is special"},
        [[["deep", ["no"]]]],
        {"a": {"b": [1, 2, 0.5]}},
    ],
)
def test_reads_alike_rejects_yaml11_specials(value: Any) -> None:
    assert reads_alike(value) is False

"""The lowest release a fix may name (``clients/fixes.py``): one bisection answers what a scan
of every release in version order answers, for listed and unlisted versions alike."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from aggregators.clients.fixes import SafeReleases
from aggregators.core.versions import parse_version

VERSIONS = st.sampled_from(
    ["0.9", "1.0", "1.0.0", "1.0.post1", "1.1rc1", "1.1", "1.2.dev3", "2", "2.0.1", "10.0",
     "not-a-version", "1!0.1", "1.1+local"]
)  # fmt: skip


def scan(releases: list[tuple[str, bool]], version: str) -> str | None:
    """The reference: every release in version order, the first eligible one above."""
    asked = parse_version(version)
    if asked is None:
        return None
    ordered = sorted((v, text, ok) for text, ok in releases if (v := parse_version(text)))
    return next((text for v, text, ok in ordered if ok and v > asked), None)


@given(st.lists(st.tuples(VERSIONS, st.booleans()), unique_by=lambda r: r[0]), VERSIONS)
def test_one_bisection_answers_as_the_scan_does(
    releases: list[tuple[str, bool]], version: str
) -> None:
    assert SafeReleases(releases).above(version) == scan(releases, version)


def test_the_answer_is_above_the_version_asked_never_equal_to_it() -> None:
    safe = SafeReleases([("1.0", True), ("1.0.1", False), ("1.1", True), ("2.0", True)])
    assert safe.above("0.1") == "1.0"
    assert safe.above("1.0") == "1.1"  # 1.0 itself is not a fix for 1.0
    assert safe.above("1.0.0") == "1.1"  # PEP 440 equality: 1.0.0 is 1.0
    assert safe.above("1.0.1.post99") == "1.1"  # a version no release list has
    assert safe.above("2.0") is None
    assert safe.above("bogus") is None
    assert SafeReleases([]).above("1.0") is None

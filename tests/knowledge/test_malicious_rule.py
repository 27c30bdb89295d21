"""When a malicious-package record covers a whole project (every other version suspect)."""

from __future__ import annotations

from datetime import UTC, datetime

from packaging.version import Version

from aggregators.knowledge.affected import Entry
from aggregators.knowledge.malicious import covers_whole_project, release_verdict
from aggregators.knowledge.ranges import Event

PUBLISHED = datetime(2025, 9, 18, tzinfo=UTC)
BEFORE, AFTER = datetime(2025, 9, 17, tzinfo=UTC), datetime(2025, 10, 1, tzinfo=UTC)


def listed(*versions: str) -> Entry:
    return Entry("MAL-1", "pkg", list(versions))


def test_an_unbounded_range_covers_every_version_even_of_a_popular_project() -> None:
    entry = Entry("MAL-1", "pkg", [], {0: [Event("introduced", None)]})
    assert covers_whole_project([entry], PUBLISHED, [("1.0", BEFORE)], popular=True)
    bounded = Entry(
        "MAL-1", "pkg", [], {0: [Event("introduced", None), Event("fixed", Version("2"))]}
    )
    assert not covers_whole_project([bounded], PUBLISHED, [("3.0", BEFORE)], popular=False)


def test_listing_every_release_before_the_report_covers_the_project() -> None:
    releases = [("3.1.0", BEFORE), ("3.1.1", AFTER)]
    assert covers_whole_project([listed("3.1.0")], PUBLISHED, releases, popular=False)
    # a release before the report that the record does not list: the project had a life
    earlier = [("3.0.0", BEFORE), *releases]
    assert not covers_whole_project([listed("3.1.0")], PUBLISHED, earlier, popular=False)
    # a popular project with listed versions was compromised: its other releases are its own
    assert not covers_whole_project([listed("3.1.0")], PUBLISHED, releases, popular=True)
    # versions compared as PEP 440 versions
    assert covers_whole_project([listed("3.1")], PUBLISHED, [("3.1.0", BEFORE)], popular=False)


def test_no_release_known_or_no_version_named_counts_as_wholly_listed() -> None:
    assert covers_whole_project([listed("1.0")], PUBLISHED, [], popular=False)
    assert covers_whole_project([listed()], PUBLISHED, [("1.0", BEFORE)], popular=False)
    assert not covers_whole_project([listed()], PUBLISHED, [("1.0", BEFORE)], popular=True)


def test_the_verdict_of_one_version() -> None:
    assert release_verdict(True, True) == "malicious"
    assert release_verdict(False, True) == "suspect"
    assert release_verdict(False, False) is None

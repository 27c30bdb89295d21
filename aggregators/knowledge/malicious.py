"""Malicious releases and malicious projects: the one rule every client applies (pure).

A release is **malicious** when an active malicious-package record (``advisories.malicious``)
affects it, by its versions list or its ranges. Its project is a **malicious project** when such
a record covers the whole project:

* one of its ranges has no bound (``introduced: 0`` and nothing after): every version;
* or it lists every release seckb knows that was uploaded before the record was published (a
  project published to deliver malware), and the project is not among the popular ones (a
  popular project with listed versions was compromised: its other releases are its own). A
  project of which seckb knows no release at all (removed from PyPI, or PyPI not read) counts
  as wholly listed, and so does a record that names the project and no version at all.

Every version of a malicious project that is not itself malicious is **suspect**: a version no
record lists (uploaded after the report, or never seen) is not cleared by that silence.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime

from aggregators.core.versions import canonical_version
from aggregators.knowledge.affected import Entry

MALICIOUS, SUSPECT = "malicious", "suspect"


def is_unbounded_entry(entry: Entry) -> bool:
    """Whether one of the entry's ranges contains every version (``introduced: 0`` alone)."""
    return any(
        all(e.kind == "introduced" and e.version is None for e in events) and events
        for events in entry.ranges.values()
    )


def covers_whole_project(
    entries: Sequence[Entry],
    published: datetime | None,
    releases: Iterable[tuple[str, datetime | None]],
    popular: bool,
) -> bool:
    """Whether a malicious record's ``entries`` for one package cover the whole project (see
    the module's documentation); ``releases``: (version, upload time) of the releases known."""
    if any(is_unbounded_entry(e) for e in entries):
        return True
    if popular:
        return False
    if not any(e.versions or e.ranges for e in entries):
        return True  # it names the project and no version: nothing of it is cleared
    listed = {canonical_version(v) for e in entries for v in e.versions}
    if not listed:
        return False
    return all(
        canonical_version(version) in listed
        for version, uploaded in releases
        if published is None or uploaded is None or uploaded <= published
    )


def release_verdict(malicious: bool, malicious_project: bool) -> str | None:
    """``malicious``, ``suspect`` or ``None`` for one version."""
    if malicious:
        return MALICIOUS
    return SUSPECT if malicious_project else None

"""The lowest release above a version that a fix may name, found by bisection.

A package's releases are ordered once (by PEP 440 version); each position then knows the first
release at or after it that may be recommended, so the answer for any version, listed or not,
is one bisection. Asked for hundreds of unlisted versions of one snapshot (an audit of pins
no release list has), that replaces a scan of every release per version.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Iterable

from aggregators.core.versions import parse_version


class SafeReleases:
    """The releases of one package, each marked whether a fix may name it."""

    def __init__(self, releases: Iterable[tuple[str, bool]]) -> None:
        """``releases``: (version, eligible) pairs in any order; versions that are not PEP 440
        are left out."""
        ordered = sorted(
            (parsed, text, eligible)
            for text, eligible in releases
            if (parsed := parse_version(text)) is not None
        )
        self._versions = [parsed for parsed, _, _ in ordered]
        self._first: list[str | None] = [None] * (len(ordered) + 1)
        for i in range(len(ordered) - 1, -1, -1):
            _, text, eligible = ordered[i]
            self._first[i] = text if eligible else self._first[i + 1]

    def above(self, version: str) -> str | None:
        """The lowest eligible release greater than ``version`` (``None``: there is none, or
        ``version`` is not PEP 440)."""
        parsed = parse_version(version)
        if parsed is None:
            return None
        return self._first[bisect_right(self._versions, parsed)]

"""OSV range evaluation over PEP 440 versions (pure).

Semantics follow the OSV schema's evaluation algorithm: events are sorted by version; walking
them in order, ``introduced`` (v >= e) sets affected, ``fixed`` (v >= e) and ``last_affected``
(v > e) clear it; ``introduced: "0"`` sorts before every version; ``limit`` events bound the
range from above (v < some limit), ``"*"`` meaning infinity. Several ranges are a union.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from packaging.version import Version


@dataclass(frozen=True)
class Event:
    """One range event. ``version`` is ``None`` for ``introduced: "0"`` and ``limit: "*"``."""

    kind: str
    version: Version | None


def _sorted_events(events: Sequence[Event]) -> list[Event]:
    bottom = [e for e in events if e.version is None and e.kind == "introduced"]
    top = [e for e in events if e.version is None and e.kind != "introduced"]
    middle = sorted((e for e in events if e.version is not None), key=lambda e: e.version)  # type: ignore[arg-type,return-value]
    return bottom + middle + top


def _key(version: Version) -> Any:
    return version._key  # PEP 440 order as a plain tuple: C-speed comparisons in bisect


def affected_intervals(keys: Sequence[Any], events: Sequence[Event]) -> list[tuple[int, int]]:
    """Index intervals ``[lo, hi)`` of ``keys`` (ascending ``Version._key`` tuples) in the range.

    Each event sets the state of a suffix of the sorted versions (``introduced`` and ``fixed``
    from the first version >= it, ``last_affected`` from the first version > it); walking the
    sorted events and letting each later suffix override gives exactly the per-version result
    of the OSV pseudo-code, in O(events x log versions) comparisons.
    """
    count = len(keys)
    steps: list[tuple[int, bool]] = []  # (start index, state from there on), starts increasing
    for event in _sorted_events(events):
        if event.kind == "introduced":
            start = 0 if event.version is None else bisect_left(keys, _key(event.version))
            value = True
        elif event.kind in ("fixed", "last_affected") and event.version is not None:
            finder = bisect_left if event.kind == "fixed" else bisect_right
            start, value = finder(keys, _key(event.version)), False
        else:
            continue
        while steps and steps[-1][0] >= start:
            steps.pop()
        steps.append((start, value))
    bound = count
    limits = [e for e in events if e.kind == "limit"]
    if limits and all(e.version is not None for e in limits):
        bound = max(bisect_left(keys, _key(e.version)) for e in limits)  # type: ignore[arg-type]
    intervals = []
    for i, (start, value) in enumerate(steps):
        end = min(steps[i + 1][0] if i + 1 < len(steps) else count, bound)
        if value and start < end:
            intervals.append((start, end))
    return intervals


def evaluate_range(versions: Sequence[Version], events: Sequence[Event]) -> list[bool]:
    """For each of the ascending, duplicate-free ``versions``: whether the range affects it."""
    state = [False] * len(versions)
    for lo, hi in affected_intervals([_key(v) for v in versions], events):
        state[lo:hi] = [True] * (hi - lo)
    return state


def is_affected(version: Version, events: Sequence[Event]) -> bool:
    """Whether a single version falls in the range (the OSV pseudo-code, applied directly)."""
    limits = [e for e in events if e.kind == "limit"]
    if limits and not any(e.version is None or version < e.version for e in limits):
        return False
    affected = False
    for event in _sorted_events(events):
        if event.kind == "introduced":
            if event.version is None or version >= event.version:
                affected = True
        elif event.kind == "fixed":
            if event.version is not None and version >= event.version:
                affected = False
        elif (
            event.kind == "last_affected" and event.version is not None and version > event.version
        ):
            affected = False
    return affected

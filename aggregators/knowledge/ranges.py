"""OSV range evaluation over PEP 440 versions (pure).

Semantics follow the OSV schema's evaluation algorithm: events are sorted by version; walking
them in order, ``introduced`` (v >= e) sets affected, ``fixed`` (v >= e) and ``last_affected``
(v > e) clear it; ``introduced: "0"`` sorts before every version; ``limit`` events bound the
range from above (v < some limit), ``"*"`` meaning infinity. Several ranges are a union.

Ties are read as the union of the range's intervals, so the order of events in the file never
hides an affected version. The range is walked twice and a version is affected when either walk
says so: once with events at the same version in file order (the plain algorithm), once with
ends applied before starts at the same version, so that where one interval ends at X and the
next starts at X (advisories list adjacent intervals such as ``introduced: 0.13.0, fixed:
0.14.0rc1, introduced: 0.12.2, fixed: 0.13.0``) X stays affected. In that second walk an
``introduced: X`` whose next end in the file is also at X (``fixed: X``: an empty interval;
``last_affected: X``: X alone) is left out, so it cannot open an interval without end.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from packaging.version import Version

ENDS = ("fixed", "last_affected")
"""Events that end an interval."""


@dataclass(frozen=True)
class Event:
    """One range event. ``version`` is ``None`` for ``introduced: "0"`` and ``limit: "*"``."""

    kind: str
    version: Version | None


def _sorted_events(events: Sequence[Event], ends_first: bool = False) -> tuple[Event, ...]:
    """Events in evaluation order: ``introduced: "0"`` first, then by version (ties in file
    order, or ends before starts with ``ends_first``), then ``limit: "*"``."""
    return _ordered(tuple(events), ends_first)


@lru_cache(maxsize=65_536)
def _ordered(events: tuple[Event, ...], ends_first: bool) -> tuple[Event, ...]:
    """:func:`_sorted_events`, memoized: a range's events are ordered once, not per version."""
    if ends_first:
        events = tuple(e for i, e in enumerate(events) if not _closed_at_once(events, i))
    bottom = [e for e in events if e.version is None and e.kind == "introduced"]
    top = [e for e in events if e.version is None and e.kind != "introduced"]
    middle = sorted(
        (e for e in events if e.version is not None),
        key=lambda e: (e.version, ends_first and e.kind == "introduced"),
    )
    return (*bottom, *middle, *top)


def _closed_at_once(events: Sequence[Event], index: int) -> bool:
    """Whether ``events[index]`` is an ``introduced: X`` whose next end in the file is at X."""
    event = events[index]
    if event.kind != "introduced" or event.version is None:
        return False
    for later in events[index + 1 :]:
        if later.kind in ENDS:
            return later.version == event.version
        if later.kind == "introduced":
            return False
    return False


def _key(version: Version) -> Any:
    return version._key  # PEP 440 order as a plain tuple: C-speed comparisons in bisect


def _start(keys: Sequence[Any], event: Event) -> int:
    return 0 if event.version is None else bisect_left(keys, _key(event.version))


def _end(keys: Sequence[Any], event: Event) -> int:
    """Index of the first version an end event (fixed, last_affected) no longer covers."""
    finder = bisect_left if event.kind == "fixed" else bisect_right
    return finder(keys, _key(event.version))  # type: ignore[arg-type]


def _walked(
    keys: Sequence[Any], events: Sequence[Event], ends_first: bool
) -> list[tuple[int, int]]:
    """Intervals of the OSV algorithm: each sorted event sets the state of a suffix."""
    steps: list[tuple[int, bool]] = []  # (start index, state from there on), starts increasing
    for event in _sorted_events(events, ends_first):
        if event.kind == "introduced":
            start, value = _start(keys, event), True
        elif event.kind in ENDS and event.version is not None:
            start, value = _end(keys, event), False
        else:
            continue
        while steps and steps[-1][0] >= start:
            steps.pop()
        steps.append((start, value))
    return [
        (start, steps[i + 1][0] if i + 1 < len(steps) else len(keys))
        for i, (start, value) in enumerate(steps)
        if value
    ]


def affected_intervals(keys: Sequence[Any], events: Sequence[Event]) -> list[tuple[int, int]]:
    """Index intervals ``[lo, hi)`` of ``keys`` (ascending ``Version._key`` tuples) in the range,
    ascending and bounded by ``limit`` events, in O(events x log versions) comparisons."""
    bound = len(keys)
    limits = [e for e in events if e.kind == "limit"]
    if limits and all(e.version is not None for e in limits):
        bound = max(bisect_left(keys, _key(e.version)) for e in limits)  # type: ignore[arg-type]
    merged: list[tuple[int, int]] = []
    for lo, hi in sorted(_walked(keys, events, False) + _walked(keys, events, True)):
        hi = min(hi, bound)
        if lo >= hi:
            continue
        if merged and lo <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(merged[-1][1], hi))
        else:
            merged.append((lo, hi))
    return merged


def evaluate_range(versions: Sequence[Version], events: Sequence[Event]) -> list[bool]:
    """For each of the ascending, duplicate-free ``versions``: whether the range affects it."""
    state = [False] * len(versions)
    for lo, hi in affected_intervals([_key(v) for v in versions], events):
        state[lo:hi] = [True] * (hi - lo)
    return state


@dataclass(frozen=True)
class CompiledRange:
    """A range ordered once for single-version checks: its limits and both walk orders."""

    limits: tuple[Event, ...]
    in_file_order: tuple[Event, ...]
    ends_first: tuple[Event, ...]

    def affects(self, version: Version) -> bool:
        """Whether ``version`` falls in the range (see :func:`is_affected`)."""
        if self.limits and not any(e.version is None or version < e.version for e in self.limits):
            return False
        return _walk_one(version, self.in_file_order) or _walk_one(version, self.ends_first)


def compile_range(events: Sequence[Event]) -> CompiledRange:
    """Order a range's events for :meth:`CompiledRange.affects` (do it once per range)."""
    return CompiledRange(
        tuple(e for e in events if e.kind == "limit"),
        _sorted_events(events, False),
        _sorted_events(events, True),
    )


def is_affected(version: Version, events: Sequence[Event]) -> bool:
    """Whether a single version falls in the range: the same union as
    :func:`affected_intervals`, walked directly over the ordered events."""
    return compile_range(events).affects(version)


def _walk_one(version: Version, ordered: Sequence[Event]) -> bool:
    affected = False
    for event in ordered:
        if event.kind == "introduced":
            if event.version is None or version >= event.version:
                affected = True
        elif event.version is None:
            continue
        elif event.kind == "fixed":
            affected = affected and version < event.version
        elif event.kind == "last_affected":
            affected = affected and version <= event.version
    return affected

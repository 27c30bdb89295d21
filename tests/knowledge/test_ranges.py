"""OSV range evaluation over PEP 440 versions: ``affected_intervals``, ``evaluate_range``,
``is_affected``, checked against the OSV schema's evaluation semantics."""

from __future__ import annotations

import random
from collections.abc import Sequence

import pytest
from packaging.version import Version

from aggregators.knowledge.ranges import (
    Event,
    affected_intervals,
    evaluate_range,
    is_affected,
)


def V(text: str) -> Version:
    return Version(text)


def intro(text: str | None = None) -> Event:
    """``introduced``; ``None`` stands for ``introduced: "0"``."""
    return Event("introduced", None if text is None else V(text))


def fixed(text: str) -> Event:
    return Event("fixed", V(text))


def last(text: str) -> Event:
    return Event("last_affected", V(text))


def limit(text: str | None) -> Event:
    """``limit``; ``None`` stands for ``limit: "*"``."""
    return Event("limit", None if text is None else V(text))


def universe(*texts: str) -> list[Version]:
    """Sorted, duplicate-free versions (as ``evaluate_range`` requires)."""
    versions = sorted({V(t) for t in texts})
    assert len(versions) == len(texts), "test universe must not hold PEP 440 duplicates"
    return versions


def affected_set(versions: Sequence[Version], events: Sequence[Event]) -> set[str]:
    """Affected versions according to ``evaluate_range``, cross-checked with ``is_affected``."""
    flags = evaluate_range(versions, events)
    assert len(flags) == len(versions)
    singles = [is_affected(v, events) for v in versions]
    assert flags == singles, f"evaluate_range {flags} != is_affected {singles}"
    return {str(v) for v, flag in zip(versions, flags, strict=True) if flag}


def keys(versions: Sequence[Version]) -> list[object]:
    return [v._key for v in versions]


# --- introduced / fixed / last_affected ---------------------------------------------------------


def test_introduced_zero_and_fixed() -> None:
    versions = universe("0.0.1", "0.5", "0.9.9", "1.0", "1.0.1", "2.0")
    assert affected_set(versions, [intro(), fixed("1.0")]) == {"0.0.1", "0.5", "0.9.9"}


def test_version_equal_to_fixed_is_not_affected() -> None:
    events = [intro(), fixed("1.4.2")]
    assert is_affected(V("1.4.1"), events) is True
    assert is_affected(V("1.4.2"), events) is False
    # PEP 440 equality: 1.4.2.0 is the same version as 1.4.2
    assert is_affected(V("1.4.2.0"), events) is False
    assert is_affected(V("1.4.3"), events) is False


def test_version_equal_to_introduced_is_affected() -> None:
    events = [intro("1.2"), fixed("1.5")]
    assert is_affected(V("1.1.9"), events) is False
    assert is_affected(V("1.2"), events) is True
    assert is_affected(V("1.2.0"), events) is True
    assert is_affected(V("1.4.99"), events) is True
    assert is_affected(V("1.5"), events) is False


def test_introduced_and_last_affected() -> None:
    versions = universe("1.0", "1.1", "1.2", "1.2.1", "1.3")
    events = [intro("1.1"), last("1.2")]
    # last_affected itself is affected, the next version is not
    assert affected_set(versions, events) == {"1.1", "1.2"}
    assert is_affected(V("1.2"), events) is True
    assert is_affected(V("1.2.0.post1"), events) is False
    assert is_affected(V("1.2.1"), events) is False


def test_last_affected_covers_its_own_local_version_but_not_post() -> None:
    events = [intro(), last("2.0")]
    assert is_affected(V("2.0"), events) is True
    # 2.0+local sorts after 2.0, so it is past last_affected
    assert is_affected(V("2.0+local"), events) is False
    assert is_affected(V("2.0.post1"), events) is False
    assert is_affected(V("1.9"), events) is True


def test_introduced_without_fix_is_open_ended() -> None:
    versions = universe("0.9", "1.0", "5.0", "99.0")
    assert affected_set(versions, [intro("1.0")]) == {"1.0", "5.0", "99.0"}


def test_no_introduced_event_affects_nothing() -> None:
    # ranges.py evaluates literally; defaulting to introduced "0" is affected.py's job
    versions = universe("0.1", "1.0", "2.0")
    assert affected_set(versions, [fixed("1.0")]) == set()
    assert affected_set(versions, []) == set()


def test_several_introduced_fixed_pairs_in_one_range() -> None:
    versions = universe("0.9", "1.0", "1.1", "1.5", "2.0", "2.1", "3.0", "3.1", "4.0")
    events = [intro("1.0"), fixed("1.5"), intro("2.0"), fixed("2.1"), intro("3.1")]
    assert affected_set(versions, events) == {"1.0", "1.1", "2.0", "3.1", "4.0"}


def test_pairs_with_last_affected_and_fixed_mixed() -> None:
    versions = universe("1.0", "1.1", "1.2", "2.0", "2.5", "2.6", "3.0")
    events = [intro("1.0"), last("1.1"), intro("2.0"), fixed("2.6")]
    assert affected_set(versions, events) == {"1.0", "1.1", "2.0", "2.5"}


@pytest.mark.parametrize("seed", range(5))
def test_events_out_of_order_give_same_result(seed: int) -> None:
    versions = universe(
        "0.1", "0.9", "1.0", "1.0.1", "1.1", "1.5", "2.0", "2.0.1", "2.1", "3.0", "3.5", "4.0"
    )
    ordered = [intro(), fixed("1.0"), intro("1.1"), last("2.0"), intro("3.0"), fixed("3.5")]
    expected = {"0.1", "0.9", "1.1", "1.5", "2.0", "3.0"}
    assert affected_set(versions, ordered) == expected
    shuffled = list(ordered)
    random.Random(seed).shuffle(shuffled)
    reversed_events = list(reversed(ordered))
    assert affected_set(versions, shuffled) == expected
    assert affected_set(versions, reversed_events) == expected


def test_introduced_zero_sorts_first_even_when_listed_last() -> None:
    versions = universe("0.0.0.dev0", "0.1", "1.0")
    # "0" must sort before every version, including 0.0.0.dev0, wherever it is listed
    assert affected_set(versions, [fixed("1.0"), intro()]) == {"0.0.0.dev0", "0.1"}


# --- limit -------------------------------------------------------------------------------------


def test_single_limit_bounds_an_open_range() -> None:
    versions = universe("0.5", "1.0", "1.5", "2.0", "2.5")
    assert affected_set(versions, [intro("1.0"), limit("2.0")]) == {"1.0", "1.5"}
    # limit is exclusive: the limit version itself is not affected
    assert is_affected(V("2.0"), [intro("1.0"), limit("2.0")]) is False
    assert is_affected(V("1.9.9"), [intro("1.0"), limit("2.0")]) is True


def test_several_limits_are_a_union_so_the_highest_wins() -> None:
    versions = universe("1.0", "2.0", "2.5", "3.0", "4.0")
    events = [intro(), limit("2.0"), limit("3.0")]
    # "version must be < some limit": 2.5 is < 3.0, so it is affected
    assert affected_set(versions, events) == {"1.0", "2.0", "2.5"}


def test_star_limit_means_no_bound() -> None:
    versions = universe("1.0", "2.0", "1000.0")
    assert affected_set(versions, [intro("1.0"), limit(None)]) == {"1.0", "2.0", "1000.0"}
    # "*" together with a finite limit: still infinity
    assert affected_set(versions, [intro("1.0"), limit("2.0"), limit(None)]) == {
        "1.0",
        "2.0",
        "1000.0",
    }


def test_limit_does_not_override_fixed() -> None:
    versions = universe("1.0", "1.5", "2.0", "3.0")
    events = [intro("1.0"), fixed("1.5"), limit("3.0")]
    assert affected_set(versions, events) == {"1.0"}


def test_limit_below_introduced_affects_nothing() -> None:
    versions = universe("0.5", "1.0", "2.0")
    assert affected_set(versions, [intro("1.0"), limit("0.9")]) == set()


# --- PEP 440 ordering --------------------------------------------------------------------------


def test_pre_releases_sort_before_the_release() -> None:
    events = [intro(), fixed("1.0")]
    assert is_affected(V("1.0rc1"), events) is True
    assert is_affected(V("1.0a1"), events) is True
    assert is_affected(V("1.0b2"), events) is True
    assert is_affected(V("1.0.dev1"), events) is True
    assert is_affected(V("1.0"), events) is False
    assert is_affected(V("1.0.post1"), events) is False


def test_dev_release_sorts_before_alpha() -> None:
    # 1.0.dev1 < 1.0a1 < 1.0b1 < 1.0rc1 < 1.0 < 1.0.post1
    versions = universe("1.0.dev1", "1.0a1", "1.0b1", "1.0rc1", "1.0", "1.0.post1")
    assert affected_set(versions, [intro("1.0a1"), fixed("1.0")]) == {"1.0a1", "1.0b1", "1.0rc1"}
    assert affected_set(versions, [intro(), fixed("1.0a1")]) == {"1.0.dev1"}


def test_post_release_after_fixed_is_not_affected_but_after_introduced_is() -> None:
    versions = universe("1.0", "1.0.post1", "1.1", "1.1.post2")
    assert affected_set(versions, [intro("1.0.post1"), fixed("1.1")]) == {"1.0.post1"}
    assert affected_set(versions, [intro("1.1")]) == {"1.1", "1.1.post2"}


def test_epoch_outranks_release_number() -> None:
    events = [intro(), fixed("2.0")]
    assert is_affected(V("1!0.5"), events) is False  # 1!0.5 > 2.0
    assert is_affected(V("1.9"), events) is True
    versions = universe("1.0", "2.0", "99.0", "1!0.1", "1!0.5")
    assert affected_set(versions, [intro("1!0.0"), fixed("1!0.5")]) == {"1!0.1"}
    assert affected_set(versions, [intro("50")]) == {"99.0", "1!0.1", "1!0.5"}


def test_local_version_sorts_after_its_public_version() -> None:
    events = [intro(), fixed("1.0+local")]
    assert is_affected(V("1.0"), events) is True  # 1.0 < 1.0+local
    assert is_affected(V("1.0+local"), events) is False
    assert is_affected(V("1.0+local.2"), events) is False
    versions = universe("0.9", "1.0", "1.0+ubuntu1", "1.0.post1")
    assert affected_set(versions, [intro(), fixed("1.0")]) == {"0.9"}
    assert affected_set(versions, [intro(), last("1.0")]) == {"0.9", "1.0"}


# --- affected_intervals ------------------------------------------------------------------------


def test_affected_intervals_are_index_ranges() -> None:
    versions = universe("0.1", "1.0", "1.1", "2.0", "2.1", "3.0")
    events = [intro(), fixed("1.0"), intro("2.0"), fixed("3.0")]
    assert affected_intervals(keys(versions), events) == [(0, 1), (3, 5)]


def test_affected_intervals_event_versions_not_in_the_universe() -> None:
    versions = universe("1.0", "2.0", "3.0")
    # introduced 1.5 and fixed 2.5 fall between known versions
    assert affected_intervals(keys(versions), [intro("1.5"), fixed("2.5")]) == [(1, 2)]
    # everything below the first known version
    assert affected_intervals(keys(versions), [intro(), fixed("0.5")]) == []
    # open range starting above every known version
    assert affected_intervals(keys(versions), [intro("4.0")]) == []


def test_affected_intervals_with_limit_and_empty_universe() -> None:
    versions = universe("1.0", "2.0", "3.0", "4.0")
    assert affected_intervals(keys(versions), [intro(), limit("3.0")]) == [(0, 2)]
    assert affected_intervals([], [intro(), fixed("1.0")]) == []
    assert evaluate_range([], [intro()]) == []


def test_affected_intervals_last_affected_includes_equal_version() -> None:
    versions = universe("1.0", "2.0", "2.0.post1", "3.0")
    assert affected_intervals(keys(versions), [intro("1.0"), last("2.0")]) == [(0, 2)]
    assert affected_intervals(keys(versions), [intro("1.0"), fixed("2.0")]) == [(0, 1)]


# --- randomized agreement ----------------------------------------------------------------------


_POOL = (
    "0.0.1", "0.1", "0.9", "1.0.dev1", "1.0a1", "1.0b2", "1.0rc1", "1.0", "1.0+local",
    "1.0.post1", "1.0.1", "1.1", "1.2", "1.10", "2.0.dev3", "2.0", "2.2", "2.2.1",
    "3.0", "10.0", "1!0.1", "1!0.5", "1!2.0", "2!0.0",
)  # fmt: skip


def _reference(version: Version, events: Sequence[Event]) -> bool:
    """An independent transcription of the OSV pseudo-code, run twice: ties in file order, and
    ties with ends before starts (leaving out an ``introduced: X`` whose next end in the file is
    at X); affected when either run says so."""
    limits = [e for e in events if e.kind == "limit"]
    if limits and not any(e.version is None or version < e.version for e in limits):
        return False

    def closed_at_once(i: int) -> bool:
        e = events[i]
        if e.kind != "introduced" or e.version is None:
            return False
        ends = [x for x in events[i + 1 :] if x.kind in ("introduced", "fixed", "last_affected")]
        return bool(ends) and ends[0].kind != "introduced" and ends[0].version == e.version

    def walk(ends_first: bool) -> bool:
        def rank(e: Event) -> tuple[int, Version, int]:
            if e.version is None:
                return (0, V("0"), 0) if e.kind == "introduced" else (2, V("0"), 0)
            return (1, e.version, int(ends_first and e.kind == "introduced"))

        kept = [e for i, e in enumerate(events) if not (ends_first and closed_at_once(i))]
        state = False
        for e in sorted(kept, key=rank):
            if e.kind == "introduced":
                if e.version is None or version >= e.version:
                    state = True
            elif e.version is None:
                continue
            elif e.kind == "fixed":
                state = state and version < e.version
            elif e.kind == "last_affected":
                state = state and version <= e.version
        return state

    return walk(False) or walk(True)


def test_adjacent_intervals_listed_out_of_order_stay_affected() -> None:
    # PYSEC-2022-42972 (apache-iotdb): "0.12.2 to 0.12.6, 0.13.0 to 0.13.2 are vulnerable"
    versions = universe("0.12.1", "0.12.2", "0.12.6", "0.13.0", "0.13.2", "0.14.0rc1", "0.14.0")
    events = [intro("0.13.0"), fixed("0.14.0rc1"), intro("0.12.2"), fixed("0.13.0")]
    expected = {"0.12.2", "0.12.6", "0.13.0", "0.13.2"}
    assert affected_set(versions, events) == expected
    for order in (events, list(reversed(events)), sorted(events, key=lambda e: e.kind)):
        assert affected_set(versions, order) == expected
    assert is_affected(V("0.13.1"), events) is True


def test_a_written_empty_interval_affects_nothing() -> None:
    versions = universe("0.9", "1.0", "2.0")
    assert affected_set(versions, [intro("1.0"), fixed("1.0")]) == set()
    # last_affected: X is the one affected version
    assert affected_set(versions, [intro("1.0"), last("1.0")]) == {"1.0"}


def test_randomized_evaluate_range_agrees_with_is_affected() -> None:
    rng = random.Random(1234)
    pool = sorted({V(t) for t in _POOL})
    checked = 0
    for _ in range(400):
        versions = sorted(rng.sample(pool, rng.randint(0, len(pool))))
        events: list[Event] = []
        for _ in range(rng.randint(0, 7)):
            kind = rng.choice(("introduced", "fixed", "last_affected", "limit"))
            if kind in ("introduced", "limit") and rng.random() < 0.2:
                events.append(Event(kind, None))
            else:
                events.append(Event(kind, rng.choice(pool)))
        flags = evaluate_range(versions, events)
        assert len(flags) == len(versions)
        for i, version in enumerate(versions):
            assert flags[i] == is_affected(version, events), (version, events)
            assert flags[i] == _reference(version, events), (version, events)
            checked += 1
    assert checked > 1000  # the loop really exercised many (version, range) pairs

"""Compaction of the Bandit result cache (``sources/bandit/compact.py``): past a count of parts
the small ones are merged; every lookup answers as before; a crash at any step loses nothing;
workers sharing a store never bring a replaced part back."""

from __future__ import annotations

import itertools
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest
from test_cache import CONFIG, FINDING, NOW, VERSION, ok

from aggregators.core.objects import LocalObjects, Objects
from aggregators.sources.bandit import compact as compact_module
from aggregators.sources.bandit.cache import SHARED_PREFIX, ResultCache
from aggregators.sources.bandit.compact import REPLACES, replaced_by, to_merge
from aggregators.sources.bandit.engine import CRASH, SKIPPED, TIMEOUT, FileResult

LIMITS = [(30.0, 512), (60.0, 1024), (120.0, 1024), (60.0, 4096), (600.0, 8192)]
HASHES = ["a", "b", "c", "d", "e", "f"]


def cache_of(
    directory: Path,
    *,
    limits: tuple[float, int] = (60.0, 1024),
    max_parts: int = 1000,
    shared: Objects | None = None,
    **key: Any,
) -> ResultCache:
    return ResultCache(
        directory,
        key.get("version", VERSION),
        key.get("config", CONFIG),
        *limits,
        shared=shared,
        max_parts=max_parts,
    )


def flush(cache: ResultCache, *results: FileResult, hours: int = 0) -> Path:
    for result in results:
        cache.add(result, NOW + timedelta(hours=hours))
    part = cache.flush()
    assert part is not None
    return part


def history(directory: Path, max_parts: int = 1000, shared: Objects | None = None) -> None:
    """Ten flushes of one file set, as ten nights under changing limits and Bandit versions
    would leave them: timeouts, crashes, an ok result arriving late, other versions."""
    nights: list[tuple[tuple[float, int], str, list[FileResult]]] = [
        ((30.0, 512), VERSION, [FileResult("a", TIMEOUT, "t"), ok("b", [FINDING])]),
        ((60.0, 1024), VERSION, [FileResult("a", TIMEOUT, "t2"), FileResult("c", CRASH, "oom")]),
        ((60.0, 4096), VERSION, [FileResult("c", CRASH, "oom again")]),
        ((120.0, 1024), VERSION, [FileResult("d", TIMEOUT, "t3")]),
        ((30.0, 512), "1.9.5", [ok("a"), ok("e")]),
        ((600.0, 8192), VERSION, [ok("a", [FINDING])]),
        ((60.0, 1024), VERSION, [FileResult("e", SKIPPED, "syntax error")]),
        ((60.0, 1024), VERSION, [ok("b", [FINDING])]),  # the same result again
        ((120.0, 2048), VERSION, [FileResult("d", TIMEOUT, "t4")]),
        ((30.0, 512), VERSION, [ok("f")]),
    ]
    for hours, (limits, version, results) in enumerate(nights):
        cache = cache_of(directory, limits=limits, max_parts=max_parts, version=version)
        cache.shared = shared
        flush(cache, *results, hours=hours)


def answers(directory: Path, shared: Objects | None = None) -> dict[Any, Any]:
    """What a lookup of every hash finds, under every limits and both Bandit versions."""
    return {
        (limits, version): cache_of(
            directory, limits=limits, version=version, shared=shared
        ).lookup(HASHES)
        for limits, version in itertools.product(LIMITS, (VERSION, "1.9.5"))
    }


def parts(directory: Path) -> list[Path]:
    return sorted(directory.glob("part-*.parquet"))


def test_past_the_count_the_small_parts_become_one_that_answers_as_they_did(
    tmp_path: Path,
) -> None:
    history(tmp_path / "plain")
    before = answers(tmp_path / "plain")
    assert len(parts(tmp_path / "plain")) == 10

    history(tmp_path / "merged", max_parts=4)
    live = parts(tmp_path / "merged")
    assert len(live) <= 4 and any("-merged-" in p.name for p in live)
    assert answers(tmp_path / "merged") == before  # every limits, every version
    rows = sum(pq.read_metadata(p).num_rows for p in live)
    assert rows < sum(pq.read_metadata(p).num_rows for p in parts(tmp_path / "plain"))
    assert not list((tmp_path / "merged").glob(".*.tmp"))


def test_a_merged_part_keeps_one_row_per_outcome_a_lookup_can_pick(tmp_path: Path) -> None:
    history(tmp_path, max_parts=1)
    (merged,) = parts(tmp_path)
    rows = pq.read_table(merged).to_pylist()
    by_key = {(r["file_sha256"], r["bandit_version"], r["status"]) for r in rows}
    assert ("a", VERSION, TIMEOUT) not in by_key  # an ok result for "a" makes its timeouts moot
    assert ("c", VERSION, CRASH) in by_key
    crashes = sorted((r["timeout_seconds"], r["memory_mb"]) for r in rows if r["status"] == CRASH)
    assert crashes == [(60.0, 4096)]  # (60, 1024) is within (60, 4096): never the better pick
    timeouts = sorted(
        (r["timeout_seconds"], r["memory_mb"]) for r in rows if r["file_sha256"] == "d"
    )
    assert timeouts == [(120.0, 2048)]
    assert len([r for r in rows if r["file_sha256"] == "b"]) == 1
    replaced = replaced_by(merged)  # every flushed part, and the merges before, carried
    assert len([n for n in replaced if "-merged-" not in n]) == 10


def test_large_parts_and_few_parts_are_left_alone(tmp_path: Path) -> None:
    history(tmp_path)
    live = parts(tmp_path)
    assert to_merge(live, max_parts=10, small_bytes=1 << 30) == []  # not past the count
    assert to_merge(live, max_parts=4, small_bytes=1) == []  # none small
    assert to_merge(live, max_parts=4, small_bytes=1 << 30) == live


def test_a_crash_while_writing_the_merged_part_leaves_the_parts_as_they_were(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    history(tmp_path)
    before, names = answers(tmp_path), [p.name for p in parts(tmp_path)]

    def crash(*args: Any, **kwargs: Any) -> None:
        Path(args[1]).write_bytes(b"PAR1 half")  # a torn temporary file
        raise OSError("No space left on device")

    monkeypatch.setattr(compact_module.pq, "write_table", crash)
    with pytest.raises(OSError, match="No space"):
        cache_of(tmp_path, max_parts=4).compact(NOW)
    monkeypatch.undo()
    assert [p.name for p in parts(tmp_path)] == names and not list(tmp_path.glob(".*"))
    assert answers(tmp_path) == before


def test_a_crash_before_the_replaced_parts_are_deleted_is_finished_by_the_next_reader(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    history(tmp_path)
    before, old = answers(tmp_path), {p.name for p in parts(tmp_path)}

    forget = ResultCache._forget

    def crash(self: ResultCache, names: set[str], remote: set[str]) -> None:
        if names:
            raise KeyboardInterrupt  # killed right after the merged part was in place
        forget(self, names, remote)

    monkeypatch.setattr(ResultCache, "_forget", crash)
    with pytest.raises(KeyboardInterrupt):
        cache_of(tmp_path, max_parts=4).compact(NOW)
    monkeypatch.undo()
    assert {p.name for p in parts(tmp_path)} > old  # both the merged part and the old ones
    assert answers(tmp_path) == before  # the old ones are already ignored...
    assert {p.name for p in parts(tmp_path)}.isdisjoint(old)  # ...and now deleted


def test_a_cache_that_indexed_the_old_parts_still_finds_every_result(tmp_path: Path) -> None:
    history(tmp_path)
    reader = cache_of(tmp_path)
    expected = cache_of(tmp_path).lookup(HASHES)
    assert set(reader.index()) == set(HASHES)
    assert cache_of(tmp_path, max_parts=2).compact(NOW) is not None  # another process merges
    assert reader.lookup(HASHES) == expected


def test_a_bad_tombstone_is_an_ordinary_part(tmp_path: Path) -> None:
    part = flush(cache_of(tmp_path), ok("a"))
    table = pq.read_table(part)
    pq.write_table(table.replace_schema_metadata({REPLACES: b'{"not": "a list"}'}), part)
    assert cache_of(tmp_path).lookup(["a"]) == {"a": ok("a")}


def test_workers_sharing_a_store_never_bring_a_replaced_part_back(tmp_path: Path) -> None:
    store = LocalObjects(tmp_path / "store")
    one, two = tmp_path / "worker-1", tmp_path / "worker-2"
    history(one, shared=store)
    assert cache_of(two, shared=store).lookup(HASHES)  # worker 2 holds a copy of every part
    old = {p.name for p in parts(two)}
    before = answers(one, shared=store)

    merged = cache_of(one, max_parts=4, shared=store).compact(NOW)
    assert merged is not None
    shared = {k.rsplit("/", 1)[-1] for k in (i.key for i in store.list_below(SHARED_PREFIX))}
    assert merged.name in shared and shared.isdisjoint(old)

    # worker 2 still holds the old parts: its next sync deletes them instead of uploading them
    assert answers(two, shared=store) == before
    assert {p.name for p in parts(two)}.isdisjoint(old)
    shared = {k.rsplit("/", 1)[-1] for k in (i.key for i in store.list_below(SHARED_PREFIX))}
    assert shared.isdisjoint(old) and merged.name in shared


def test_a_crash_before_the_store_forgets_the_replaced_parts_is_finished_by_any_worker(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    store = LocalObjects(tmp_path / "store")
    one, two = tmp_path / "worker-1", tmp_path / "worker-2"
    history(one, shared=store)
    before, old = answers(one, shared=store), {p.name for p in parts(one)}
    monkeypatch.setattr(ResultCache, "_forget", lambda *args: None)  # died after the upload
    assert cache_of(one, max_parts=4, shared=store).compact(NOW) is not None
    monkeypatch.undo()
    assert answers(two, shared=store) == before  # a fresh worker: the old ones never read
    assert {p.name for p in parts(two)}.isdisjoint(old)
    shared = {k.rsplit("/", 1)[-1] for k in (i.key for i in store.list_below(SHARED_PREFIX))}
    assert shared.isdisjoint(old)

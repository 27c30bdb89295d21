"""The content-addressed Bandit result cache (``sources/bandit/cache.py``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
import pytest

from aggregators.core.contracts import contract
from aggregators.sources.bandit import cache as cache_module
from aggregators.sources.bandit.cache import ResultCache
from aggregators.sources.bandit.engine import CRASH, ERROR, OK, SKIPPED, TIMEOUT, FileResult

NOW = datetime(2026, 11, 22, 12, 0, tzinfo=UTC)
VERSION = "1.9.4"
CONFIG = "cfg0123456789abc"
FINDING = {
    "test_id": "B602",
    "test_name": "subprocess_popen_with_shell_equals_true",
    "severity": "HIGH",
    "confidence": "HIGH",
    "cwe": 78,
    "line": 3,
    "line_range": [3, 4],
    "code_sha256": "c" * 64,
    "issue_text": "subprocess call with shell=True identified, security issue.",
    "code": "3 subprocess.call(cmd, shell=True)\n",
}


def make_cache(
    directory: Path,
    *,
    version: str = VERSION,
    config: str = CONFIG,
    timeout: float = 60.0,
    memory: int = 1024,
) -> ResultCache:
    return ResultCache(directory, version, config, timeout, memory)


def ok(sha: str, findings: list[dict[str, Any]] | None = None) -> FileResult:
    return FileResult(sha, OK, loc=12, analysis_ms=5, findings=list(findings or []))


def store(directory: Path, *results: FileResult, at: datetime = NOW, **key: Any) -> Path:
    """Flush ``results`` as one part written by a cache with ``key``; return the part."""
    cache = make_cache(directory, **key)
    for result in results:
        cache.add(result, at)
    part = cache.flush()
    assert part is not None
    return part


def test_flush_writes_one_complete_part(tmp_path: Path) -> None:
    directory = tmp_path / "cache" / "bandit"  # created on the first flush
    cache = make_cache(directory)
    assert cache.flush() is None and not directory.exists()
    cache.add(ok("a", [FINDING]), NOW)
    cache.add(FileResult("b", SKIPPED, "syntax error: invalid syntax (line 1)"), NOW)
    assert cache.pending == 2
    part = cache.flush()
    assert part is not None and part.parent == directory
    assert [p.name for p in directory.iterdir()] == [part.name]  # no temp file left
    assert part.name.startswith("part-20261122T120000-") and part.suffix == ".parquet"
    assert cache.pending == 0 and cache.parts_written == 1
    assert cache.flush() is None and cache.parts_written == 1

    written = pq.read_table(part)
    assert written.schema.equals(contract("bandit_cache").schema)
    rows = {r["file_sha256"]: r for r in written.to_pylist()}
    assert rows["a"]["findings"] == [FINDING]
    assert (rows["a"]["bandit_version"], rows["a"]["config_hash"]) == (VERSION, CONFIG)
    assert (rows["a"]["timeout_seconds"], rows["a"]["memory_mb"]) == (60.0, 1024)
    assert rows["b"]["status"] == SKIPPED and rows["b"]["loc"] == 0


def test_lookup_finds_pending_and_flushed_results(tmp_path: Path) -> None:
    store(tmp_path, ok("a", [FINDING]))
    cache = make_cache(tmp_path)
    cache.add(ok("b"), NOW)
    found = cache.lookup(["a", "b", "c"])
    assert found == {"a": ok("a", [FINDING]), "b": ok("b")}
    cache.flush()
    assert make_cache(tmp_path).lookup(["b"]) == {"b": ok("b")}


def test_results_are_keyed_by_bandit_version_and_config(tmp_path: Path) -> None:
    store(tmp_path, ok("a"))
    assert make_cache(tmp_path, version="1.9.5").lookup(["a"]) == {}
    assert make_cache(tmp_path, config="other").lookup(["a"]) == {}
    assert make_cache(tmp_path).lookup(["a"]) == {"a": ok("a")}


@pytest.mark.parametrize("status", [TIMEOUT, CRASH, ERROR])
def test_limit_dependent_failures_reused_only_under_limits_no_larger(
    tmp_path: Path, status: str
) -> None:
    failed = FileResult("a", status, "worker gave up")
    store(tmp_path, failed, timeout=60.0, memory=1024)
    assert make_cache(tmp_path, timeout=60.0, memory=1024).lookup(["a"]) == {"a": failed}
    assert make_cache(tmp_path, timeout=30.0, memory=512).lookup(["a"]) == {"a": failed}
    assert make_cache(tmp_path, timeout=120.0, memory=1024).lookup(["a"]) == {}
    assert make_cache(tmp_path, timeout=60.0, memory=2048).lookup(["a"]) == {}


def test_other_outcomes_are_reused_under_any_limits(tmp_path: Path) -> None:
    skipped = FileResult("s", SKIPPED, "syntax error: invalid syntax (line 1)")
    store(tmp_path, ok("a"), skipped, timeout=1.0, memory=64)
    found = make_cache(tmp_path, timeout=600.0, memory=8192).lookup(["a", "s"])
    assert found == {"a": ok("a"), "s": skipped}


@pytest.mark.parametrize("ok_first", [True, False])
def test_an_ok_result_wins_over_a_retryable_one(tmp_path: Path, ok_first: bool) -> None:
    timeout = FileResult("a", TIMEOUT, "timeout: Bandit ran over 60 s")
    first, second = (ok("a"), timeout) if ok_first else (timeout, ok("a"))
    store(tmp_path, first, at=NOW)
    store(tmp_path, second, at=NOW + timedelta(days=1))
    assert len(list(tmp_path.glob("part-*.parquet"))) == 2
    assert make_cache(tmp_path).lookup(["a"]) == {"a": ok("a")}


def test_a_part_removed_after_the_index_was_read_is_skipped(tmp_path: Path) -> None:
    gone = store(tmp_path, ok("a"))
    store(tmp_path, ok("b"), at=NOW + timedelta(hours=1))
    cache = make_cache(tmp_path)
    assert set(cache.index()) == {"a", "b"}
    gone.unlink()
    assert cache.lookup(["a", "b"]) == {"b": ok("b")}  # "a" will simply be analysed again


def test_missing_and_empty_directories_hold_nothing(tmp_path: Path) -> None:
    assert make_cache(tmp_path / "missing").lookup(["a"]) == {}
    (tmp_path / "empty").mkdir()
    (tmp_path / "empty" / ".part-x.parquet.tmp").write_bytes(b"half written")
    assert make_cache(tmp_path / "empty").lookup(["a"]) == {}


def test_two_caches_flushing_to_one_directory_keep_both_parts(tmp_path: Path) -> None:
    one, two = make_cache(tmp_path), make_cache(tmp_path)
    one.add(ok("a"), NOW)
    two.add(ok("b"), NOW)  # same second, same process
    first, second = one.flush(), two.flush()
    assert first is not None and second is not None and first.name != second.name
    assert sorted(tmp_path.glob("part-*.parquet")) == sorted([first, second])
    assert make_cache(tmp_path).lookup(["a", "b"]) == {"a": ok("a"), "b": ok("b")}


def test_the_index_is_read_once_and_lookups_read_only_needed_parts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    parts = [store(tmp_path, ok(sha), at=NOW + timedelta(hours=i)) for i, sha in enumerate("abc")]
    reads: list[tuple[str, bool]] = []
    real_read = ResultCache._read

    def counting(
        self: ResultCache, part: str, columns: list[str] | None, where: pc.Expression
    ) -> pa.Table:
        reads.append((part, columns == cache_module.INDEX_COLUMNS))
        return real_read(self, part, columns, where)

    monkeypatch.setattr(ResultCache, "_read", counting)
    cache = make_cache(tmp_path)
    assert cache.lookup(["unknown"]) == {}
    assert reads == [(str(p), True) for p in parts]  # the index: each part once, nothing else
    reads.clear()
    assert cache.lookup(["unknown", "other"]) == {}
    assert reads == []  # hashes the index does not know read nothing
    assert cache.lookup(["b"]) == {"b": ok("b")}
    assert reads == [(str(parts[1]), False)]


def test_a_flush_extends_the_index_already_read(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cache = make_cache(tmp_path)
    assert cache.lookup(["a"]) == {}
    cache.add(ok("a"), NOW)
    part = cache.flush()
    index_reads: list[str] = []
    real_read = ResultCache._read

    def counting(
        self: ResultCache, part: str, columns: list[str] | None, where: pc.Expression
    ) -> pa.Table:
        if columns == cache_module.INDEX_COLUMNS:
            index_reads.append(part)
        return real_read(self, part, columns, where)

    monkeypatch.setattr(ResultCache, "_read", counting)
    assert cache.index() == {"a": [str(part)]}
    assert cache.lookup(["a"]) == {"a": ok("a")}  # from the part: nothing is pending now
    assert index_reads == []

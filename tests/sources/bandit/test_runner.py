"""Bandit worker processes (``sources/bandit/runner.py``): batches, limits, culprits, clean-up."""

from __future__ import annotations

import contextlib
import hashlib
import multiprocessing
import os
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from aggregators.sources.bandit import engine
from aggregators.sources.bandit.engine import CRASH, OK, SKIPPED, TIMEOUT, FileResult
from aggregators.sources.bandit.runner import (
    BATCH_MAX_BYTES,
    BATCH_MAX_FILES,
    BanditRunner,
    FileJob,
    Limits,
    make_batches,
)

LIMITS = Limits(timeout_seconds=2, memory_mb=2048)
SHELL = b"import subprocess\n\ndef run(cmd):\n    subprocess.call(cmd, shell=True)\n"


def job(sha: str, size: int) -> FileJob:
    return FileJob(sha, Path(f"/nonexistent/{sha}.py"), size)


def flat(batches: list[list[FileJob]]) -> list[FileJob]:
    return [j for batch in batches for j in batch]


# --- make_batches ----------------------------------------------------------------------------


def test_no_jobs_no_batches() -> None:
    assert make_batches([], 4) == []


def test_every_job_once_largest_first() -> None:
    jobs = [job(f"{i:03d}", size) for i, size in enumerate([5, 900, 30, 900, 1, 70_000, 30])]
    batches = make_batches(jobs, 2)
    ordered = flat(batches)
    assert sorted(ordered, key=lambda j: j.sha256) == sorted(jobs, key=lambda j: j.sha256)
    assert [j.size for j in ordered] == [70_000, 900, 900, 30, 30, 5, 1]
    assert [j.sha256 for j in ordered[1:3]] == ["001", "003"]  # equal sizes: by hash
    assert batches[0] == [job("005", 70_000)]  # one file may exceed the budget alone


def test_enough_batches_to_keep_every_worker_busy() -> None:
    jobs = [job(f"{i:02d}", 1000) for i in range(40)]
    batches = make_batches(jobs, 2)
    assert len(batches) >= 4 * 2
    assert max(len(b) for b in batches) - min(len(b) for b in batches) <= 1


def test_batches_stop_at_max_files() -> None:
    jobs = [job(f"{i:05d}", 10) for i in range(1000)]
    batches = make_batches(jobs, 1)
    assert len(flat(batches)) == 1000
    assert max(len(b) for b in batches) == BATCH_MAX_FILES


def test_batches_stop_at_max_bytes() -> None:
    jobs = [job(f"{i:03d}", 100 << 10) for i in range(50)] + [job("huge", 3 * BATCH_MAX_BYTES)]
    batches = make_batches(jobs, 1)
    assert len(flat(batches)) == 51
    assert batches[0] == [job("huge", 3 * BATCH_MAX_BYTES)]
    assert all(sum(j.size for j in b) <= BATCH_MAX_BYTES for b in batches[1:])
    assert len(batches[1]) == BATCH_MAX_BYTES // (100 << 10)


# --- BanditRunner.run ------------------------------------------------------------------------


def write(directory: Path, name: str, data: bytes) -> FileJob:
    path = directory / name
    path.write_bytes(data)
    return FileJob(hashlib.sha256(data).hexdigest(), path, len(data))


@pytest.fixture(autouse=True)
def bandit_loaded() -> Iterator[None]:
    """Bandit's plugins are loaded in the parent once, so forked workers start fast."""
    engine.load_bandit()
    yield
    assert multiprocessing.active_children() == []  # no worker outlives a run


def test_every_job_gets_a_result_from_real_workers(tmp_path: Path) -> None:
    jobs = [
        write(tmp_path, "shell.py", SHELL),
        write(tmp_path, "clean.py", b"def add(a, b):\n    return a + b\n"),
        write(tmp_path, "py2.py", b"print 'hello'\n"),
    ]
    seen: list[FileResult] = []
    runner = BanditRunner(2, LIMITS)
    results = runner.run(jobs, seen.append)
    assert set(results) == {j.sha256 for j in jobs}
    assert sorted(r.sha256 for r in seen) == sorted(results)  # once per job
    shell, clean, py2 = (results[j.sha256] for j in jobs)
    assert (shell.status, shell.loc) == (OK, 3)
    assert [(f["test_id"], f["severity"], f["line"]) for f in shell.findings] == [
        ("B404", "LOW", 1),
        ("B602", "HIGH", 4),
    ]
    assert (clean.status, clean.findings) == (OK, [])
    assert py2.status == SKIPPED and py2.reason is not None
    assert runner.processes_started == len(make_batches(jobs, 2)) >= 1


def test_nothing_to_do_starts_nothing() -> None:
    runner = BanditRunner(2, LIMITS)
    assert runner.run([]) == {}
    assert runner.processes_started == 0


class Culprits:
    """Replaces ``engine.analyse_file`` (before the fork) to misbehave on chosen hashes."""

    def __init__(self, directory: Path) -> None:
        self.pids = directory / "pids"
        self.real = engine.analyse_file

    def __call__(self, sha256: str, path: Path) -> FileResult:
        if sha256.startswith("hang"):
            with self.pids.open("a") as out:
                out.write(f"{os.getpid()}\n")
            time.sleep(3600)
        if sha256.startswith("die"):
            # A grandchild holds the worker's pipes a moment, so the parent hears of the exit
            # only once the worker is gone (see test_a_worker_that_exits_early_is_a_crash).
            if os.fork() == 0:
                time.sleep(0.2)
                os._exit(0)
            os._exit(3)
        if sha256.startswith("vanish"):  # closes its pipes, then exits a moment later
            for fd in [int(p.name) for p in Path("/proc/self/fd").iterdir()]:
                if fd > 2:
                    with contextlib.suppress(OSError):
                        os.close(fd)
            time.sleep(0.3)
            os._exit(3)
        if sha256.startswith("hog"):
            raise MemoryError("cannot allocate")
        return self.real(sha256, path)

    def hung_pids(self) -> list[int]:
        """Pids of workers that started hanging (none when the run ended before one did)."""
        if not self.pids.exists():
            return []
        return [int(line) for line in self.pids.read_text().split()]


def small_jobs(directory: Path, *names: str) -> list[FileJob]:
    """A large file alone in its batch, then small files named ``names`` that share one."""
    big = write(directory, "big.py", b"X = '" + b"a" * 20_000 + b"'\n")
    small = []
    for name in names:
        path = directory / f"{name}.py"
        path.write_bytes(b"def f(x):\n    return x + 1\n")
        small.append(FileJob(name, path, path.stat().st_size))
    return [big, *small]


def assert_gone(pid: int) -> None:
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


def test_a_hanging_file_times_out_alone(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    culprits = Culprits(tmp_path)
    monkeypatch.setattr(engine, "analyse_file", culprits)
    jobs = small_jobs(tmp_path, "hang", "ok-1", "ok-2")
    batches = make_batches(jobs, 2)
    assert [len(b) for b in batches] == [1, 3]  # the culprit shares a batch

    seen: list[str] = []
    runner = BanditRunner(2, LIMITS)
    started = time.monotonic()
    results = runner.run(jobs, lambda r: seen.append(r.sha256))
    elapsed = time.monotonic() - started

    assert sorted(seen) == sorted(j.sha256 for j in jobs)
    assert results["hang"].status == TIMEOUT
    assert results["hang"].reason == "timeout: Bandit ran over 2 s"
    assert all(results[j.sha256].status == OK for j in jobs if j.sha256 != "hang")
    assert runner.processes_started == 2 + 3  # the batch, then its files one by one
    assert 2 * LIMITS.timeout_seconds <= elapsed < 4 * LIMITS.timeout_seconds
    pids = culprits.hung_pids()
    assert len(pids) == 2  # in the batch, then alone
    for pid in pids:
        assert_gone(pid)


def test_crashes_are_pinned_on_the_culprits(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine, "analyse_file", Culprits(tmp_path))
    jobs = small_jobs(tmp_path, "die", "hog", "ok-1", "ok-2")
    assert [len(b) for b in make_batches(jobs, 2)] == [1, 4]
    seen: list[str] = []
    runner = BanditRunner(2, LIMITS)
    results = runner.run(jobs, lambda r: seen.append(r.sha256))
    assert sorted(seen) == sorted(j.sha256 for j in jobs)
    assert (results["die"].status, results["die"].reason) == (
        CRASH,
        "bandit worker died: exit code 3",
    )
    assert (results["hog"].status, results["hog"].reason) == (
        CRASH,
        "bandit worker died: MemoryError: cannot allocate",
    )
    assert results["ok-1"].status == results["ok-2"].status == OK
    assert results[jobs[0].sha256].status == OK
    assert runner.processes_started == 2 + 4


def reap_children(before: frozenset[int] = frozenset()) -> list[str]:
    """Kill and reap worker processes a failed run left behind (not those alive ``before``, which
    other tests started); return their names."""
    leftover = [p for p in multiprocessing.active_children() if p.pid not in before]
    for process in leftover:
        process.kill()
        process.join()
    return [process.name for process in leftover]


def test_workers_are_stopped_when_the_caller_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    culprits = Culprits(tmp_path)
    monkeypatch.setattr(engine, "analyse_file", culprits)
    jobs = small_jobs(tmp_path, "hang", "ok-1")

    def refuse(result: FileResult) -> None:
        raise RuntimeError("caller gave up")

    before = frozenset(p.pid for p in multiprocessing.active_children() if p.pid is not None)
    try:
        with pytest.raises(RuntimeError, match="caller gave up"):
            BanditRunner(2, LIMITS).run(jobs, refuse)
    finally:
        leftover = reap_children(before)
    assert leftover == []
    for pid in culprits.hung_pids():
        assert_gone(pid)


def test_a_worker_that_exits_early_is_a_crash(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(engine, "analyse_file", Culprits(tmp_path))
    path = tmp_path / "vanish.py"
    path.write_bytes(b"pass\n")
    results = BanditRunner(1, LIMITS).run([FileJob("vanish", path, 5)])
    assert (results["vanish"].status, results["vanish"].reason) == (
        CRASH,
        "bandit worker died: exit code 3",
    )

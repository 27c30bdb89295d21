"""Bandit worker processes: files spread over ``workers`` forked processes, each batch under a
wall-clock timeout and an address-space limit.

A batch that runs out of time or kills its process loses nothing else: its files are run again
one by one (each with the same timeout), so only the culprit is recorded as ``timeout`` or
``crash``. Workers are forked per batch, so a limit hit, a hang or a crash never outlives it.
"""

from __future__ import annotations

import contextlib
import logging
import multiprocessing
import resource
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from pathlib import Path
from typing import cast

from aggregators.sources.bandit import engine
from aggregators.sources.bandit.engine import CRASH, TIMEOUT, FileResult

log = logging.getLogger(__name__)

BATCH_MAX_FILES = 64
BATCH_MAX_BYTES = 512 << 10


@dataclass(frozen=True)
class FileJob:
    """One file content to analyse, stored at ``path``."""

    sha256: str
    path: Path
    size: int


@dataclass(frozen=True)
class Limits:
    """What one worker process may use."""

    timeout_seconds: float
    memory_mb: int


def make_batches(jobs: Sequence[FileJob], workers: int) -> list[list[FileJob]]:
    """Group jobs into batches of similar size, largest files first.

    Enough batches that every worker stays busy to the end (at least four per worker when
    there is work for it), none larger than ``BATCH_MAX_FILES`` files or about
    ``BATCH_MAX_BYTES`` bytes (a single file may exceed that alone).
    """
    ordered = sorted(jobs, key=lambda j: (-j.size, j.sha256))
    total = sum(j.size for j in ordered)
    budget = max(1, min(BATCH_MAX_BYTES, total // max(1, workers * 4)))
    batches: list[list[FileJob]] = []
    current: list[FileJob] = []
    size = 0
    for job in ordered:
        if current and (size + job.size > budget or len(current) >= BATCH_MAX_FILES):
            batches.append(current)
            current, size = [], 0
        current.append(job)
        size += job.size
    if current:
        batches.append(current)
    return batches


def _mapped_bytes() -> int:
    """Virtual memory this process has mapped now (``VmSize``), 0 when it cannot be read."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:  # noqa: PTH123
            for line in status:
                if line.startswith("VmSize:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    return 0


def _child(conn: Connection, jobs: list[FileJob], memory_mb: int) -> None:
    """Body of a worker process: limit memory, analyse the batch, send the results back."""
    try:
        # The child inherits the parent's address space (pyarrow and DuckDB reserve a lot of
        # it), so the limit bounds what Bandit may add on top of what is already mapped.
        limit = _mapped_bytes() + (memory_mb << 20)
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))
        engine.quiet_bandit_logging()
        results = [engine.analyse_file(job.sha256, job.path) for job in jobs]
        conn.send(("ok", results))
    except BaseException as exc:  # report anything, then exit: the parent decides
        with contextlib.suppress(BaseException):
            conn.send(("error", f"{type(exc).__name__}: {exc}"[:300]))
    finally:
        conn.close()


@contextmanager
def _children_allowed() -> Iterator[None]:
    """Let a daemonic process start a worker. Celery's prefork pool (Airflow's CeleryExecutor)
    runs every task in a daemonic process, where ``multiprocessing`` refuses to start children
    because a daemon may exit without reaping them; this runner kills and reaps every worker it
    starts (``run``'s ``finally``), so the refusal is lifted while one starts."""
    config = multiprocessing.current_process()._config  # type: ignore[attr-defined]
    daemonic = config.get("daemon")
    if daemonic:
        config["daemon"] = False
    try:
        yield
    finally:
        if daemonic:
            config["daemon"] = daemonic


@dataclass
class _Running:
    process: BaseProcess
    conn: Connection
    jobs: list[FileJob]
    deadline: float
    stopped: bool = False
    exitcode: int | None = None


class BanditRunner:
    """Runs file jobs in forked worker processes and counts the processes it started."""

    def __init__(self, workers: int, limits: Limits) -> None:
        """Use up to ``workers`` processes at once, each under ``limits``."""
        self.workers = max(1, workers)
        self.limits = limits
        self.processes_started = 0
        self._context = multiprocessing.get_context("fork")

    def run(
        self, jobs: Sequence[FileJob], on_result: Callable[[FileResult], None] | None = None
    ) -> dict[str, FileResult]:
        """Analyse ``jobs``; return a result for every job's sha256 (never fewer)."""
        results: dict[str, FileResult] = {}
        if not jobs:
            return results
        pending: deque[list[FileJob]] = deque(make_batches(jobs, self.workers))
        running: list[_Running] = []

        def done(result: FileResult) -> None:
            results[result.sha256] = result
            if on_result is not None:
                on_result(result)

        try:
            while pending or running:
                while pending and len(running) < self.workers:
                    running.append(self._start(pending.popleft()))
                now = time.monotonic()
                timeout = max(0.0, min(r.deadline for r in running) - now)
                handles = [r.conn for r in running] + [r.process.sentinel for r in running]
                wait(handles, timeout)
                still: list[_Running] = []
                for item in running:
                    finished = self._collect(item, pending, done)
                    if not finished:
                        still.append(item)
                running = still
        finally:
            for item in running:
                self._stop(item)
        return results

    def _start(self, jobs: list[FileJob]) -> _Running:
        parent, child = self._context.Pipe(duplex=False)
        process = self._context.Process(
            target=_child, args=(child, jobs, self.limits.memory_mb), daemon=True
        )
        with _children_allowed():
            process.start()
        child.close()
        self.processes_started += 1
        return _Running(process, parent, jobs, time.monotonic() + self.limits.timeout_seconds)

    def _stop(self, item: _Running) -> int | None:
        """Kill (if still running) and reap the worker; return its exit code (idempotent)."""
        if item.stopped:
            return item.exitcode
        item.stopped = True
        if item.process.is_alive():
            item.process.kill()
        item.process.join()
        item.exitcode = item.process.exitcode
        item.conn.close()
        item.process.close()
        return item.exitcode

    def _collect(
        self,
        item: _Running,
        pending: deque[list[FileJob]],
        done: Callable[[FileResult], None],
    ) -> bool:
        """Handle a batch that answered, died or ran out of time; False while it still runs."""
        message: tuple[str, object] | None = None
        if item.conn.poll():
            try:
                message = item.conn.recv()
            except (EOFError, OSError):
                message = None
        elif item.process.is_alive() and time.monotonic() < item.deadline:
            return False
        if message is None:  # the pipe closed: give a dying worker until its deadline to exit
            item.process.join(max(0.0, item.deadline - time.monotonic()))
        timed_out = message is None and item.process.is_alive()
        exitcode = self._stop(item)
        if message is not None and message[0] == "ok":
            for result in cast(list[FileResult], message[1]):
                done(result)
            return True
        if len(item.jobs) > 1:
            log.info(
                "bandit batch of %d files %s; re-running them one by one",
                len(item.jobs),
                "timed out" if timed_out else "failed",
            )
            pending.extendleft([job] for job in reversed(item.jobs))
            return True
        job = item.jobs[0]
        if timed_out:
            reason = f"timeout: Bandit ran over {self.limits.timeout_seconds:g} s"
            log.warning("bandit timed out on %s", job.sha256)
            done(FileResult(job.sha256, TIMEOUT, reason))
        else:
            detail = str(message[1]) if message is not None else f"exit code {exitcode}"
            log.warning("bandit worker failed on %s: %s", job.sha256, detail)
            done(FileResult(job.sha256, CRASH, f"bandit worker died: {detail}"))
        return True

"""Progress reporting: sources report stages and steps; the CLI shows them, tasks log them.

Three ways to watch: :class:`NullProgress` (tests), the rich display of ``seckb ingest`` on a
terminal (``aggregators.cli.progress``), and :class:`HeartbeatProgress`, one line at a steady
interval for logs (cron, CI, Airflow tasks) with done/total, rate and ETA.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from types import TracebackType
from typing import Protocol


class Progress(Protocol):
    """What a long-running step tells whoever is watching."""

    def stage(self, description: str, total: int | None = None) -> None:
        """Start a new stage with an optional number of steps."""

    def advance(self, steps: int = 1) -> None:
        """Mark ``steps`` steps of the current stage done."""

    def detail(self, text: str) -> None:
        """A short note on the current stage, shown beside it (``120/340 files analysed``)."""


class NullProgress:
    """Progress that goes nowhere (tests, and callers that log instead)."""

    def stage(self, description: str, total: int | None = None) -> None:
        """Ignore the stage."""

    def advance(self, steps: int = 1) -> None:
        """Ignore the steps."""

    def detail(self, text: str) -> None:
        """Ignore the note."""


def human_duration(seconds: float) -> str:
    """``42s``, ``3m05s``, ``2h04m``: a duration for people."""
    seconds = max(0, round(seconds))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


class HeartbeatProgress:
    """Progress as one line at a steady interval, for logs: ``progress: scanning sdists with
    Bandit: 12/40 (30%), 0.4/s, ETA 1m10s; 120/340 files analysed``.

    Lines come from a background thread while the object is used as a context manager, so a
    stage that advances slowly (or not at all) still shows it is alive; with ``announce`` a line
    is also written when a stage starts. ``interval`` 0 writes no heartbeat.
    """

    def __init__(
        self,
        write: Callable[[str], None],
        interval: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        announce: bool = False,
    ) -> None:
        """Write lines with ``write`` every ``interval`` seconds (``clock`` for the tests)."""
        self._write = write
        self.interval = interval
        self.announce = announce
        self._clock = clock
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._description: str | None = None
        self._total: int | None = None
        self._done = 0
        self._started = clock()
        self._detail = ""

    def __enter__(self) -> HeartbeatProgress:
        """Start the heartbeat thread (none when the interval is 0)."""
        if self.interval > 0:
            self._thread = threading.Thread(target=self._run, name="heartbeat", daemon=True)
            self._thread.start()
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        value: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        """Stop the heartbeat thread."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            self.beat()

    def stage(self, description: str, total: int | None = None) -> None:
        """Start a stage (and say so in one line when announcing)."""
        with self._lock:
            self._description, self._total, self._done = description, total, 0
            self._started, self._detail = self._clock(), ""
        if self.announce:
            self._write(f"progress: {description}" + (f" ({total:,})" if total is not None else ""))

    def advance(self, steps: int = 1) -> None:
        """Count ``steps`` more steps done."""
        with self._lock:
            self._done += steps

    def detail(self, text: str) -> None:
        """Keep ``text`` for the next line."""
        with self._lock:
            self._detail = text

    def line(self) -> str | None:
        """The heartbeat line now (``None`` before the first stage)."""
        with self._lock:
            if self._description is None:
                return None
            done, total, detail = self._done, self._total, self._detail
            elapsed = max(self._clock() - self._started, 1e-9)
            text = f"progress: {self._description}: {done:,}"
        rate = done / elapsed
        if total:
            text += f"/{total:,} ({100 * done / total:.0f}%)"
        text += f", {rate:.2f}/s" if rate < 10 else f", {rate:,.0f}/s"
        if total and rate > 0 and done < total:
            text += f", ETA {human_duration((total - done) / rate)}"
        text += f", {human_duration(elapsed)} elapsed"
        return text + (f"; {detail}" if detail else "")

    def beat(self) -> None:
        """Write the heartbeat line now (the thread calls this every ``interval``)."""
        text = self.line()
        if text is not None:
            self._write(text)

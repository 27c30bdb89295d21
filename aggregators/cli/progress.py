"""How ``seckb`` shows what it is doing: logging on stderr, and the progress of ``seckb ingest``.

On a terminal, log records go through rich on the same console as the progress display, so a
warning prints above the bar instead of being glued onto it. Without a terminal (cron, CI,
pipes), records are plain one-line log lines, never wrapped, and a long run prints a heartbeat
line at a steady interval (:class:`aggregators.core.progress.HeartbeatProgress`).
"""

from __future__ import annotations

import logging
from contextlib import AbstractContextManager

from rich.console import Console
from rich.logging import RichHandler
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from aggregators.core.progress import HeartbeatProgress
from aggregators.core.progress import Progress as ProgressProtocol

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
HANDLER_NAME = "seckb-cli"


def setup_logging(err: Console, verbose: bool) -> None:
    """Send log records to ``err``: through rich on a terminal (above any progress display),
    as plain unwrapped lines otherwise. ``verbose`` shows INFO records, else WARNING and up."""
    root = logging.getLogger()
    for old in [h for h in root.handlers if h.get_name() == HANDLER_NAME]:
        root.removeHandler(old)
    handler: logging.Handler
    if err.is_terminal:
        handler = RichHandler(
            console=err, show_path=False, markup=False, rich_tracebacks=False, log_time_format="%X"
        )
        handler.setFormatter(logging.Formatter("%(name)s: %(message)s"))
    else:
        handler = logging.StreamHandler(err.file)
        handler.setFormatter(logging.Formatter(LOG_FORMAT))
    handler.set_name(HANDLER_NAME)
    level = logging.INFO if verbose else logging.WARNING
    handler.setLevel(level)
    root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > level:
        root.setLevel(level)


class RichProgress:
    """The pipeline's progress on a terminal: stage, bar, done/total, elapsed, ETA, a note."""

    def __init__(self, console: Console) -> None:
        """Create an idle progress display on ``console``."""
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            TextColumn("ETA"),
            TimeRemainingColumn(),
            TextColumn("{task.fields[detail]}"),
            console=console,
            transient=True,
        )
        self._task: TaskID | None = None

    def __enter__(self) -> RichProgress:
        """Start drawing."""
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop drawing and clear the display."""
        self._progress.stop()

    def stage(self, description: str, total: int | None = None) -> None:
        """Replace the current stage with a new one."""
        if self._task is not None:
            self._progress.remove_task(self._task)
        self._task = self._progress.add_task(description, total=total, detail="")

    def advance(self, steps: int = 1) -> None:
        """Advance the current stage."""
        if self._task is not None:
            self._progress.advance(self._task, steps)

    def detail(self, text: str) -> None:
        """Show ``text`` beside the bar."""
        if self._task is not None:
            self._progress.update(self._task, detail=text)


def progress_for(
    err: Console, heartbeat_seconds: float
) -> AbstractContextManager[ProgressProtocol]:
    """The progress display for a run: rich on a terminal, else a heartbeat written to
    ``err`` every ``heartbeat_seconds`` (only stage lines when it is 0)."""
    if err.is_terminal:
        return RichProgress(err)

    def write(line: str) -> None:
        err.print(line, markup=False, highlight=False, soft_wrap=True)

    return HeartbeatProgress(write, heartbeat_seconds)

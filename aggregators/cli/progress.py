"""The progress display of ``seckb ingest`` on a terminal (rich)."""

from __future__ import annotations

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)


class RichProgress:
    """The pipeline's progress, shown on stderr while a person watches (hidden when piped)."""

    def __init__(self, console: Console) -> None:
        """Create an idle progress display on ``console``."""
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
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
        self._task = self._progress.add_task(description, total=total)

    def advance(self, steps: int = 1) -> None:
        """Advance the current stage."""
        if self._task is not None:
            self._progress.advance(self._task, steps)

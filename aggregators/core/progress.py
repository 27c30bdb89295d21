"""Progress reporting: sources report stages and steps; the CLI shows them, tasks log them."""

from __future__ import annotations

from typing import Protocol


class Progress(Protocol):
    """What a long-running step tells whoever is watching."""

    def stage(self, description: str, total: int | None = None) -> None:
        """Start a new stage with an optional number of steps."""

    def advance(self, steps: int = 1) -> None:
        """Mark ``steps`` steps of the current stage done."""


class NullProgress:
    """Progress that goes nowhere (tests, Airflow tasks: they log instead)."""

    def stage(self, description: str, total: int | None = None) -> None:
        """Ignore the stage."""

    def advance(self, steps: int = 1) -> None:
        """Ignore the steps."""

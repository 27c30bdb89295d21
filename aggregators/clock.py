"""Time helpers for the edges; pure code takes ``now`` as an argument instead."""

from __future__ import annotations

from datetime import UTC, datetime


def utcnow() -> datetime:
    """Return the current time as an aware UTC datetime (microsecond precision)."""
    return datetime.now(UTC)

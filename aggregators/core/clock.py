"""Time helpers for the edges; pure code takes ``now`` as an argument instead."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime
from typing import Any

_FRACTION = re.compile(r"(\.\d{6})\d+")


def utcnow() -> datetime:
    """Return the current time as an aware UTC datetime (microsecond precision)."""
    return datetime.now(UTC)


def parse_timestamp(value: Any) -> datetime:
    """Parse an RFC 3339 timestamp (string, or a datetime YAML already built) into aware UTC."""
    if isinstance(value, datetime):
        stamp = value
    elif isinstance(value, date):
        stamp = datetime(value.year, value.month, value.day)
    elif isinstance(value, str):
        text = _FRACTION.sub(r"\1", value.strip().replace("z", "Z"))
        stamp = datetime.fromisoformat(text)
    else:
        raise ValueError(f"not a timestamp: {value!r:.60}")
    if stamp.tzinfo is None:
        stamp = stamp.replace(tzinfo=UTC)
    return stamp.astimezone(UTC)

"""OSV range events: the vocabulary shared by parsing (sources) and evaluation (knowledge).

Kept free of imports so the clients that evaluate ranges stay light.
"""

from __future__ import annotations

EVENT_KINDS = ("introduced", "fixed", "last_affected", "limit")
"""The OSV range event types."""


def is_unbounded(kind: str, version: str) -> bool:
    """OSV's two special event values: ``introduced: "0"`` (before every version) and
    ``limit: "*"`` (no upper limit); neither is a version."""
    return (kind == "introduced" and version == "0") or (kind == "limit" and version == "*")

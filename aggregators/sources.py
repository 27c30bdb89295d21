"""What every source returns to the pipeline."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import pyarrow as pa

UPDATED = "updated"
UNCHANGED = "unchanged"
FAILED = "failed"


@dataclass
class SourceResult:
    """The outcome of one source's update.

    ``tables`` holds the source's complete new tables when ``status`` is ``updated`` (its rows of
    ``ingest_errors`` included); an ``unchanged`` source carries its previous tables forward.
    """

    name: str
    status: str
    lineage: dict[str, Any]
    tables: dict[str, pa.Table] = field(default_factory=dict)
    stats: dict[str, int] = field(default_factory=dict)

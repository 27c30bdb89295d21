"""An advisory's own OSV document, kept as JSON text (the ``osv_records`` rows; pure).

What the repository says, with nothing added or reordered: YAML becomes JSON, and timestamps
that YAML typed become RFC 3339 strings.
"""

from __future__ import annotations

import base64
import json
import math
from datetime import UTC, date, datetime
from typing import Any


def rfc3339(value: datetime | date) -> str:
    """A timestamp YAML typed, written back as RFC 3339 (``2021-08-25T04:30:09.712538Z``:
    UTC as ``Z``, the fraction only when there is one); a bare date stays ``YYYY-MM-DD``."""
    if not isinstance(value, datetime):
        return value.isoformat()
    if value.tzinfo is not None:
        value = value.astimezone(UTC).replace(tzinfo=None)
    return value.isoformat(timespec="microseconds" if value.microsecond else "seconds") + "Z"


def json_ready(value: Any) -> Any:
    """A safely loaded YAML value as JSON data: timestamps as RFC 3339 text, keys as text,
    sets and tuples as lists, binary as base64, non-finite numbers as text."""
    if isinstance(value, dict):
        return {str(k): json_ready(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [json_ready(v) for v in value]
    if isinstance(value, set | frozenset):
        return sorted((json_ready(v) for v in value), key=str)
    if isinstance(value, datetime | date):
        return rfc3339(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def osv_record(doc: dict[str, Any], advisory: dict[str, Any], path: str) -> dict[str, Any]:
    """The ``osv_records`` row of a kept advisory: its document as compact JSON text."""
    data = json_ready(doc)
    modified, withdrawn = data.get("modified"), data.get("withdrawn")
    return {
        "id": advisory["id"],
        "aliases": list(advisory["aliases"]),
        "modified": modified if isinstance(modified, str) else None,
        "withdrawn": withdrawn if isinstance(withdrawn, str) else None,
        "record": json.dumps(data, ensure_ascii=False, separators=(",", ":")),
        "source_path": path,
    }

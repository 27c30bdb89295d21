"""Reading the top-pypi-packages dataset (pure: bytes in, rows out).

``{"last_update": "2026-04-01 06:34:06", "rows": [{"project": "boto3", "download_count":
1880218825}, ...]}``, most downloaded first. A dataset that is not what it claims — not JSON,
truncated, no rows, a name that is not a project name, a count that is not a count, a project
listed twice — is refused whole with a :class:`PopularityError` saying what is wrong (the run then
keeps the previous table): a half-read list would make popular names look unknown.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from aggregators.core.errors import SourceError
from aggregators.core.names import PROJECT_NAME, normalize_name

MAX_ROWS = 1_000_000
MAX_DOWNLOADS = 10**13
"""More downloads in 30 days than this is not a count (PyPI serves about 10^11 a month)."""


class PopularityError(SourceError):
    """The dataset cannot be read."""


def _as_of(value: Any, where: str) -> datetime:
    if not isinstance(value, str):
        raise PopularityError(f"{where}: last_update is missing (the dataset's date)")
    try:
        found = datetime.fromisoformat(value.strip().replace("Z", "+00:00"))
    except ValueError as exc:
        raise PopularityError(f"{where}: last_update {value[:40]!r} is not a date") from exc
    return found if found.tzinfo else found.replace(tzinfo=UTC)


def _row(item: Any, index: int, where: str) -> tuple[str, str, int]:
    if not isinstance(item, dict):
        raise PopularityError(f"{where}: row {index} is not an object")
    project, count = item.get("project"), item.get("download_count")
    if not isinstance(project, str) or not PROJECT_NAME.match(project.strip()):
        raise PopularityError(f"{where}: row {index}: {str(project)[:60]!r} is not a project name")
    if isinstance(count, bool) or not isinstance(count, int) or not 0 <= count <= MAX_DOWNLOADS:
        raise PopularityError(
            f"{where}: row {index} ({project}): {count!r} is not a download count"
        )
    return normalize_name(project.strip()), project.strip(), count


def parse_popularity(data: bytes, where: str) -> list[dict[str, Any]]:
    """The dataset's rows, ranked (1 = most downloaded), ready for ``package_popularity``."""
    try:
        document = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PopularityError(f"{where}: not JSON, or truncated ({exc})") from exc
    if not isinstance(document, dict) or not isinstance(document.get("rows"), list):
        raise PopularityError(f"{where}: no rows list (is this the top-pypi-packages dataset?)")
    items = document["rows"]
    if not items:
        raise PopularityError(f"{where}: the dataset lists no project")
    if len(items) > MAX_ROWS:
        raise PopularityError(f"{where}: {len(items)} rows, more than {MAX_ROWS}: not this dataset")
    as_of = _as_of(document.get("last_update"), where)
    rows = [_row(item, i, where) for i, item in enumerate(items, 1)]
    seen: dict[str, str] = {}
    for package, project, _count in rows:
        if package in seen:
            raise PopularityError(
                f"{where}: {project!r} is listed twice (as {seen[package]!r} too)"
            )
        seen[package] = project
    ordered = sorted(rows, key=lambda r: (-r[2], r[0]))  # most downloaded first, ties by name
    return [
        {
            "package": package,
            "project": project,
            "rank": rank,
            "downloads_30d": count,
            "as_of": as_of,
        }
        for rank, (package, project, count) in enumerate(ordered, 1)
    ]

"""What every endpoint reaches through ``request.app.state.seckb``, and the request helpers
they share (reading a JSON body, validating names and versions)."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from fastapi import Request

from aggregators.clients.checks import Checks
from aggregators.clients.server.errors import ApiError
from aggregators.core.names import PROJECT_NAME, normalize_name
from aggregators.core.versions import parse_version

if TYPE_CHECKING:
    from aggregators.clients.server.holder import SnapshotHolder
    from aggregators.clients.server.index import PackageIndex
    from aggregators.clients.server.limits import Limits
    from aggregators.clients.server.metrics import Metrics

"""A PEP 508 project name."""
MAX_NAME_CHARS = 200
MAX_VERSION_CHARS = 200
JSON_TYPES = ("application/json", "text/json", "application/x-www-form-urlencoded")
"""Content types a JSON body may be sent with: JSON itself, and what ``curl -d`` sends (the OSV
API's documented examples use it). No ``Content-Type`` at all (pip-audit) is accepted too."""


@dataclass
class ServerState:
    """The server's shared parts."""

    holder: SnapshotHolder
    limits: Limits
    metrics: Metrics
    max_age: timedelta
    page_size: int = 1000
    index: PackageIndex | None = None
    """The package index (``/simple/``), when the server has one."""
    checks: Checks = field(default_factory=Checks)
    """The thresholds of the name and signal checks (settings)."""


def server_state(request: Request) -> ServerState:
    """The :class:`ServerState` of the app serving ``request``."""
    state: ServerState = request.app.state.seckb
    return state


def media_type(request: Request) -> str | None:
    """The request's media type, lower case, without parameters (``None`` when absent)."""
    value = request.headers.get("content-type")
    return value.split(";")[0].strip().lower() if value else None


def accepts_json(kind: str | None) -> bool:
    """Whether a body sent as ``kind`` is read as JSON."""
    return (
        kind is None
        or kind in JSON_TYPES
        or (kind.startswith("application/") and kind.endswith("+json"))
    )


async def json_body(request: Request) -> Any:
    """The request's JSON body; ``415`` for another content type, ``400`` when malformed."""
    kind = media_type(request)
    if not accepts_json(kind):
        raise ApiError(415, f"Content-Type {kind} is not accepted: send application/json")
    body = await request.body()
    if not body.strip():
        raise ApiError(400, "the request body is empty: send a JSON object")
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(400, f"the request body is not UTF-8: {exc.reason}") from exc
    try:
        return json.loads(text)
    except json.JSONDecodeError as exc:
        raise ApiError(
            400, f"malformed JSON body: {exc.msg} at line {exc.lineno} column {exc.colno}"
        ) from exc


def package_name(value: Any, what: str = "package name") -> str:
    """A PEP 503-normalized name from a request; ``400`` when it is not a valid project name."""
    if not isinstance(value, str) or not value.strip():
        raise ApiError(400, f"{what} must be a non-empty string")
    text = value.strip()
    if len(text) > MAX_NAME_CHARS or not PROJECT_NAME.match(text):
        raise ApiError(400, f"{what} {text[:80]!r} is not a valid Python project name")
    return normalize_name(text)


def pep440(value: Any, what: str = "version") -> str:
    """A PEP 440 version string from a request; ``400`` otherwise."""
    if not isinstance(value, str) or not value.strip():
        raise ApiError(400, f"{what} must be a non-empty string")
    text = value.strip()
    if len(text) > MAX_VERSION_CHARS or parse_version(text) is None:
        raise ApiError(400, f"{what} {text[:80]!r} is not a PEP 440 version")
    return text

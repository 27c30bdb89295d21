"""Request limits, enforced before any endpoint runs (a pure ASGI middleware).

* A request body is read here, whole, under a size cap (``413`` past it, also when the declared
  ``Content-Length`` says so up front) and a deadline (``408`` for a client that sends its body
  too slowly), then handed to the endpoint.
* A path that is too long (``414``) or that holds traversal characters (``..`` segments,
  backslashes, NUL: ``400``) is refused; the server reads no file named by a request anyway.
* Slow headers are cut off one level down, in :mod:`aggregators.clients.server.protocol`.
"""

from __future__ import annotations

import asyncio
import re
from dataclasses import dataclass
from typing import Any

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from aggregators.clients.server.errors import error_body


@dataclass(frozen=True)
class Limits:
    """What one request may cost."""

    max_body_bytes: int = 1 << 20
    """Largest body of the OSV and JSON endpoints (1,000 queries take about 100 KB)."""
    max_audit_body_bytes: int = 8 << 20
    """Largest body of ``POST /v1/audit`` and ``PUT /v1/projects/{name}`` (a requirements file or
    a CycloneDX SBOM)."""
    max_batch_queries: int = 1000
    """Most queries in one ``POST /v1/querybatch`` (OSV's own limit)."""
    body_timeout_seconds: float = 10.0
    """A request body must arrive whole within this time."""
    header_timeout_seconds: float = 10.0
    """A request's line and headers must arrive whole within this time."""
    max_path_chars: int = 2048
    """Longest request path."""

    def body_cap(self, path: str) -> int:
        """The body size cap of an endpoint."""
        sboms = path in ("/v1/audit", "/v1/fix") or path.startswith("/v1/projects/")
        return self.max_audit_body_bytes if sboms else self.max_body_bytes


_TRAVERSAL = re.compile(r"(^|/)\.\.?(/|$)|\\|\x00|%2e%2e|%00|%5c", re.IGNORECASE)


class Guard:
    """ASGI middleware applying :class:`Limits` to every HTTP request."""

    def __init__(self, app: ASGIApp, limits: Limits) -> None:
        """Wrap ``app``."""
        self.app = app
        self.limits = limits

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Refuse what breaks a limit; otherwise read the body and run the app."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        path = str(scope.get("path", ""))
        raw = bytes(scope.get("raw_path") or path.encode()).decode("latin-1")
        if len(raw) > self.limits.max_path_chars:
            await _reply(send, 414, f"request path longer than {self.limits.max_path_chars}")
            return
        if _TRAVERSAL.search(path) or _TRAVERSAL.search(raw):
            await _reply(send, 400, "path traversal characters (.., \\, NUL) are not allowed")
            return
        cap = self.limits.body_cap(path)
        problem = _declared_problem(scope, cap)
        if problem is not None:
            await _reply(send, *problem)
            return
        if not _has_body(scope):  # a GET, most of the traffic: nothing to read or cap
            await self.app(scope, receive, send)
            return
        try:
            body = await asyncio.wait_for(
                _read_body(receive, cap), self.limits.body_timeout_seconds
            )
        except TimeoutError:
            await _reply(
                send,
                408,
                f"request body not received within {self.limits.body_timeout_seconds:g} s",
            )
            return
        if body is None:
            await _reply(send, 413, f"request body larger than {cap} bytes")
            return
        await self.app(scope, _replay(body, receive), send)


def _declared_problem(scope: Scope, cap: int) -> tuple[int, str] | None:
    """A problem the ``Content-Length`` header shows before the body is read."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                declared = int(value)
            except ValueError:
                return 400, "Content-Length is not a number"
            if declared > cap:
                return 413, f"request body larger than {cap} bytes ({declared} declared)"
    return None


def _has_body(scope: Scope) -> bool:
    """Whether the request announces a body (a ``Content-Length`` above 0, or chunks)."""
    for name, value in scope.get("headers", ()):
        if name == b"transfer-encoding" or (name == b"content-length" and value.strip() != b"0"):
            return True
    return False


async def _read_body(receive: Receive, cap: int) -> bytes | None:
    """The whole body, or ``None`` as soon as it passes ``cap`` bytes."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            break
        chunk = bytes(message.get("body", b""))
        size += len(chunk)
        if size > cap:
            return None
        chunks.append(chunk)
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that gives ``body`` once, then waits on the real one (disconnects)."""
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replayed


async def _reply(send: Send, status: int, message: str) -> None:
    body = error_body(status, message)
    headers: list[Any] = [
        (b"content-type", b"application/json"),
        (b"content-length", str(len(body)).encode()),
        (b"connection", b"close"),
    ]
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})

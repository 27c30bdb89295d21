"""uvicorn's h11 protocol with two guards for untrusted clients.

* **Slow headers** (slowloris): uvicorn waits for a request's headers without a deadline. Here a
  connection whose request line and headers are not complete ``header_timeout`` seconds after it
  opened (or after its previous response) gets a ``408`` JSON error and is closed, so slow
  clients cannot hold connections open for ever; the event loop serves everyone else meanwhile.
* **Malformed HTTP**: the ``400`` uvicorn sends for a request it cannot parse has a JSON body with
  a message, like every other error of the server.

This subclasses uvicorn's ``H11Protocol`` and relies on its documented-by-code hooks
(``connection_made``, ``on_response_complete``, ``send_400_response``); the tests drive it with
real sockets.
"""

from __future__ import annotations

import asyncio
from typing import Any

import h11
from uvicorn.protocols.http.h11_impl import H11Protocol

from aggregators.clients.server.errors import error_body


def _raw_response(status: int, reason: str, message: str) -> bytes:
    body = error_body(status, message)
    head = (
        f"HTTP/1.1 {status} {reason}\r\ncontent-type: application/json\r\n"
        f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
    )
    return head.encode("ascii") + body


class GuardedH11Protocol(H11Protocol):
    """``H11Protocol`` with a header deadline and JSON bodies on protocol errors."""

    header_timeout: float = 10.0
    """Seconds a client has to send a request's line and headers (set by the app factory)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        """As uvicorn's protocol; no deadline armed yet."""
        super().__init__(*args, **kwargs)
        self._header_deadline: asyncio.TimerHandle | None = None

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """Open the connection and start the clock for the first request's headers."""
        super().connection_made(transport)
        self._arm_header_deadline()

    def on_response_complete(self) -> None:
        """After each response, start the clock again for the next request on the connection."""
        super().on_response_complete()
        self._arm_header_deadline()

    def connection_lost(self, exc: Exception | None) -> None:
        """Forget the deadline with the connection."""
        self._disarm_header_deadline()
        super().connection_lost(exc)

    def send_400_response(self, msg: str) -> None:
        """Answer a request uvicorn cannot parse with a JSON error, then close."""
        self._disarm_header_deadline()
        if not self.transport.is_closing():
            self.transport.write(_raw_response(400, "Bad Request", f"malformed HTTP: {msg}"))
            self.transport.close()

    def _arm_header_deadline(self) -> None:
        self._disarm_header_deadline()
        if not self.transport.is_closing():
            self._header_deadline = self.loop.call_later(self.header_timeout, self._headers_late)

    def _disarm_header_deadline(self) -> None:
        if self._header_deadline is not None:
            self._header_deadline.cancel()
            self._header_deadline = None

    def _headers_late(self) -> None:
        """The deadline passed: close the connection unless a request's headers arrived."""
        self._header_deadline = None
        waiting = self.conn.their_state is h11.IDLE
        idle_cycle = self.cycle is None or self.cycle.response_complete
        if not waiting or not idle_cycle or self.transport.is_closing():
            return
        message = f"request headers not received within {self.header_timeout:g} s"
        self.transport.write(_raw_response(408, "Request Timeout", message))
        self.transport.close()

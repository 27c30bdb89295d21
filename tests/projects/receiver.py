"""A real webhook receiver on loopback: records every POST, answers as scripted.

``mode`` is ``ok`` (204), ``error`` (500) or ``hang`` (reads the request, never answers until
released). :func:`free_port` gives a port nothing listens on (connection refused).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import socket
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Delivery:
    """One POST as received."""

    path: str
    headers: dict[str, str]
    body: bytes
    answered: int

    def document(self) -> Any:
        return json.loads(self.body)

    def signature_valid(self, secret: str) -> bool:
        expected = "sha256=" + hmac.new(secret.encode(), self.body, hashlib.sha256).hexdigest()
        given = self.headers.get("x-seckb-signature-256", "")
        return hmac.compare_digest(expected, given)


class Receiver:
    """A threaded HTTP server on 127.0.0.1 recording POSTs."""

    def __init__(self, port: int = 0) -> None:
        self.mode = "ok"
        self.received: list[Delivery] = []
        self.release = threading.Event()
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:
                pass

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length)
                mode = receiver.mode
                status = {"ok": 204, "error": 500, "hang": 0}[mode]
                headers = {k.lower(): v for k, v in self.headers.items()}
                with receiver._lock:
                    receiver.received.append(Delivery(self.path, headers, body, status))
                if mode == "hang":
                    receiver.release.wait(30)
                    self.close_connection = True
                    return
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()

        self.httpd = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}/hook"

    def acknowledged(self) -> list[Delivery]:
        """The POSTs answered 2xx."""
        return [d for d in self.received if 200 <= d.answered < 300]

    def stop(self) -> None:
        self.release.set()
        self.httpd.shutdown()
        self.httpd.server_close()


@contextmanager
def receiving(port: int = 0) -> Iterator[Receiver]:
    """A running :class:`Receiver`, stopped afterwards."""
    receiver = Receiver(port)
    try:
        yield receiver
    finally:
        receiver.stop()


def free_port() -> int:
    """A loopback port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])

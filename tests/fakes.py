"""Loopback stand-ins for remote services: a scripted HTTP server and PyPI-shaped documents."""

from __future__ import annotations

import json
import socket
import struct
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Reply:
    """One scripted answer. ``action`` ``reset`` drops the connection; ``truncate`` promises
    more bytes than it sends."""

    status: int = 200
    body: bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    action: str = ""


def json_reply(document: Any, status: int = 200, **headers: str) -> Reply:
    """A JSON answer."""
    return Reply(
        status, json.dumps(document).encode(), {"Content-Type": "application/json", **headers}
    )


Route = Reply | list[Reply] | Callable[[dict[str, str]], Reply]


class FakeServer:
    """A threaded HTTP server on 127.0.0.1 answering GETs from a route table.

    A route is a :class:`Reply`, a list of replies given in turn (the last one repeats), or a
    function of the request headers. Every request is logged as ``(path, headers)``.
    """

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.log: list[tuple[str, dict[str, str]]] = []
        self._lock = threading.Lock()
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args: object) -> None:  # quiet
                pass

            def setup(self) -> None:
                super().setup()
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

            def do_GET(self) -> None:
                headers = {k.lower(): v for k, v in self.headers.items()}
                reply = server.answer(self.path, headers)
                if reply.action == "reset":  # RST: linger 0, then close every reference
                    self.close_connection = True
                    self.connection.setsockopt(
                        socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0)
                    )
                    self.rfile.close()
                    self.wfile.close()
                    self.connection.close()
                    return
                self.send_response(reply.status)
                for name, value in reply.headers.items():
                    self.send_header(name, value)
                length = len(reply.body) * (2 if reply.action == "truncate" else 1) + (
                    10 if reply.action == "truncate" else 0
                )
                self.send_header("Content-Length", str(length))
                if reply.action == "truncate":
                    self.send_header("Connection", "close")
                self.end_headers()
                try:
                    self.wfile.write(reply.body)
                    self.wfile.flush()
                except (BrokenPipeError, ConnectionResetError):  # the client gave up waiting
                    self.close_connection = True
                    return
                if reply.action == "truncate":
                    self.close_connection = True

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.thread = threading.Thread(
            target=self.httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def answer(self, path: str, headers: dict[str, str]) -> Reply:
        with self._lock:
            self.log.append((path, headers))
            route = self.routes.get(path.split("?")[0])
            if route is None:
                return Reply(404, b"not found")
            if isinstance(route, list):
                return route.pop(0) if len(route) > 1 else route[0]
        return route(headers) if callable(route) else route

    def requests_to(self, path: str) -> int:
        return sum(1 for p, _ in self.log if p.split("?")[0] == path)

    def start(self) -> FakeServer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@contextmanager
def serving() -> Iterator[FakeServer]:
    """A running :class:`FakeServer`, stopped afterwards."""
    server = FakeServer().start()
    try:
        yield server
    finally:
        server.stop()


def pypi_file(
    filename: str,
    *,
    packagetype: str = "sdist",
    url: str | None = None,
    sha256: str = "0" * 64,
    size: int = 1000,
    uploaded: str = "2023-01-01T00:00:00.000000Z",
    yanked: bool = False,
    yanked_reason: str | None = None,
    requires_python: str | None = ">=3.8",
) -> dict[str, Any]:
    """One file entry as PyPI's JSON API lists it."""
    return {
        "filename": filename,
        "packagetype": packagetype,
        "url": url if url is not None else f"/packages/{filename}",
        "digests": {"sha256": sha256, "md5": "x"},
        "size": size,
        "upload_time_iso_8601": uploaded,
        "yanked": yanked,
        "yanked_reason": yanked_reason,
        "requires_python": requires_python,
    }


def pypi_project(
    name: str,
    releases: dict[str, list[dict[str, Any]]],
    *,
    project_urls: dict[str, str] | None = None,
    home_page: str | None = None,
    serial: int = 1000,
) -> dict[str, Any]:
    """A project document of PyPI's JSON API (``/pypi/<name>/json``)."""
    latest = list(releases)[-1] if releases else None
    return {
        "info": {
            "name": name,
            "version": latest,
            "summary": f"{name} does things",
            "project_urls": project_urls,
            "home_page": home_page,
        },
        "last_serial": serial,
        "releases": releases,
        "urls": releases.get(latest, []) if latest else [],
    }


def simple_project(name: str, versions: list[str], **kwargs: Any) -> dict[str, Any]:
    """A project whose every version has one sdist and one wheel."""
    return pypi_project(
        name,
        {
            v: [
                pypi_file(f"{name}-{v}.tar.gz"),
                pypi_file(f"{name}-{v}-py3-none-any.whl", packagetype="bdist_wheel"),
            ]
            for v in versions
        },
        **kwargs,
    )


def make_sdist(name: str, version: str, files: dict[str, str]) -> bytes:
    """A .tar.gz source distribution holding ``files`` under ``<name>-<version>/``."""
    import io
    import tarfile

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        for path, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"{name}-{version}/{path}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def serve_project(
    server: FakeServer, name: str, sdists: dict[str, bytes], **kwargs: Any
) -> dict[str, Any]:
    """Serve a project whose releases each have one sdist (bytes given) at ``/packages/``."""
    import hashlib

    releases = {}
    for version, data in sdists.items():
        filename = f"{name}-{version}.tar.gz"
        server.routes[f"/packages/{filename}"] = Reply(200, data)
        releases[version] = [
            pypi_file(filename, sha256=hashlib.sha256(data).hexdigest(), size=len(data))
        ]
    document = pypi_project(name, releases, **kwargs)
    server.routes[f"/pypi/{name.lower()}/json"] = json_reply(document)
    return document

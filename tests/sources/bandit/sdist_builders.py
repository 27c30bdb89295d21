"""Builders for the Bandit tests: a loopback file server and generated (hostile) sdists."""

from __future__ import annotations

import hashlib
import io
import socket
import struct
import tarfile
import threading
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from aggregators.sources.bandit.analyse import ScanTarget

KNOWN_CODE = b"""import subprocess
subprocess.call(cmd, shell=True)
eval(x)
assert x
password = "hunter2"
query = "SELECT * FROM t WHERE id = %s" % uid
open("/tmp/x")
"""
"""Bandit finds: B404 LOW/HIGH, B602 HIGH/HIGH, B307 MEDIUM/HIGH, B101 LOW/HIGH,
B105 LOW/MEDIUM, B608 MEDIUM/LOW, B108 MEDIUM/MEDIUM."""

KNOWN_COUNTS = {
    "high_high": 1,
    "high_medium": 0,
    "high_low": 0,
    "medium_high": 1,
    "medium_medium": 1,
    "medium_low": 1,
    "low_high": 2,
    "low_medium": 1,
    "low_low": 0,
}


@dataclass
class Route:
    """How the fake server answers one path."""

    body: bytes
    statuses: list[int] = field(default_factory=list)
    """Statuses to answer before serving the body (e.g. [429]); the last repeats if 'stuck'."""
    mode: str = "ok"
    """ok | truncate (Content-Length larger than the body, then close) | reset (RST mid-body)
    | nolength (no Content-Length, body then close) | stuck (always the first status)."""
    hits: int = 0


class _Handler(BaseHTTPRequestHandler):
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        """Stay quiet."""

    def do_GET(self) -> None:
        route = self.server.routes.get(self.path)
        if route is None:
            self.send_error(404)
            return
        route.hits += 1
        if route.mode == "stuck" or route.hits <= len(route.statuses):
            status = route.statuses[0 if route.mode == "stuck" else route.hits - 1]
            self.send_response(status)
            self.send_header("Retry-After", "0")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        body = route.body
        self.send_response(200)
        self.send_header("Content-Type", "application/octet-stream")
        if route.mode == "truncate":
            self.send_header("Content-Length", str(len(body) * 2))
        elif route.mode != "nolength":
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if route.mode == "reset":
            self.wfile.write(body[: len(body) // 2])
            self.wfile.flush()
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            self.close_connection = True
            return
        self.wfile.write(body)
        self.wfile.flush()
        self.close_connection = True


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    routes: dict[str, Route]


class FakeFiles:
    """A loopback server of sdists; :meth:`add` registers one and returns its ScanTarget."""

    def __init__(self) -> None:
        self.server = _Server(("127.0.0.1", 0), _Handler)
        self.server.routes = {}
        self.thread = threading.Thread(
            target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
        )
        self.thread.start()

    @property
    def base(self) -> str:
        host, port = self.server.server_address[:2]
        return f"http://{host!s}:{port}"

    def add(
        self,
        package: str,
        version: str,
        data: bytes,
        *,
        filename: str | None = None,
        sha256: str | None = None,
        size: int | None = -1,
        **route: Any,
    ) -> ScanTarget:
        filename = filename or f"{package}-{version}.tar.gz"
        path = f"/files/{package}/{version}/{filename}"
        self.server.routes[path] = Route(data, **route)
        return ScanTarget(
            package=package,
            version=version,
            filename=filename,
            url=self.base + path,
            sha256=sha256 if sha256 is not None else hashlib.sha256(data).hexdigest(),
            size=len(data) if size == -1 else size,
        )

    def route(self, target: ScanTarget) -> Route:
        assert target.url
        return self.server.routes[target.url[len(self.base) :]]

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


Member = tuple[str, bytes] | tarfile.TarInfo | tuple[tarfile.TarInfo, bytes]


def make_tar(members: Sequence[Member], mode: str = "w:gz") -> bytes:
    """A tar archive of ``(name, data)`` regular files and raw TarInfo entries (links, ...)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode=mode) as tar:  # type: ignore[call-overload]
        for member in members:
            if isinstance(member, tarfile.TarInfo):
                tar.addfile(member)
            elif isinstance(member[0], tarfile.TarInfo):
                info, data = member
                info.size = len(data)
                tar.addfile(info, io.BytesIO(data))
            else:
                name, data = member
                info = tarfile.TarInfo(name)
                info.size = len(data)
                info.mode = 0o644
                tar.addfile(info, io.BytesIO(data))
    return buffer.getvalue()


def tar_entry(name: str, kind: bytes, linkname: str = "") -> tarfile.TarInfo:
    """A non-regular tar entry (symlink, hardlink, device, fifo, directory)."""
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = linkname
    return info


def make_zip(
    members: Sequence[tuple[str, bytes] | zipfile.ZipInfo | tuple[zipfile.ZipInfo, bytes]],
) -> bytes:
    """A deflated zip archive of ``(name, data)`` members (or ZipInfo with attributes)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        for member in members:
            if isinstance(member, zipfile.ZipInfo):
                zf.writestr(member, b"")
            elif isinstance(member[0], zipfile.ZipInfo):
                zf.writestr(member[0], member[1])
            else:
                zf.writestr(member[0], member[1])
    return buffer.getvalue()


def tree_listing(root: Path) -> set[str]:
    """Every path below ``root`` (relative), to prove nothing appeared outside scratch."""
    return {str(p.relative_to(root)) for p in root.rglob("*")}


def dir_entries(path: Path) -> set[str]:
    """Names directly in ``path``."""
    return {p.name for p in path.iterdir()}

"""The app factory and the uvicorn runner of ``seckb serve``.

:func:`create_app` builds the FastAPI app over a :class:`SnapshotHolder` (tests give it a holder
of their own); :func:`serve` runs it with uvicorn on the guarded h11 protocol, loopback by
default. Nothing the server does writes to the data root.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import timedelta
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from aggregators import __version__
from aggregators.clients.checks import Checks
from aggregators.clients.server import api, fixing, osv, page, projects, simple
from aggregators.clients.server.errors import install_handlers
from aggregators.clients.server.holder import SnapshotHolder
from aggregators.clients.server.index import PackageIndex
from aggregators.clients.server.limits import Guard, Limits
from aggregators.clients.server.metrics import Metrics, MetricsMiddleware
from aggregators.clients.server.protocol import GuardedH11Protocol
from aggregators.clients.server.schemas import complete
from aggregators.clients.server.state import ServerState, server_state

log = logging.getLogger(__name__)
DESCRIPTION = """A security knowledge base of Python packages (PyPA advisories, PyPI releases,
Bandit, OpenSSF Scorecard), served read-only from the latest published snapshot.

The `/v1/query`, `/v1/querybatch` and `/v1/vulns/{id}` endpoints follow the OSV API v1 for the
PyPI ecosystem: point `pip-audit -s osv --osv-url http://HOST/v1/query` or
`uv audit --service-url http://HOST` at this server.

`/simple/` is a package index (PEP 503 HTML, PEP 691 JSON) in front of the upstream index
(PyPI by default) that keeps releases seckb knows are bad out of pip and uv resolutions:
`pip install --index-url http://HOST/simple/ ...`, `uv pip install --index-url
http://HOST/strict/simple/ ...`. Errors are `{"code", "message"}`."""


def create_app(
    holder: SnapshotHolder,
    max_age: timedelta = timedelta(hours=48),
    limits: Limits | None = None,
    page_size: int = 1000,
    api_token: str = "",
    index: PackageIndex | None = None,
    checks: Checks | None = None,
) -> FastAPI:
    """The app serving ``holder``'s snapshot; it starts following ``LATEST`` on startup (and
    stops on shutdown) when ``holder`` does. With ``index``, it serves the package index
    (``/simple/``, ``/strict/simple/``, ``/v1/policy``)."""

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        holder.start()
        try:
            yield
        finally:
            holder.stop()

    app = FastAPI(
        title="seckb",
        version=__version__,
        description=DESCRIPTION,
        lifespan=lifespan,
        license_info={"name": "Apache-2.0", "identifier": "Apache-2.0"},
    )
    base_openapi = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            complete(base_openapi())  # fills app.openapi_schema in place, once
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]
    limits = limits or Limits()
    metrics = Metrics()
    app.state.seckb = ServerState(
        holder, limits, metrics, max_age, page_size, index, checks or Checks()
    )
    install_handlers(app)
    app.include_router(osv.router)
    app.include_router(api.router)
    app.include_router(page.router)
    app.include_router(simple.router)
    app.include_router(fixing.router)
    projects.install(app, holder.workspace, api_token)  # /v1/projects: writes need the token
    app.add_api_route("/", _index, methods=["GET"], include_in_schema=False)
    app.add_middleware(simple.FastPath, state=app.state.seckb)  # inside the guard and metrics
    app.add_middleware(Guard, limits=limits)
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    return app


async def _index(request: Request) -> JSONResponse:
    view = server_state(request).holder.view
    return JSONResponse(
        {
            "service": "seckb",
            "version": __version__,
            "snapshot": view.id if view else None,
            "docs": "/docs",
            "openapi": "/openapi.json",
            "osv": ["/v1/query", "/v1/querybatch", "/v1/vulns/{id}"],
            "seckb": ["/v1/packages/{name}", "/v1/audit", "/v1/fix", "/healthz", "/metrics"],
            "pages": ["/packages/{name}"],
            "index": ["/simple/", "/strict/simple/", "/v1/policy/{package}"],
        }
    )


def uvicorn_config(
    app: FastAPI, host: str, port: int, limits: Limits, **extra: Any
) -> uvicorn.Config:
    """The uvicorn configuration: guarded h11 protocol, bounded headers, no proxy headers."""
    protocol = type(
        "SeckbH11Protocol", (GuardedH11Protocol,), {"header_timeout": limits.header_timeout_seconds}
    )
    return uvicorn.Config(
        app,
        host=host,
        port=port,
        http=protocol,
        ws="none",
        lifespan="on",
        proxy_headers=False,
        server_header=False,
        h11_max_incomplete_event_size=64 * 1024,
        timeout_keep_alive=5,
        timeout_graceful_shutdown=10,
        log_level="warning",
        **extra,
    )


def serve(app: FastAPI, host: str, port: int, limits: Limits | None = None) -> None:
    """Run ``app`` until interrupted."""
    uvicorn.Server(uvicorn_config(app, host, port, limits or Limits())).run()


@contextmanager
def running(app: FastAPI, limits: Limits | None = None) -> Iterator[str]:
    """Serve ``app`` in a thread on a free loopback port (bound before the server starts, so
    no other process can take it); yield its base URL; stop the server on exit."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn_config(app, "127.0.0.1", port, limits or Limits()))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    try:
        while not server.started:
            if not thread.is_alive() or time.monotonic() > deadline:
                raise RuntimeError("the loopback server did not start")
            time.sleep(0.01)
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)
        sock.close()

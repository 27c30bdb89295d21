"""The package index's routes: the Simple Repository API with the policy applied, and why.

* ``GET /simple/`` and ``GET /simple/{project}/`` — the index in the configured mode
  (``index_mode``, ``yank`` by default: blocked files are yanked with the reason);
* ``GET /strict/simple/`` and ``GET /strict/simple/{project}/`` — the same in ``hide`` mode
  (blocked files are left out: a resolver can never pick them);
* ``GET /v1/policy/{package}`` — ``seckb.policy/1``: each version's verdict and why.

HTML or JSON is negotiated by ``Accept`` (PEP 691; ``406`` when nothing acceptable is served).
A project name that is not normalized is redirected to its PEP 503 form (``301``); one that is
not a project name is a ``400``. With no snapshot served the index answers ``503`` (a page
without its blocking is never served), with no upstream answer ``502``, and ``404`` when no
upstream lists the project.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from types import SimpleNamespace

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, RedirectResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from aggregators.clients.server.errors import ApiError
from aggregators.clients.server.index import PackageIndex, Served
from aggregators.clients.server.schemas import POLICY_RESPONSES, SIMPLE_RESPONSES
from aggregators.clients.server.state import ServerState, package_name, pep440, server_state
from aggregators.clients.simple.render import negotiate, served_types
from aggregators.clients.upstream import Answer, NotFound, UpstreamError

router = APIRouter(tags=["package index (PEP 503/691)"])
STRICT = "/strict/simple/"
DEFAULT = "/simple/"


def _index(request: Request) -> PackageIndex:
    index = server_state(request).index
    if index is None:
        raise ApiError(503, "the package index is not configured on this server")
    return index


def _kind(request: Request) -> str:
    kind = negotiate(request.headers.get("accept"), request.query_params.get("format"))
    if kind is None:
        raise ApiError(
            406, f"none of the accepted types is served; ask for one of {', '.join(served_types())}"
        )
    return kind


def _reply(served: Served, if_none_match: str | None) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of a served page: ``304`` when ``If-None-Match`` names it."""
    headers = {**served.headers, "ETag": served.etag}
    tags = {t.strip().removeprefix("W/") for t in (if_none_match or "").split(",")}
    if served.etag in tags:
        return 304, headers, b""
    return 200, {**headers, "Content-Type": served.rendered.content_type}, served.rendered.body


def _send(request: Request, served: Served) -> Response:
    status, headers, body = _reply(served, request.headers.get("if-none-match"))
    return Response(body, status_code=status, headers=headers)


async def _root(request: Request, mode: str, base: str) -> Response:
    index = _index(request)
    kind = _kind(request)
    view = server_state(request).holder.require()
    answer = index.upstream.peek("", disk=False)
    if answer is None:
        answer = await run_in_threadpool(_upstream, index.upstream.projects)
    served = await run_in_threadpool(index.root, view, answer, mode, kind, base)
    return _send(request, served)


async def _project(request: Request, project: str, mode: str, base: str) -> Response:
    index = _index(request)
    name = package_name(project, "project name")
    if name != project:
        query = f"?{request.url.query}" if request.url.query else ""
        return RedirectResponse(f"{base}{name}/{query}", status_code=301)
    kind = _kind(request)
    view = server_state(request).holder.require()
    answer = index.upstream.peek(name, disk=False)  # the disk is read in a thread, below
    if answer is None:
        kept = await run_in_threadpool(index.kept_page, view, name, mode, kind)
        if kept is not None:
            return _send(request, kept)
        answer = await run_in_threadpool(_upstream, index.upstream.project, name)
    served = index.page(view, answer, mode, kind, render=False)  # cached: no thread needed
    if served is None:
        served = await run_in_threadpool(index.page, view, answer, mode, kind)
    assert served is not None
    return _send(request, served)


def _upstream(call: Callable[..., Answer], *args: str) -> Answer:
    """``call(*args)`` on the upstream, its errors as the index answers them."""
    try:
        return call(*args)
    except NotFound as exc:
        raise ApiError(404, str(exc)) from exc
    except UpstreamError as exc:
        raise ApiError(502, f"the upstream index did not answer: {exc}") from exc


@router.get(DEFAULT, responses=SIMPLE_RESPONSES, response_class=Response)
async def simple_root(request: Request) -> Response:
    """The projects of the upstream indexes (PEP 503 / PEP 691 root page)."""
    return await _root(request, _index(request).mode, DEFAULT)


@router.get(DEFAULT + "{project}/", responses=SIMPLE_RESPONSES, response_class=Response)
async def simple_project(project: str, request: Request) -> Response:
    """A project's files, blocked releases yanked or left out as ``index_mode`` says."""
    return await _project(request, project, _index(request).mode, DEFAULT)


@router.get(STRICT, responses=SIMPLE_RESPONSES, response_class=Response)
async def strict_root(request: Request) -> Response:
    """The projects of the upstream indexes (the strict index)."""
    return await _root(request, "hide", STRICT)


@router.get(STRICT + "{project}/", responses=SIMPLE_RESPONSES, response_class=Response)
async def strict_project(project: str, request: Request) -> Response:
    """A project's files, blocked releases left out."""
    return await _project(request, project, "hide", STRICT)


@router.get("/v1/policy/{package}", responses=POLICY_RESPONSES)
async def policy(
    package: str,
    request: Request,
    version: str | None = Query(None, description="judge this version only (PEP 440)"),
) -> JSONResponse:
    """``seckb.policy/1``: each version's verdict under the policy in force, and why."""
    index = _index(request)
    name = package_name(package)
    asked = pep440(version) if version is not None else None
    view = server_state(request).holder.require()
    document = await run_in_threadpool(index.explain, view, name, asked)
    return JSONResponse(document)


_ROUTES = {
    DEFAULT: SimpleNamespace(path=DEFAULT + "{project}/"),
    STRICT: SimpleNamespace(path=STRICT + "{project}/"),
}


class FastPath:
    """ASGI middleware answering a project page that is cached, fresh and rendered without the
    framework (no routing, no request object): under load, what the index adds to the
    upstream's own answer stays small. Anything else — another path, a name to redirect, a
    ``format`` parameter, a page to fetch or render, an error — goes to the routes above."""

    def __init__(self, app: ASGIApp, state: ServerState) -> None:
        """Wrap ``app``, answering from ``state``'s index."""
        self.app = app
        self.state = state

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer from the cache when possible, else pass the request on."""
        reply = self._cached(scope) if scope["type"] == "http" else None
        if reply is None:
            await self.app(scope, receive, send)
            return
        status, headers, body = reply
        start = [(k.lower().encode("latin-1"), v.encode("latin-1")) for k, v in headers.items()]
        start.append((b"content-length", str(len(body)).encode()))
        await send({"type": "http.response.start", "status": status, "headers": start})
        await send({"type": "http.response.body", "body": body})

    def _cached(self, scope: Scope) -> tuple[int, dict[str, str], bytes] | None:
        index, view = self.state.index, self.state.holder.view
        path: str = scope["path"]
        if index is None or view is None or scope["method"] != "GET" or scope["query_string"]:
            return None
        prefix = STRICT if path.startswith(STRICT) else DEFAULT
        name = path[len(prefix) : -1]
        if not path.startswith(prefix) or not path.endswith("/") or not _NORMALIZED.match(name):
            return None
        headers = dict(scope["headers"])
        kind = negotiate(_header(headers, b"accept"))
        answer = index.upstream.peek(name, disk=False) if kind is not None else None
        if kind is None or answer is None:
            return None
        mode = "hide" if prefix == STRICT else index.mode
        served = index.page(view, answer, mode, kind, render=False)
        if served is None:
            return None
        scope["route"] = _ROUTES[prefix]  # the metrics count it under its route
        return _reply(served, _header(headers, b"if-none-match"))


_NORMALIZED = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
"""A PEP 503-normalized project name (anything else takes the route: redirect or 400)."""


def _header(headers: dict[bytes, bytes], name: bytes) -> str | None:
    value = headers.get(name)
    return value.decode("latin-1") if value is not None else None

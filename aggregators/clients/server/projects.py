"""``/v1/projects``: watched projects over HTTP (the same operations as ``seckb project``).

* ``PUT /v1/projects/{name}`` — store (or replace) a project from a requirements file or a
  CycloneDX JSON SBOM in the body (read by the readers of ``POST /v1/audit``; ``?version=`` the
  project's own version, ``?format=`` as for audit): ``201`` added, ``200`` replaced or unchanged.
* ``GET /v1/projects`` — every project (``seckb.projects/1``).
* ``GET /v1/projects/{name}`` — the project judged against the served snapshot
  (``seckb.project/1``, as ``seckb project show --json``; ``?fail_on=``, ``?allow_unknown=``).
* ``DELETE /v1/projects/{name}`` — delete a project, its history and its decisions.

The writing endpoints need ``Authorization: Bearer <api_token>``; with no ``api_token``
configured every write is refused (``403``), a missing or wrong token is ``401``. The token is
checked before anything else is read, a project name is checked before anything is written, and
a refused request writes nothing. Errors are the server's JSON errors; bodies are capped by the
server's limits (``413``).
"""

from __future__ import annotations

import hmac
import re
from dataclasses import dataclass

from fastapi import APIRouter, FastAPI, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from aggregators.clients.audit import THRESHOLDS, AuditOptions
from aggregators.clients.freshness import staleness_warnings
from aggregators.clients.projects.documents import project_document, project_info
from aggregators.clients.projects.inputs import CYCLONEDX, to_components
from aggregators.clients.projects.service import (
    add_project,
    list_projects,
    remove_project,
    show_project,
)
from aggregators.clients.server.auditing import (
    body_format,
    read_body_requirements,
    read_body_sbom,
)
from aggregators.clients.server.errors import ApiError
from aggregators.clients.server.schemas import PROJECT_REQUEST, PROJECT_RESPONSES
from aggregators.clients.server.state import media_type, server_state
from aggregators.core.clock import utcnow
from aggregators.core.errors import LockError
from aggregators.core.workspace import Workspace
from aggregators.store.projects import (
    ProjectError,
    ProjectNotFoundError,
    ProjectStore,
    check_name,
)

router = APIRouter(tags=["projects"])
MAX_VERSION_CHARS = 100
PRINTABLE_PATTERN = "^[ -~]*$"
"""A project's version label: printable ASCII (as the OpenAPI document says)."""
PRINTABLE = re.compile(PRINTABLE_PATTERN)


@dataclass(frozen=True)
class ProjectsState:
    """Where the projects live and the token of the writing endpoints."""

    store: ProjectStore
    api_token: str


def install(app: FastAPI, workspace: Workspace, api_token: str) -> None:
    """Serve ``workspace``'s projects from ``app``; writes need ``api_token`` (empty: none
    is accepted)."""
    app.state.seckb_projects = ProjectsState(ProjectStore(workspace, 10.0), api_token)
    app.include_router(router)


def _state(request: Request) -> ProjectsState:
    state: ProjectsState = request.app.state.seckb_projects
    return state


def authorize(request: Request) -> ProjectStore:
    """The project store, once the request proved it may write; ``403``/``401`` otherwise."""
    state = _state(request)
    if not state.api_token:
        raise ApiError(
            403, "writes are disabled: the server has no api_token configured (SECKB_API_TOKEN)"
        )
    scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise ApiError(401, "this endpoint needs the header Authorization: Bearer <api_token>")
    if not hmac.compare_digest(token.strip().encode(), state.api_token.encode()):
        raise ApiError(401, "the bearer token is not the server's api_token")
    return state.store


def _name(name: str) -> str:
    try:
        return check_name(name)
    except ProjectError as exc:
        raise ApiError(400, str(exc)) from exc


def _version(value: str | None) -> str | None:
    if value is None or not value.strip():
        return None
    text = value.strip()
    if len(text) > MAX_VERSION_CHARS or not PRINTABLE.match(text):
        raise ApiError(
            400, f"version must be at most {MAX_VERSION_CHARS} printable ASCII characters"
        )
    return text


@router.put("/v1/projects/{name}", openapi_extra=PROJECT_REQUEST, responses=PROJECT_RESPONSES)
async def put_project(
    name: str,
    request: Request,
    version: str | None = Query(None, description="the project's own version"),
    format: str | None = Query(None, include_in_schema=False),  # see FORMAT_NOTE
) -> JSONResponse:
    """Store or replace a project from a requirements file or a CycloneDX SBOM."""
    store = authorize(request)
    project = _name(name)
    label = _version(version)
    body = await request.body()
    if not body.strip():
        raise ApiError(400, "the request body is empty: send a requirements file or an SBOM")
    kind = body_format(media_type(request), format, body)
    path = "bom.json" if kind == CYCLONEDX else "requirements.txt"
    reader = read_body_sbom if kind == CYCLONEDX else read_body_requirements
    requirements, notes = await run_in_threadpool(reader, body, path)
    read = (to_components(requirements), notes, {"kind": kind, "path": path})
    try:
        added = await run_in_threadpool(add_project, store, project, read, label, utcnow())
    except LockError as exc:
        raise ApiError(503, f"projects are being written by another process: {exc}") from exc
    except ProjectError as exc:
        raise ApiError(400, str(exc)) from exc
    document = {"project": project_info(added.project), "change": added.change, "notes": notes}
    return JSONResponse(document, status_code=201 if added.change == "added" else 200)


@router.get("/v1/projects")
async def get_projects(request: Request) -> JSONResponse:
    """Every project, with the latest evaluation's counts."""
    return JSONResponse(await run_in_threadpool(list_projects, _state(request).store))


@router.get("/v1/projects/{name}")
async def get_project(
    name: str,
    request: Request,
    fail_on: str | None = Query(None, description="as --fail-on: low, medium, high, critical"),
    allow_unknown: bool = Query(False, description="as --allow-unknown"),
    allow_suspicious: bool = Query(False, description="as --allow-suspicious"),
) -> JSONResponse:
    """A project judged against the served snapshot (``seckb.project/1``)."""
    project = _name(name)
    if fail_on is not None and fail_on not in THRESHOLDS:
        raise ApiError(400, f"fail_on must be one of {', '.join(THRESHOLDS)}, not {fail_on!r}")
    state = server_state(request)
    view = state.holder.require()
    options = AuditOptions(fail_on, allow_unknown, allow_suspicious)
    try:
        result, failing = await run_in_threadpool(
            show_project, _state(request).store, project, view.snapshot, options, utcnow()
        )
    except ProjectNotFoundError as exc:
        raise ApiError(404, str(exc)) from exc
    warnings = staleness_warnings(view.snapshot, state.max_age, utcnow())
    code = 1 if failing else 0
    return JSONResponse(project_document(result, view.snapshot, options, code, warnings))


@router.delete("/v1/projects/{name}")
async def delete_project(name: str, request: Request) -> JSONResponse:
    """Delete a project with its history and decisions."""
    store = authorize(request)
    project = _name(name)
    try:
        removed = await run_in_threadpool(remove_project, store, project)
    except LockError as exc:
        raise ApiError(503, f"projects are being written by another process: {exc}") from exc
    if not removed:
        raise ApiError(404, f"no project named {project!r}")
    return JSONResponse({"deleted": project})

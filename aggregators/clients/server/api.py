"""seckb's own endpoints: packages, versions, audit, health and metrics (all read-only).

* ``GET /v1/packages/{name}`` — ``seckb.package/1``: releases with advisory counts, Bandit
  status and Scorecard score; the advisories naming the package; Bandit scans; Scorecard checks.
* ``GET /v1/packages/{name}/versions/{version}`` — ``seckb.version/1``: the
  ``package_version_security`` row with its advisories, Bandit findings and Scorecard checks.
* ``POST /v1/audit`` — a requirements file or a CycloneDX SBOM; the ``seckb.audit/1`` document of
  ``seckb audit --json`` (``?fail_on=``, ``?allow_unknown=``, ``?format=``, ``?name=``).
* ``GET /healthz`` — the snapshot served, its age and per-source freshness; ``503`` when there is
  none or it is older than ``max_age_hours``.
* ``GET /metrics`` — Prometheus text.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from aggregators.clients.audit import THRESHOLDS, AuditOptions
from aggregators.clients.documents import snapshot_info
from aggregators.clients.freshness import staleness_warnings
from aggregators.clients.server.auditing import (
    CYCLONEDX,
    audit_body,
    body_format,
    read_body_requirements,
    read_body_sbom,
)
from aggregators.clients.server.errors import ApiError
from aggregators.clients.server.metrics import CONTENT_TYPE
from aggregators.clients.server.packages import package_document, version_document
from aggregators.clients.server.schemas import (
    AUDIT_REQUEST,
    AUDIT_RESPONSES,
    HEALTH_RESPONSES,
    PACKAGE_RESPONSES,
)
from aggregators.clients.server.state import (
    ServerState,
    media_type,
    package_name,
    pep440,
    server_state,
)
from aggregators.core.clock import utcnow

router = APIRouter(tags=["seckb"])


@router.get("/v1/packages/{name}", responses=PACKAGE_RESPONSES)
async def package(name: str, request: Request) -> JSONResponse:
    """A package: its releases, the advisories naming it, Bandit scans, Scorecard checks."""
    view = server_state(request).holder.require()
    document = await run_in_threadpool(
        package_document, view, package_name(name), server_state(request).checks
    )
    return JSONResponse(document)


@router.get("/v1/packages/{name}/versions/{version}", responses=PACKAGE_RESPONSES)
async def package_version(name: str, version: str, request: Request) -> JSONResponse:
    """One version: its security row, advisories, Bandit findings and Scorecard checks."""
    view = server_state(request).holder.require()
    document = await run_in_threadpool(
        version_document, view, package_name(name), pep440(version), server_state(request).checks
    )
    return JSONResponse(document)


@router.post("/v1/audit", openapi_extra=AUDIT_REQUEST, responses=AUDIT_RESPONSES)
async def audit(
    request: Request,
    fail_on: str | None = Query(None, description="as --fail-on: low, medium, high, critical"),
    allow_unknown: bool = Query(False, description="as --allow-unknown"),
    allow_suspicious: bool = Query(False, description="as --allow-suspicious"),
    format: str | None = Query(None, include_in_schema=False),  # see FORMAT_NOTE
    name: str | None = Query(None, description="file name shown in the document"),
) -> JSONResponse:
    """Audit a requirements file or CycloneDX SBOM: the ``seckb.audit/1`` document."""
    state = server_state(request)
    view = state.holder.require()
    if fail_on is not None and fail_on not in THRESHOLDS:
        raise ApiError(400, f"fail_on must be one of {', '.join(THRESHOLDS)}, not {fail_on!r}")
    body = await request.body()
    kind = body_format(media_type(request), format, body)
    if not body.strip():
        raise ApiError(400, "the request body is empty: send a requirements file or an SBOM")
    label = (name or ("bom.json" if kind == CYCLONEDX else "requirements.txt"))[:200]
    reader = read_body_sbom if kind == CYCLONEDX else read_body_requirements
    requirements, notes = await run_in_threadpool(reader, body, label)
    source = {"kind": kind, "path": label}
    document = await run_in_threadpool(
        audit_body,
        view.snapshot,
        requirements,
        notes,
        source,
        AuditOptions(fail_on, allow_unknown, allow_suspicious),
        utcnow(),
        state.max_age,
        state.checks,
    )
    return JSONResponse(document)


def health_document(state: ServerState) -> tuple[int, dict[str, Any]]:
    """The status code and body of ``/healthz``."""
    holder, now = state.holder, utcnow()
    view = holder.view
    body: dict[str, Any] = {
        "status": "unavailable",
        "snapshot": None,
        "max_age_hours": state.max_age.total_seconds() / 3600,
        "following_latest": holder.following,
        "latest": holder.latest_id() if holder.following else None,
        "reload_error": holder.status.last_error,
        "sources": {},
        "warnings": [],
    }
    if view is None:
        return 503, body
    manifest = view.snapshot.manifest
    age = _age(manifest.get("created_at"), now)
    body["snapshot"] = {**snapshot_info(view.snapshot), "age_seconds": age}
    body["sources"] = {
        name: {
            "status": entry.get("status"),
            "refreshed_at": entry.get("refreshed_at"),
            "age_seconds": _age(entry.get("refreshed_at"), now),
            "error": entry.get("error"),
        }
        for name, entry in sorted(manifest.get("sources", {}).items())
    }
    body["warnings"] = staleness_warnings(view.snapshot, state.max_age, now)
    fresh = age is not None and age <= state.max_age.total_seconds()
    body["status"] = "ok" if fresh else "stale"
    return (200 if fresh else 503), body


def _age(stamp: Any, now: datetime) -> float | None:
    return (now - datetime.fromisoformat(stamp)).total_seconds() if stamp else None


@router.get("/healthz", responses=HEALTH_RESPONSES)
async def healthz(request: Request) -> JSONResponse:
    """Health: the snapshot served, its age, each source's freshness (``503`` when stale)."""
    status, body = health_document(server_state(request))
    return JSONResponse(body, status_code=status)


@router.get("/metrics", response_class=Response)
async def metrics(request: Request) -> Response:
    """Prometheus metrics (text exposition format)."""
    state = server_state(request)
    view = state.holder.view
    numbers: dict[str, float | str | None] = {
        "id": view.id if view else None,
        "created_at": view.snapshot.manifest.get("created_at") if view else None,
        "loads": state.holder.status.loads,
        "failures": state.holder.status.failures,
        "cached": view.cached_verdicts if view else 0,
    }
    text = state.metrics.render(numbers, utcnow())
    if state.index is not None:
        text += "\n".join(state.index.metrics_lines()) + "\n"
    return Response(text, media_type=CONTENT_TYPE)

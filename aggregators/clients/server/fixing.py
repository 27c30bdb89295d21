"""``POST /v1/fix``: ``seckb fix`` for CI bots — a requirements file (``text/plain``) or a
``uv.lock`` (``?format=uv.lock``) in the body; the ``seckb.fix/1`` document out, with the fixed
requirements file in ``fixed`` (a ``uv.lock`` is never rewritten here: the document's changes
are what ``uv lock --upgrade-package NAME==VERSION`` applies).

uv resolves through a private loopback index over the snapshot being served, the server's own
upstream cache and policy. A fix runs uv for a while, so at most ``FIX_SLOTS`` run at once;
another request meanwhile gets a ``429`` with ``Retry-After``. The body is written to a private
temporary directory, read like ``seckb fix -r`` reads a file (includes refused), and deleted.
"""

from __future__ import annotations

import tempfile
import threading
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse

from aggregators.clients.documents import snapshot_info
from aggregators.clients.fix.inputs import InputError, read_lock_input, read_requirements_input
from aggregators.clients.fix.plan import STRATEGIES, Plan, fix_document
from aggregators.clients.fix.service import make_plan
from aggregators.clients.fix.strategies import PlanError
from aggregators.clients.fix.uv import Uv, UvError, default_python
from aggregators.clients.fix.write import write_requirements
from aggregators.clients.server.auditing import refuse_includes
from aggregators.clients.server.errors import ApiError
from aggregators.clients.server.index import PackageIndex
from aggregators.clients.server.schemas import FIX_REQUEST, FIX_RESPONSES
from aggregators.clients.server.state import server_state
from aggregators.clients.server.view import View
from aggregators.core.errors import SeckbError
from aggregators.core.workspace import Workspace

router = APIRouter(tags=["seckb"])
FIX_SLOTS = threading.BoundedSemaphore(2)
FORMATS = ("requirements", "uv.lock")
_PYTHON = r"^3\.\d{1,2}$"


def _plan(
    body: bytes,
    kind: str,
    name: str,
    view: View,
    index: PackageIndex,
    workspace: Workspace,
    options: dict[str, Any],
) -> dict[str, Any]:
    """Plan the fix of ``body`` in a private directory; the document (``fixed``: the new file)."""
    with tempfile.TemporaryDirectory(prefix="seckb-fix-") as temp:
        path = Path(temp) / ("uv.lock" if kind == "uv.lock" else "requirements.txt")
        path.write_bytes(body)
        if kind == "uv.lock":
            source = read_lock_input(path)
        else:
            refuse_includes(path)
            source = read_requirements_input(path)
        uv = Uv(options["python_version"], 120.0)
        plan = make_plan(source, view, index, options["strategy"], uv, workspace)
        plan.uv = uv.version()
        fixed = None
        if kind == "requirements":
            fixed = path.read_text(encoding="utf-8")
            if plan.changes:
                write_requirements(plan)
                fixed = path.read_text(encoding="utf-8")
        document = fix_document(plan, snapshot_info(view.snapshot), _code(plan), False)
        document["fixed"] = fixed
        located: dict[str, Any] = _located(document, str(path), name)
        return located


def _code(plan: Plan) -> int:
    return 1 if plan.needed else 0


def _located(document: Any, path: str, name: str) -> Any:
    """``document`` with the temporary path replaced by the name the client gave."""
    if isinstance(document, str):
        return document.replace(path, name)
    if isinstance(document, dict):
        return {k: _located(v, path, name) for k, v in document.items()}
    if isinstance(document, list):
        return [_located(v, path, name) for v in document]
    return document


@router.post("/v1/fix", openapi_extra=FIX_REQUEST, responses=FIX_RESPONSES)
async def fix(
    request: Request,
    strategy: str = Query("in-place", description="in-place or relax"),
    format: str | None = Query(None, description="requirements (default) or uv.lock"),
    python_version: str | None = Query(
        None, pattern=_PYTHON, description="the Python the file is for (default: the server's)"
    ),
    name: str | None = Query(None, description="file name shown in the document"),
) -> JSONResponse:
    """Plan the smallest safe change: the ``seckb.fix/1`` document and the fixed file."""
    state = server_state(request)
    view = state.holder.require()
    if state.index is None:
        raise ApiError(503, "the package index is not configured on this server")
    if strategy not in STRATEGIES:
        raise ApiError(400, f"strategy must be one of {', '.join(STRATEGIES)}, not {strategy!r}")
    kind = format or "requirements"
    if kind not in FORMATS:
        raise ApiError(400, f"format must be one of {', '.join(FORMATS)}, not {kind!r}")
    body = await request.body()
    if not body.strip():
        raise ApiError(400, "the request body is empty: send a requirements file or a uv.lock")
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(400, f"the body is not UTF-8: {exc.reason}") from exc
    if not FIX_SLOTS.acquire(blocking=False):
        raise ApiError(429, "fixes are running; retry in a few seconds", {"Retry-After": "5"})
    options = {"strategy": strategy, "python_version": python_version or default_python()}
    label = (name or ("uv.lock" if kind == "uv.lock" else "requirements.txt"))[:200]
    try:
        document = await run_in_threadpool(
            _plan, body, kind, label, view, state.index, state.holder.workspace, options
        )
    except InputError as exc:
        raise ApiError(400, str(exc)) from exc
    except PlanError as exc:
        raise ApiError(422, str(exc)) from exc
    except UvError as exc:
        raise ApiError(503, str(exc)) from exc
    except SeckbError as exc:  # the upstream index did not answer
        raise ApiError(502, str(exc)) from exc
    finally:
        FIX_SLOTS.release()
    return JSONResponse(document)

"""The OSV API v1 for the PyPI ecosystem, as documented by osv.dev and spoken by pip-audit and uv.

* ``POST /v1/query`` — ``{"package": {"name", "ecosystem": "PyPI"} | {"purl"}, "version"}``: the
  full OSV documents of the active advisories affecting that version, ``{}`` when none does;
  more than ``page_size`` (1,000, as OSV) come in pages linked by ``next_page_token``.
* ``POST /v1/querybatch`` — ``{"queries": [...]}`` (at most 1,000): per query
  ``{"vulns": [{"id", "modified"}]}``, or ``{}``.
* ``GET /v1/vulns/{id}`` — one document, by id or by alias; ``404`` ``Bug not found.`` as OSV.

Names are PEP 503-normalized and versions compared under PEP 440 by the shared evaluation
(:meth:`~aggregators.clients.server.view.View.affecting`); withdrawn advisories are never
returned by a query. What seckb cannot answer is an error, never an empty "clean" answer:
another ecosystem, a purl of another type, a commit query, a missing or non-PEP 440 version.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.concurrency import run_in_threadpool
from packageurl import PackageURL

from aggregators.clients.server.errors import ApiError
from aggregators.clients.server.schemas import (
    BATCH_REQUEST,
    BATCH_RESPONSES,
    QUERY_REQUEST,
    QUERY_RESPONSES,
    VULN_RESPONSES,
)
from aggregators.clients.server.state import json_body, package_name, pep440, server_state
from aggregators.clients.server.view import OsvRecords, View

ECOSYSTEM = "PyPI"
VULN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._:+-]{0,127}$")
JSON = "application/json"

router = APIRouter(tags=["OSV API v1 (PyPI ecosystem)"])


@dataclass(frozen=True)
class Asked:
    """One validated query: a PEP 503 name, a PEP 440 version, where its page starts."""

    package: str
    version: str
    offset: int = 0


def _package_of(package: Any, where: str) -> tuple[str, str | None]:
    """The name (and the purl's version, if any) of a query's ``package`` object."""
    if not isinstance(package, dict):
        raise ApiError(400, f"{where}package must be an object: {{name, ecosystem}} or {{purl}}")
    purl = package.get("purl")
    if purl is not None:
        if package.get("name") is not None or package.get("ecosystem") is not None:
            raise ApiError(
                400, f"{where}give package.purl or package.name with ecosystem, not both"
            )
        if not isinstance(purl, str):
            raise ApiError(400, f"{where}package.purl must be a string")
        try:
            parsed = PackageURL.from_string(purl)
        except ValueError as exc:
            raise ApiError(400, f"{where}package.purl is not a valid package URL: {exc}") from exc
        if parsed.type != "pypi":
            raise ApiError(
                400, f"{where}purl type {parsed.type!r} is not served: only pkg:pypi/ purls are"
            )
        return package_name(parsed.name, f"{where}purl name"), parsed.version
    ecosystem = package.get("ecosystem")
    if ecosystem is None:
        raise ApiError(400, f"{where}package.ecosystem is required with package.name ('PyPI')")
    if ecosystem != ECOSYSTEM:
        raise ApiError(
            400, f"{where}ecosystem {str(ecosystem)[:40]!r} is not served: only 'PyPI' is"
        )
    return package_name(package.get("name"), f"{where}package.name"), None


def parse_query(item: Any, snapshot_id: str, where: str = "") -> Asked:
    """Validate one OSV query (pure); raise a ``400`` :class:`ApiError` saying what is wrong."""
    if not isinstance(item, dict):
        raise ApiError(400, f"{where}a query must be a JSON object")
    if item.get("commit"):
        raise ApiError(400, f"{where}commit queries are not supported: ask by package and version")
    name, purl_version = _package_of(item.get("package"), where)
    version = item.get("version")
    if version is not None and purl_version is not None:
        raise ApiError(400, f"{where}version given both in the purl and in 'version'")
    if version is None and purl_version is None:
        raise ApiError(
            400,
            f"{where}a version is required: seckb answers for one version at a time "
            "(a query without one is not answered as 'no known vulnerability')",
        )
    text = pep440(version if version is not None else purl_version, f"{where}version")
    token = item.get("page_token")
    offset = decode_token(token, snapshot_id, where) if token else 0
    return Asked(name, text, offset)


def encode_token(snapshot_id: str, offset: int) -> str:
    """An opaque page token: the snapshot and where the next page starts."""
    raw = json.dumps({"s": snapshot_id, "o": offset}, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode("ascii")


def decode_token(token: Any, snapshot_id: str, where: str = "") -> int:
    """The offset a page token carries; ``400`` when it is not one of ours or its snapshot is
    no longer served."""
    try:
        data = json.loads(base64.urlsafe_b64decode(str(token).encode("ascii")))
        offset, issued = int(data["o"]), str(data["s"])
    except (ValueError, KeyError, TypeError, binascii.Error, UnicodeEncodeError) as exc:
        raise ApiError(400, f"{where}Invalid page token.") from exc
    if offset < 0:
        raise ApiError(400, f"{where}Invalid page token.")
    if issued != snapshot_id:
        raise ApiError(
            400,
            f"{where}the page token belongs to snapshot {issued}, but the server now serves "
            f"{snapshot_id}: repeat the query without page_token",
        )
    return offset


def _records(view: View) -> OsvRecords:
    if view.osv is None:
        raise ApiError(
            503,
            f"snapshot {view.id} holds no OSV documents (published by an older seckb): "
            "run 'seckb ingest' to publish one that does",
        )
    return view.osv


def _page(ids: tuple[str, ...], asked: Asked, size: int) -> tuple[tuple[str, ...], int | None]:
    end = asked.offset + size
    return ids[asked.offset : end], end if end < len(ids) else None


def query_body(view: View, asked: Asked, page_size: int) -> bytes:
    """The ``/v1/query`` answer: the OSV documents themselves, as the advisory-db has them."""
    records = _records(view)
    page, more = _page(view.affecting(asked.package, asked.version), asked, page_size)
    if not page:
        return b"{}"
    parts = [b'{"vulns":[', b",".join(records.documents[i] for i in page), b"]"]
    if more is not None:
        parts.append(b',"next_page_token":"' + encode_token(view.id, more).encode() + b'"')
    return b"".join(parts) + b"}"


def batch_body(view: View, asked: list[Asked], page_size: int) -> bytes:
    """The ``/v1/querybatch`` answer: per query the id and ``modified`` of each hit."""
    records = _records(view)
    results: list[dict[str, Any]] = []
    for item, ids in zip(
        asked, view.affecting_many((a.package, a.version) for a in asked), strict=True
    ):
        page, more = _page(ids, item, page_size)
        if not page:
            results.append({})
            continue
        vulns = [_summary(i, records.modified.get(i)) for i in page]
        result: dict[str, Any] = {"vulns": vulns}
        if more is not None:
            result["next_page_token"] = encode_token(view.id, more)
        results.append(result)
    return json.dumps({"results": results}, separators=(",", ":")).encode()


def _summary(advisory_id: str, modified: str | None) -> dict[str, str]:
    return {"id": advisory_id, "modified": modified} if modified else {"id": advisory_id}


@router.post("/v1/query", openapi_extra=QUERY_REQUEST, responses=QUERY_RESPONSES)
async def query(request: Request) -> Response:
    """Active advisories affecting one PyPI package version: their full OSV documents."""
    state = server_state(request)
    view = state.holder.require()
    asked = parse_query(await json_body(request), view.id)
    return Response(query_body(view, asked, state.page_size), media_type=JSON)


@router.post("/v1/querybatch", openapi_extra=BATCH_REQUEST, responses=BATCH_RESPONSES)
async def querybatch(request: Request) -> Response:
    """Many queries at once (at most 1,000): per query the ids and ``modified`` of the hits."""
    state = server_state(request)
    view = state.holder.require()
    body = await json_body(request)
    queries = body.get("queries") if isinstance(body, dict) else None
    if not isinstance(queries, list):
        raise ApiError(400, "the body must be an object with a 'queries' list")
    if len(queries) > state.limits.max_batch_queries:
        raise ApiError(400, f"Too many queries: {len(queries)} > {state.limits.max_batch_queries}.")
    asked = [parse_query(q, view.id, f"queries[{i}]: ") for i, q in enumerate(queries)]
    data = await run_in_threadpool(batch_body, view, asked, state.page_size)
    return Response(data, media_type=JSON)


@router.get("/v1/vulns/{vuln_id}", responses=VULN_RESPONSES)
async def vuln(vuln_id: str, request: Request) -> Response:
    """One OSV document by its id or by an alias (``CVE-...``, ``GHSA-...``)."""
    view = server_state(request).holder.require()
    if not VULN_ID.match(vuln_id):
        raise ApiError(400, f"{vuln_id[:80]!r} is not a vulnerability id")
    records = _records(view)
    found = records.resolve(vuln_id)
    if found is None:
        raise ApiError(404, "Bug not found.")
    return Response(records.documents[found], media_type=JSON)

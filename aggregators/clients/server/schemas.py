"""What the OpenAPI document (``/openapi.json``, ``/docs``) says the endpoints take and give.

Bodies are read and validated by the endpoints themselves (so every mistake gets a ``400`` with a
message in OSV's error shape rather than a framework's ``422``); these JSON Schemas only
document them.
"""

from __future__ import annotations

from typing import Any

Responses = dict[int | str, dict[str, Any]]

ERROR: dict[str, Any] = {
    "type": "object",
    "required": ["code", "message"],
    "properties": {
        "code": {"type": "integer", "description": "gRPC status code, as OSV's API gives it"},
        "message": {"type": "string"},
    },
}
PACKAGE: dict[str, Any] = {
    "type": "object",
    "description": "name with ecosystem 'PyPI', or a pkg:pypi/ purl",
    "properties": {
        "name": {"type": "string", "example": "jinja2"},
        "ecosystem": {"type": "string", "enum": ["PyPI"]},
        "purl": {"type": "string", "example": "pkg:pypi/jinja2@2.4.1"},
    },
}
QUERY: dict[str, Any] = {
    "type": "object",
    "required": ["package"],
    "properties": {
        "package": PACKAGE,
        "version": {"type": "string", "description": "PEP 440; required unless in the purl"},
        "page_token": {"type": "string", "description": "next_page_token of the previous page"},
    },
}
OSV_DOCUMENT: dict[str, Any] = {
    "type": "object",
    "description": "An OSV document as the PyPA advisory-db publishes it",
    "externalDocs": {"url": "https://ossf.github.io/osv-schema/"},
}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> Responses:
    words = {
        400: "invalid query (another ecosystem, no version, not PEP 440, malformed JSON...)",
        404: "unknown id (`Bug not found.`) or package",
        408: "the request did not arrive in time",
        413: "body or batch too large",
        415: "content type not accepted",
        406: "none of the accepted media types is served",
        422: "the fixed set does not resolve",
        429: "too many fixes at once: retry after Retry-After seconds",
        502: "the upstream index did not answer, and no page of it is cached",
        503: "no snapshot is being served yet (or the index is not configured)",
    }
    return {status: _json(ERROR, words[status]) for status in statuses}


def _request(schema: dict[str, Any], *types: str) -> dict[str, Any]:
    return {
        "requestBody": {
            "required": True,
            "content": {kind: {"schema": schema} for kind in types or ("application/json",)},
        }
    }


QUERY_REQUEST = _request(QUERY)
BATCH_REQUEST = _request(
    {
        "type": "object",
        "required": ["queries"],
        "properties": {"queries": {"type": "array", "maxItems": 1000, "items": QUERY}},
    }
)
QUERY_RESPONSES: Responses = {
    200: _json(
        {
            "type": "object",
            "properties": {
                "vulns": {"type": "array", "items": OSV_DOCUMENT},
                "next_page_token": {"type": "string"},
            },
        },
        "the affecting advisories' OSV documents; `{}` when none affects the version",
    ),
    **_errors(400, 408, 413, 415, 503),
}
BATCH_RESPONSES: Responses = {
    200: _json(
        {
            "type": "object",
            "properties": {
                "results": {
                    "type": "array",
                    "items": {
                        "type": "object",
                        "properties": {
                            "vulns": {
                                "type": "array",
                                "items": {
                                    "type": "object",
                                    "properties": {
                                        "id": {"type": "string"},
                                        "modified": {"type": "string", "format": "date-time"},
                                    },
                                },
                            },
                            "next_page_token": {"type": "string"},
                        },
                    },
                }
            },
        },
        "one result per query, in order",
    ),
    **_errors(400, 408, 413, 415, 503),
}
VULN_RESPONSES: Responses = {200: _json(OSV_DOCUMENT, "the OSV document"), **_errors(400, 404, 503)}
AUDIT_REQUEST = _request(
    {"type": "string", "description": "a requirements file or a CycloneDX JSON SBOM"},
    "text/plain",
    "application/vnd.cyclonedx+json",
    "application/json",
)
AUDIT_RESPONSES: Responses = {
    200: _json({"type": "object"}, "the seckb.audit/1 document, as `seckb audit --json`"),
    **_errors(400, 408, 413, 415, 503),
}
PACKAGE_RESPONSES: Responses = {
    200: _json({"type": "object"}, "the package: releases, advisories, repository"),
    **_errors(400, 404, 503),
}
HEALTH_RESPONSES: Responses = {
    200: _json({"type": "object"}, "a snapshot is served and is fresh"),
    503: _json({"type": "object"}, "no snapshot, or older than max_age_hours"),
}
SIMPLE_RESPONSES: Responses = {
    200: {
        "description": "the page: PEP 691 JSON or PEP 503 HTML as `Accept` asks; blocked files "
        "yanked with the reason (`/simple/`) or left out (`/strict/simple/`); the `X-Seckb-*` "
        "headers name the snapshot and policy that decided it",
        "content": {
            "application/vnd.pypi.simple.v1+json": {"schema": {"type": "object"}},
            "application/vnd.pypi.simple.v1+html": {"schema": {"type": "string"}},
            "text/html": {"schema": {"type": "string"}},
        },
    },
    301: {"description": "the project name is not PEP 503-normalized: its normalized URL"},
    304: {"description": "the page did not change (`If-None-Match`)"},
    **_errors(400, 404, 406, 502, 503),
}
POLICY_RESPONSES: Responses = {
    200: _json({"type": "object"}, "the seckb.policy/1 document: each version's verdict"),
    **_errors(400, 503),
}
FIX_REQUEST = _request(
    {"type": "string", "description": "a pinned requirements file, or a uv.lock"},
    "text/plain",
    "application/toml",
)
FIX_RESPONSES: Responses = {
    200: _json({"type": "object"}, "the seckb.fix/1 document, as `seckb fix --json`, with `fixed`"),
    **_errors(400, 408, 413, 422, 429, 502, 503),
}

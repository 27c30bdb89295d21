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


def _query_schema() -> dict[str, Any]:
    """One OSV query as ``parse_query`` accepts it: ``package`` by ``name`` and ``ecosystem``
    (``PyPI``) or by a ``pkg:pypi/`` purl, never both; the version in ``version`` or in the
    purl, exactly once. ``page_token`` is the ``next_page_token`` of the previous page."""
    from aggregators.clients.server.state import MAX_NAME_CHARS, MAX_VERSION_CHARS
    from aggregators.core.names import NAME_PATTERN
    from aggregators.core.versions import VERSION_PATTERN

    name = {"type": "string", "pattern": NAME_PATTERN, "maxLength": MAX_NAME_CHARS}
    version = {"type": "string", "pattern": VERSION_PATTERN, "maxLength": MAX_VERSION_CHARS}
    bare, pinned = NAME_PATTERN[1:-1], VERSION_PATTERN[1:-1]
    by_name = {
        "type": "object",
        "required": ["name", "ecosystem"],
        "properties": {"name": name, "ecosystem": {"type": "string", "enum": ["PyPI"]}},
        "not": {"required": ["purl"]},
    }

    def by_purl(pattern: str) -> dict[str, Any]:
        return {
            "type": "object",
            "required": ["purl"],
            "properties": {  # at most as long as a version may be: so are its name and version
                "purl": {"type": "string", "pattern": pattern, "maxLength": MAX_VERSION_CHARS}
            },
            "not": {"anyOf": [{"required": ["name"]}, {"required": ["ecosystem"]}]},
        }

    return {
        "type": "object",
        "description": "package by name and ecosystem, or by purl; the version once",
        "oneOf": [
            {"required": ["package", "version"],
             "properties": {"package": by_name, "version": version}},
            {"required": ["package", "version"],
             "properties": {"package": by_purl(f"^pkg:pypi/{bare}$"), "version": version}},
            {"required": ["package"], "not": {"required": ["version"]},
             "properties": {"package": by_purl(f"^pkg:pypi/{bare}@{pinned}$")}},
        ],
        "example": {"package": {"name": "jinja2", "ecosystem": "PyPI"}, "version": "2.4.1"},
    }  # fmt: skip


QUERY = _query_schema()
OSV_DOCUMENT: dict[str, Any] = {
    "type": "object",
    "description": "An OSV document as the PyPA advisory-db publishes it",
    "externalDocs": {"url": "https://ossf.github.io/osv-schema/"},
}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _errors(*statuses: int) -> Responses:
    words = {
        400: "invalid request (a name or version that is not valid, another ecosystem, no "
        "version, malformed JSON...)",
        404: "unknown id (`Bug not found.`) or package",
        408: "the request did not arrive in time",
        413: "body or batch too large",
        414: "request path or query longer than the server takes",
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
FORMAT_NOTE = (
    "The body's format follows its Content-Type (text/plain: a requirements file; "
    "application/json or application/vnd.cyclonedx+json: a CycloneDX SBOM). A client that "
    "cannot set it may add ?format=requirements or ?format=cyclonedx, which wins; it is left "
    "out of this schema because it must agree with the body."
)
TEXT_BODY = {"type": "string", "pattern": "\\S", "description": "not empty"}
SBOM: dict[str, Any] = {
    "type": "object",
    "description": "a CycloneDX JSON SBOM (syft, cyclonedx-py)",
    "required": ["bomFormat"],
    "properties": {
        "bomFormat": {"type": "string", "enum": ["CycloneDX"]},
        "components": {"type": "array", "items": {"type": "object"}},
        "metadata": {"type": "object"},
    },
}
AUDIT_REQUEST = {
    "requestBody": {
        "required": True,
        "description": FORMAT_NOTE,
        "content": {
            "text/plain": {"schema": {**TEXT_BODY, "description": "a requirements file"}},
            "application/vnd.cyclonedx+json": {"schema": SBOM},
            "application/json": {"schema": SBOM},
        },
    }
}
WATCHED_SBOM: dict[str, Any] = {
    **SBOM,
    "description": "a CycloneDX JSON SBOM naming at least one PyPI package",
    "required": ["bomFormat", "components"],
    "properties": {
        **SBOM["properties"],
        "components": {  # others may be of other kinds: they are skipped with a note
            "type": "array",
            "items": {"type": "object"},
            "contains": {
                "type": "object",
                "required": ["name"],
                "properties": {
                    "name": {"type": "string", "pattern": "\\S"},
                    "type": {"type": "string", "enum": ["library", "framework", "application"]},
                },
                "not": {"required": ["purl"]},
            },
        },
    },
}
PROJECT_REQUEST = {
    "requestBody": {
        "required": True,
        "description": FORMAT_NOTE,
        "content": {
            "text/plain": {
                "schema": {
                    "type": "string",
                    "pattern": "(^|\\n)[ \\t]*[^\\s#-]",
                    "description": "a requirements file with at least one requirement",
                }
            },
            "application/vnd.cyclonedx+json": {"schema": WATCHED_SBOM},
            "application/json": {"schema": WATCHED_SBOM},
        },
    }
}
PROJECT_RESPONSES: Responses = {
    200: _json({"type": "object"}, "the project replaced: its stored summary and the notes"),
    201: _json({"type": "object"}, "the project added"),
}
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
    {**TEXT_BODY, "description": "a pinned requirements file, or a uv.lock"},
    "text/plain",
    "application/toml",
)
FIX_RESPONSES: Responses = {
    200: _json({"type": "object"}, "the seckb.fix/1 document, as `seckb fix --json`, with `fixed`"),
    **_errors(400, 408, 413, 422, 429, 502, 503),
}


def _constraints() -> dict[str, dict[str, Any]]:
    """Each path or query parameter's schema, as the endpoints check it (the same patterns)."""
    from aggregators.clients.audit import THRESHOLDS
    from aggregators.clients.server.osv import VULN_ID
    from aggregators.clients.server.projects import MAX_VERSION_CHARS as PROJECT_VERSION_CHARS
    from aggregators.clients.server.projects import PRINTABLE_PATTERN
    from aggregators.clients.server.state import MAX_NAME_CHARS, MAX_VERSION_CHARS
    from aggregators.core.names import NAME_PATTERN
    from aggregators.core.versions import VERSION_PATTERN
    from aggregators.store.projects import NAME as PROJECT

    name = {"type": "string", "pattern": NAME_PATTERN, "maxLength": MAX_NAME_CHARS}
    version = {"type": "string", "pattern": VERSION_PATTERN, "maxLength": MAX_VERSION_CHARS}
    return {
        "name": name,
        "package": name,
        "project": name,
        "version": version,
        "vuln_id": {"type": "string", "pattern": VULN_ID.pattern},
        "fail_on": {"type": "string", "enum": list(THRESHOLDS)},
        "format": {"type": "string", "enum": ["requirements", "cyclonedx"]},
        "project:name": {"type": "string", "pattern": f"^{PROJECT.pattern}$"},
        "project:version": {
            "type": "string",
            "pattern": PRINTABLE_PATTERN,
            "maxLength": PROJECT_VERSION_CHARS,
        },
    }


WRITES = {"put", "delete"}
"""Methods that need the bearer token (``401`` without it)."""
EXTRA_ERRORS: dict[str, tuple[int, ...]] = {
    "/v1/projects/{name}": (400, 404, 503),
    "/v1/projects": (503,),
    "/packages/{name}": (400, 404, 503),
}


def complete(document: dict[str, Any]) -> dict[str, Any]:
    """The OpenAPI document with what FastAPI cannot see: the constraints the endpoints check on
    parameters (name and version patterns, enums, lengths) and the errors each can answer."""
    constraints = _constraints()
    for path, operations in document.get("paths", {}).items():
        for method, operation in operations.items():
            for parameter in operation.get("parameters", []):
                key = parameter["name"]
                if path.startswith("/v1/projects/") and key in ("name", "version"):
                    key = f"project:{key}"
                elif key == "name" and parameter.get("in") != "path":
                    continue  # ?name= of /v1/audit is a label, not a package name
                if key in constraints and parameter.get("in") in ("path", "query"):
                    schema = constraints[key]
                    parameter["schema"] = (
                        schema
                        if parameter.get("required")
                        else {"anyOf": [schema, {"type": "null"}]}
                    )
            responses = operation.setdefault("responses", {})
            for status, body in _errors(*EXTRA_ERRORS.get(path, ()), 414).items():
                responses.setdefault(str(status), body)
            if method in WRITES:
                responses.setdefault("401", _json(ERROR, "no bearer token, or not the server's"))
    return document

"""``POST /v1/audit``: a requirements file or a CycloneDX SBOM in the body, the ``seckb.audit/1``
document out — built by the functions ``seckb audit --json`` runs, in the same order.

A requirements body is read by the same reader as ``seckb audit -r`` (pip's own parser, which
reads files): the body is handed to it as an in-memory file (``memfd``, Linux), or a private
temporary file elsewhere, deleted at once. A body that includes other files (``-r``/``-c``) is
refused: the server never reads a file a request names.
"""

from __future__ import annotations

import contextlib
import json
import os
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pip_requirements_parser as pip_parser  # type: ignore[import-untyped]

from aggregators.clients.audit import AuditOptions, Requirement, audit_snapshot
from aggregators.clients.checks import Checks
from aggregators.clients.documents import audit_document
from aggregators.clients.freshness import staleness_warnings
from aggregators.clients.inputs.requirements import read_requirements
from aggregators.clients.inputs.sbom import SbomError, parse_sbom
from aggregators.clients.server.errors import ApiError
from aggregators.store.snapshots import Snapshot

REQUIREMENTS = "requirements"
CYCLONEDX = "cyclonedx"
SBOM_TYPES = ("application/json", "application/vnd.cyclonedx+json")
TEXT_TYPES = ("text/plain", "text/x-requirements")


def body_format(kind: str | None, asked: str | None, body: bytes) -> str:
    """``requirements`` or ``cyclonedx``: as asked (``?format=``), else by the content type,
    else by the first character (``{``: an SBOM)."""
    if asked is not None:
        if asked not in (REQUIREMENTS, CYCLONEDX):
            raise ApiError(400, f"format must be {REQUIREMENTS} or {CYCLONEDX}, not {asked!r}")
        return asked
    if kind in SBOM_TYPES or (kind or "").endswith("+json"):
        return CYCLONEDX
    if kind in TEXT_TYPES:
        return REQUIREMENTS
    if kind is not None:
        raise ApiError(
            415,
            f"Content-Type {kind} is not accepted: send text/plain (a requirements file) or "
            "application/vnd.cyclonedx+json (a CycloneDX SBOM)",
        )
    return CYCLONEDX if body.lstrip().startswith(b"{") else REQUIREMENTS


@contextlib.contextmanager
def _as_file(data: bytes) -> Iterator[Path]:
    """``data`` as a readable file path: an in-memory file where the system has them."""
    if hasattr(os, "memfd_create") and Path("/proc/self/fd").is_dir():
        fd = os.memfd_create("requirements.txt")
        try:
            os.write(fd, data)
            yield Path(f"/proc/self/fd/{fd}")
        finally:
            os.close(fd)
        return
    with tempfile.TemporaryDirectory(prefix="seckb-audit-") as folder:  # pragma: no cover
        path = Path(folder) / "requirements.txt"
        path.write_bytes(data)
        yield path


def refuse_includes(path: Path) -> None:
    """``400`` when the requirements file ``path`` includes others (``-r``/``-c``): the
    server never reads a file a request names."""
    parsed = pip_parser.RequirementsFile.from_file(str(path), include_nested=False)
    for option in parsed.options:
        if {"requirements", "constraints"} & set(dict(option.options)):
            raise ApiError(
                400,
                f"line {option.line_number}: includes (-r/-c) are not followed by the "
                "server: send one file with every requirement",
            )


def read_body_requirements(body: bytes, name: str) -> tuple[list[Requirement], list[str]]:
    """The entries and notes of a requirements body, located as ``name:LINE``."""
    try:
        body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ApiError(400, f"the requirements body is not UTF-8: {exc.reason}") from exc
    with _as_file(body) as path:
        refuse_includes(path)
        requirements, notes = read_requirements(path)
    origin = str(path)
    located = [replace(r, where=r.where.replace(origin, name, 1)) for r in requirements]
    return located, [note.replace(origin, name, 1) for note in notes]


def read_body_sbom(body: bytes, name: str) -> tuple[list[Requirement], list[str]]:
    """The entries and notes of a CycloneDX JSON body."""
    try:
        document = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ApiError(400, f"the SBOM body is not valid JSON: {exc}") from exc
    try:
        return parse_sbom(document, name)
    except SbomError as exc:
        raise ApiError(400, str(exc)) from exc


def audit_body(
    snapshot: Snapshot,
    requirements: Sequence[Requirement],
    notes: Sequence[str],
    source: dict[str, Any],
    options: AuditOptions,
    now: datetime,
    max_age: timedelta,
    checks: Checks,
) -> dict[str, Any]:
    """The ``seckb.audit/1`` document, as ``seckb audit --json`` builds it (``options``: the
    ``--fail-on`` threshold and the ``--allow-*`` flags)."""
    warnings = staleness_warnings(snapshot, max_age, now)
    rows, failing, unchecked = audit_snapshot(snapshot, requirements, options, checks)
    code = 1 if failing else 0
    return audit_document(snapshot, source, rows, [*notes, *unchecked], warnings, options, code)

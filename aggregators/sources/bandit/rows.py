"""Pure assembly of the published rows of one release from its files and their results."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aggregators.sources.bandit.classify import path_class
from aggregators.sources.bandit.engine import CRASH, ERROR, OK, TIMEOUT, FileResult
from aggregators.sources.bandit.extract import ExtractedFile
from aggregators.sources.bandit.outcomes import BANDIT_ERROR, SCANNED
from aggregators.sources.bandit.outcomes import TIMEOUT as TIMEOUT_STATUS

LEVELS = ("HIGH", "MEDIUM", "LOW")
COUNT_COLUMNS = tuple(f"{s.lower()}_{c.lower()}" for s in LEVELS for c in LEVELS)
"""Severity first, then confidence: ``high_low`` is HIGH severity, LOW confidence."""


@dataclass(frozen=True)
class ReleaseInfo:
    """Who the rows are about and under which analysis they were produced."""

    package: str
    version: str
    sdist_filename: str | None
    sdist_sha256: str | None
    bandit_version: str
    config_hash: str
    scanned_at: datetime


def count_column(severity: str, confidence: str) -> str | None:
    """The ``bandit_scans`` column counting this severity and confidence (None if unranked)."""
    if severity.upper() not in LEVELS or confidence.upper() not in LEVELS:
        return None
    return f"{severity.lower()}_{confidence.lower()}"


def scan_row(
    info: ReleaseInfo,
    status: str,
    reason: str | None,
    *,
    files: int = 0,
    loc: int = 0,
    files_from_cache: int = 0,
    counts: Mapping[str, int] | None = None,
    duration_ms: int = 0,
) -> dict[str, Any]:
    """One ``bandit_scans`` row."""
    row: dict[str, Any] = {
        "package": info.package,
        "version": info.version,
        "sdist_filename": info.sdist_filename,
        "sdist_sha256": info.sdist_sha256,
        "status": status,
        "reason": reason,
        "files": files,
        "loc": loc,
        "files_from_cache": files_from_cache,
    }
    for column in COUNT_COLUMNS:
        row[column] = (counts or {}).get(column, 0)
    row.update(
        bandit_version=info.bandit_version,
        config_hash=info.config_hash,
        duration_ms=duration_ms,
        scanned_at=info.scanned_at,
    )
    return row


def analysed_release_rows(
    info: ReleaseInfo,
    files: Sequence[ExtractedFile],
    skipped: Sequence[tuple[str, str]],
    results: Mapping[str, FileResult],
    *,
    files_from_cache: int,
    duration_ms: int,
) -> tuple[dict[str, Any], list[dict[str, Any]], list[dict[str, Any]]]:
    """Rows of an extracted release: its scan row, findings and errors.

    Findings are re-attached to every path holding the analysed content. The status is
    ``timeout`` if any file ran past the limit, else ``bandit_error`` if Bandit failed on any
    file, else ``scanned`` (files Bandit could not parse, and files skipped while extracting,
    are listed in the errors but do not stop the release from counting as scanned).
    """
    findings: list[dict[str, Any]] = []
    errors = [
        {"package": info.package, "version": info.version, "path": path, "reason": reason}
        for path, reason in skipped
    ]
    counts = dict.fromkeys(COUNT_COLUMNS, 0)
    loc = 0
    timeouts = failures = 0
    for item in files:
        result = results[item.sha256]
        if result.status != OK:
            errors.append(
                {
                    "package": info.package,
                    "version": info.version,
                    "path": item.path,
                    "reason": result.reason or result.status,
                }
            )
            timeouts += result.status == TIMEOUT
            failures += result.status in (ERROR, CRASH)
            continue
        loc += result.loc
        kind = path_class(item.path)
        for finding in result.findings:
            column = count_column(finding["severity"], finding["confidence"])
            if column is not None:
                counts[column] += 1
            findings.append(
                {"package": info.package, "version": info.version, "path": item.path}
                | finding
                | {"path_class": kind}
            )
    if timeouts:
        status, reason = TIMEOUT_STATUS, f"{timeouts} file(s) ran past the Bandit time limit"
    elif failures:
        status, reason = BANDIT_ERROR, f"Bandit failed on {failures} file(s)"
    else:
        status, reason = SCANNED, None
    row = scan_row(
        info,
        status,
        reason,
        files=len(files),
        loc=loc,
        files_from_cache=files_from_cache,
        counts=counts,
        duration_ms=duration_ms,
    )
    return row, findings, errors

"""Pure assembly of the published rows of one release from its files and their results."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from aggregators.sources.bandit.classify import path_class
from aggregators.sources.bandit.engine import CRASH, ERROR, OK, TIMEOUT, FileResult
from aggregators.sources.bandit.extract import ExtractedFile
from aggregators.sources.bandit.outcomes import BANDIT_ERROR, PARTIAL, SCANNED
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
    files_analysed: int = 0,
    files_skipped: int = 0,
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
        "files_analysed": files_analysed,
        "files_skipped": files_skipped,
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

    Findings are re-attached to every path holding the analysed content; every file not
    analysed (skipped while extracting, or not analysed by Bandit) is an error row. The status
    is ``timeout`` if any file ran past the limit, else ``bandit_error`` if Bandit failed on
    any file, else ``partial`` if any Python file was not analysed, else ``scanned``: a release
    counts as scanned only when every Python file in it was analysed.
    """
    errors = [_error_row(info, path, reason) for path, reason in skipped]
    tally = _Tally()
    findings: list[dict[str, Any]] = []
    for item in files:
        result = results[item.sha256]
        if result.status != OK:
            errors.append(_error_row(info, item.path, result.reason or result.status))
            tally.not_analysed(result.status)
            continue
        tally.loc += result.loc
        tally.analysed += 1
        findings.extend(tally.findings(info, item.path, result))
    status, reason = tally.verdict(len(skipped), len(files))
    row = scan_row(
        info,
        status,
        reason,
        files=len(files),
        loc=tally.loc,
        files_from_cache=files_from_cache,
        counts=tally.counts,
        duration_ms=duration_ms,
        files_analysed=tally.analysed,
        files_skipped=len(skipped) + tally.unparsed + tally.timeouts + tally.failures,
    )
    return row, findings, errors


def _error_row(info: ReleaseInfo, path: str, reason: str) -> dict[str, Any]:
    return {"package": info.package, "version": info.version, "path": path, "reason": reason}


class _Tally:
    """What the files of one release came to."""

    def __init__(self) -> None:
        self.counts = dict.fromkeys(COUNT_COLUMNS, 0)
        self.loc = self.analysed = 0
        self.timeouts = self.failures = self.unparsed = 0

    def not_analysed(self, status: str) -> None:
        self.timeouts += status == TIMEOUT
        self.failures += status in (ERROR, CRASH)
        self.unparsed += status not in (TIMEOUT, ERROR, CRASH)

    def findings(self, info: ReleaseInfo, path: str, result: FileResult) -> list[dict[str, Any]]:
        kind = path_class(path)
        rows = []
        for finding in result.findings:
            column = count_column(finding["severity"], finding["confidence"])
            if column is not None:
                self.counts[column] += 1
            rows.append(
                {"package": info.package, "version": info.version, "path": path}
                | {"issue_text": None, "code": None}  # results cached before they were kept
                | finding
                | {"path_class": kind}
            )
        return rows

    def verdict(self, extraction_skips: int, files: int) -> tuple[str, str | None]:
        if self.timeouts:
            return TIMEOUT_STATUS, f"{self.timeouts} file(s) ran past the Bandit time limit"
        if self.failures:
            return BANDIT_ERROR, f"Bandit failed on {self.failures} file(s)"
        missing = extraction_skips + self.unparsed
        if missing:
            total = files + extraction_skips
            return PARTIAL, f"{missing} of {total} Python file(s) not analysed (see bandit_errors)"
        return SCANNED, None

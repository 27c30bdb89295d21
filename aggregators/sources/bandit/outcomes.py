"""Release statuses and the exception that carries a release-level problem."""

from __future__ import annotations

from typing import Final

SCANNED: Final = "scanned"
PARTIAL: Final = "partial"
NO_SDIST: Final = "no_sdist"
DOWNLOAD_ERROR: Final = "download_error"
UNSAFE_ARCHIVE: Final = "unsafe_archive"
TOO_LARGE: Final = "too_large"
TIMEOUT: Final = "timeout"
BANDIT_ERROR: Final = "bandit_error"


class ReleaseProblem(Exception):
    """A release cannot be analysed: ``status`` is its ``bandit_scans`` status."""

    def __init__(self, status: str, reason: str) -> None:
        """Remember the status and a one-line reason."""
        super().__init__(reason)
        self.status = status
        self.reason = reason

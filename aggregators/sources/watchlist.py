"""The watchlist: packages tracked besides those the advisories name, from ``watchlist`` (names)
and ``watchlist_files`` (requirements files, whose exact pins are also analysed by Bandit).

The files are read by :func:`aggregators.core.requirements.read_requirements`
(``pip-requirements-parser``, includes followed). Problems with them are reported as
``ingest_errors`` rows of the ``pypi`` source, the source that tracks the packages.
"""

from __future__ import annotations

from typing import Any

from aggregators.core.config import Settings
from aggregators.core.names import normalize_name
from aggregators.core.requirements import read_requirements
from aggregators.sources.base import error_row

TRACKED = frozenset({"pinned", "unpinned", "direct_reference", "editable"})
"""Line statuses whose package (when the line names one) is tracked."""


def watchlist(settings: Settings) -> tuple[set[str], list[dict[str, Any]]]:
    """Packages from ``watchlist`` and ``watchlist_files``; problems as ``ingest_errors`` rows."""
    names = {normalize_name(n) for n in settings.watchlist}
    errors: list[dict[str, Any]] = []
    for path in settings.watchlist_files:
        try:
            lines = read_requirements(path)
        except OSError as exc:
            reason = f"cannot read watchlist file: {exc.strerror}"
            errors.append(error_row("pypi", str(path), reason))
            continue
        names.update(line.package for line in lines if line.status in TRACKED and line.package)
        errors.extend(
            error_row(
                "pypi",
                f"{line.origin}:{line.line}",
                f"requirement not understood: {line.note}",
                "warning",
            )
            for line in lines
            if line.status == "invalid"
        )
    return names, errors


def watchlist_pins(settings: Settings) -> set[tuple[str, str]]:
    """(package, version) pinned exactly in the watchlist files (unreadable files are skipped:
    the pypi source reports them)."""
    pins: set[tuple[str, str]] = set()
    for path in settings.watchlist_files:
        try:
            lines = read_requirements(path)
        except OSError:
            continue
        pins.update(
            (line.package, line.version)
            for line in lines
            if line.status == "pinned" and line.package and line.version
        )
    return pins

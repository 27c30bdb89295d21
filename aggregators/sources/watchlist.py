"""The watchlist: packages tracked besides those the advisories name, from ``watchlist`` (names)
and ``watchlist_files`` (requirements files, whose exact pins are also analysed by Bandit).

Problems with the files are reported as ``ingest_errors`` rows of the ``pypi`` source, the
source that tracks the packages.
"""

from __future__ import annotations

from typing import Any

from aggregators.clients.inputs.requirements import read_requirements
from aggregators.core.config import Settings
from aggregators.core.names import normalize_name
from aggregators.sources.base import error_row


def watchlist(settings: Settings) -> tuple[set[str], list[dict[str, Any]]]:
    """Packages from ``watchlist`` and ``watchlist_files``; problems as ``ingest_errors`` rows."""
    names = {normalize_name(n) for n in settings.watchlist}
    errors: list[dict[str, Any]] = []
    for path in settings.watchlist_files:
        try:
            pins, problems = read_requirements(path)
        except OSError as exc:
            reason = f"cannot read watchlist file: {exc.strerror}"
            errors.append(error_row("pypi", str(path), reason))
            continue
        names.update(pin.package for pin in pins)
        errors.extend(
            error_row(
                "pypi", f"{p.origin}:{p.line}", f"requirement not understood: {p.reason}", "warning"
            )
            for p in problems
        )
    return names, errors


def watchlist_pins(settings: Settings) -> set[tuple[str, str]]:
    """(package, version) pinned exactly in the watchlist files (unreadable files are skipped:
    the pypi source reports them)."""
    pins: set[tuple[str, str]] = set()
    for path in settings.watchlist_files:
        try:
            found, _problems = read_requirements(path)
        except OSError:
            continue
        pins.update((p.package, p.version) for p in found if p.version)
    return pins

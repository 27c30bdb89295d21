"""A project page with the policy applied (pure): what seckb's index serves instead of the
upstream's page.

Each file is judged by the verdict on its version. A blocked file is, by mode,

* ``yank``: kept and marked yanked (PEP 592) with the verdict's reasons, so installers skip it
  unless a requirement pins that version with ``==`` (and they print the reason when they do);
* ``hide``: left out, so no resolver can pick it (a version left without files leaves the
  ``versions`` list too).

A malicious release, and a suspect version of a malicious project, is left out in both
modes. Nothing else of a file changes: URL, hashes and
metadata stay the upstream's.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

from aggregators.clients.simple.pages import DistFile, ProjectPage
from aggregators.core.versions import canonical_version
from aggregators.knowledge.policy import Verdict

MODES = ("yank", "hide")
YANK_PREFIX = "seckb: blocked: "


@dataclass(frozen=True)
class Blocked:
    """One blocked version of a page and what was done with its files."""

    version: str | None
    """``None`` for files whose version cannot be told from their names."""
    files: tuple[str, ...]
    action: str
    """``yanked`` or ``hidden``."""
    reason: str
    malicious: bool = False
    suspect: bool = False

    def to_json(self) -> dict[str, object]:
        """A JSON-ready dict (the ``_seckb`` object of a page): the files by name when they
        were left out; yanked files are in the page, each with the reason."""
        found: dict[str, object] = {
            "version": self.version,
            "action": self.action,
            "file_count": len(self.files),
            "reason": self.reason,
            "malicious": self.malicious,
            "suspect": self.suspect,
        }
        if self.action == "hidden":
            found["files"] = list(self.files)
        return found


@dataclass(frozen=True)
class GatedPage:
    """The page as served, and what the policy did to it."""

    page: ProjectPage
    mode: str
    blocked: tuple[Blocked, ...]
    hidden_files: int = 0
    """Files left out."""
    yanked_files: int = 0
    """Files seckb marked yanked."""


def gate(
    page: ProjectPage, verdict_of: Callable[[str | None], Verdict | None], mode: str
) -> GatedPage:
    """``page`` with ``mode`` applied to the files whose version's verdict blocks.

    ``verdict_of(version)`` gives the verdict on a file version (``None`` for a file whose
    version cannot be told); it answers ``None`` (or an allowing verdict) for what may pass.
    """
    if mode not in MODES:
        raise ValueError(f"unknown index mode {mode!r}")
    kept: list[DistFile] = []
    blocked: dict[str | None, tuple[Verdict, list[str], str]] = {}
    emptied: set[str] = set()
    for item in page.files:
        verdict = verdict_of(item.version)
        if verdict is None or not verdict.blocked:
            kept.append(item)
            continue
        hide = mode == "hide" or verdict.malicious or verdict.suspect
        action = "hidden" if hide else "yanked"
        blocked.setdefault(item.version, (verdict, [], action))[1].append(item.filename)
        if hide:
            if item.version is not None:
                emptied.add(canonical_version(item.version))
            continue
        kept.append(item.yanked_with(YANK_PREFIX + verdict.message()))
    still = {canonical_version(f.version) for f in kept if f.version is not None}
    versions = tuple(v for v in page.versions if canonical_version(v) not in emptied - still)
    served = replace(page, files=tuple(kept), versions=versions)
    found = tuple(
        Blocked(
            version, tuple(files), action, verdict.message(), verdict.malicious, verdict.suspect
        )
        for version, (verdict, files, action) in blocked.items()
    )
    hidden = sum(len(b.files) for b in found if b.action == "hidden")
    yanked = sum(len(b.files) for b in found if b.action == "yanked")
    return GatedPage(served, mode, found, hidden, yanked)

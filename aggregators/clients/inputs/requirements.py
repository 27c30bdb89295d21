"""Requirements files for ``seckb audit``: the lines :mod:`aggregators.core.requirements` reads
(with ``pip-requirements-parser``) turned into audit :class:`Requirement` s and notes.

Every line is accounted for: pinned and unpinned requirements are audited; URL and path
requirements become ``direct_reference`` entries; editable and unreadable lines (an include that
cannot be read among them) become ``invalid`` entries; options and includes become notes
(``FILE:LINE: option --index-url ignored``).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from aggregators.clients.audit import Requirement
from aggregators.core.requirements import RequirementLine
from aggregators.core.requirements import read_requirements as read_lines


def to_requirements(lines: Iterable[RequirementLine]) -> tuple[list[Requirement], list[str]]:
    """The requirements to audit, in file order, and the notes on the other lines."""
    requirements: list[Requirement] = []
    notes: list[str] = []
    for line in lines:
        where = f"{line.origin}:{line.line}"
        if line.status in ("option", "include"):
            notes.append(f"{where}: {line.note}")
            continue
        name = line.package or line.text
        if line.status in ("pinned", "unpinned"):
            requirements.append(Requirement(name, line.version, where, marker=line.marker))
        elif line.status == "direct_reference":
            requirements.append(
                Requirement(name, None, where, reference=line.note, marker=line.marker)
            )
        else:  # editable, invalid: nothing seckb can look up
            reason = line.note or f"{line.status} requirement"
            requirements.append(Requirement(name, None, where, reason, marker=line.marker))
    return requirements, notes


def read_requirements(path: Path) -> tuple[list[Requirement], list[str]]:
    """Read a requirements file and the files it includes; raise :class:`OSError` when ``path``
    itself cannot be read."""
    return to_requirements(read_lines(path))

"""A project's components: read from a CycloneDX SBOM or a requirements file by the readers
``seckb audit`` uses (:mod:`aggregators.clients.inputs`), stored as plain records, and turned
back into audit :class:`~aggregators.clients.audit.Requirement` s to be evaluated."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import asdict
from pathlib import Path
from typing import Any

from aggregators.clients.audit import Requirement
from aggregators.core.errors import SeckbError

REQUIREMENTS = "requirements"
CYCLONEDX = "cyclonedx"


def to_components(requirements: Iterable[Requirement]) -> list[dict[str, Any]]:
    """Stored records of audit entries (every field kept, so evaluating them is auditing)."""
    return [asdict(r) for r in requirements]


def to_requirements(components: Iterable[Mapping[str, Any]]) -> list[Requirement]:
    """The audit entries of stored records."""
    return [
        Requirement(
            package=str(c["package"]),
            version=c.get("version"),
            where=str(c.get("where", "")),
            problem=c.get("problem"),
            reference=c.get("reference"),
            marker=c.get("marker"),
        )
        for c in components
    ]


def read_components(
    path: Path, kind: str
) -> tuple[list[dict[str, Any]], list[str], dict[str, Any]]:
    """The components of a file, the notes on what was skipped, and the project's ``source``;
    raise :class:`SeckbError` (one line) when the file cannot be read."""
    if kind == CYCLONEDX:
        from aggregators.clients.inputs.sbom import read_sbom

        requirements, notes = read_sbom(path)
    else:
        from aggregators.clients.inputs.requirements import read_requirements

        try:
            requirements, notes = read_requirements(path)
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            raise SeckbError(f"cannot read {path}: {reason}") from exc
    return to_components(requirements), notes, {"kind": kind, "path": path.name}

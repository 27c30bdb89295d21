"""CycloneDX VEX: a project's triage decisions out (``seckb project vex``) and in
(``seckb project add --vex FILE``).

Export writes one ``vulnerabilities[]`` entry per decision in force of each (advisory, package):
``id``, ``analysis`` (``state``, ``justification``, ``detail``, ``lastUpdated``), ``affects``
(the purls ``pkg:pypi/<name>@<version>`` of the project's components it applies to) and
``properties`` for what CycloneDX has no field for (``seckb:until``, ``seckb:decided_by``,
``seckb:advisory_modified``). Import reads the same shape back, and any VEX whose ``affects``
name purls or the ``bom-ref`` s of the project's SBOM; what it cannot use is noted, never
guessed.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterable, Mapping, Sequence
from datetime import date, datetime
from typing import TYPE_CHECKING, Any

from packageurl import PackageURL

from aggregators import __version__
from aggregators.clients.projects.triage import JUSTIFICATIONS, STATES, Decision, Decisions
from aggregators.core.errors import SeckbError
from aggregators.core.names import normalize_name

if TYPE_CHECKING:
    from aggregators.store.projects import StoredProject

SPEC_VERSION = "1.6"
STATE_ALIASES = {"resolved_with_pedigree": "resolved"}


class VexError(SeckbError):
    """The document is not a CycloneDX document with vulnerabilities."""


def _purl(package: str, version: str | None) -> str:
    return str(PackageURL(type="pypi", name=package, version=version or None).to_string())


def _affects(
    decision: Decision, project: StoredProject, named: Mapping[str, Sequence[str]]
) -> list[dict[str, str]]:
    """The components a decision applies to, as purls."""
    wanted = {decision.package} if decision.package else set(named.get(decision.advisory_id, ()))
    refs = sorted(
        {
            _purl(c["package"], c.get("version"))
            for c in project.components
            if c["package"] in wanted
        }
    )
    if not refs and decision.package:
        refs = [_purl(decision.package, None)]
    return [{"ref": ref} for ref in refs]


def _properties(decision: Decision) -> list[dict[str, str]]:
    found = {
        "seckb:until": decision.until.isoformat() if decision.until else None,
        "seckb:decided_by": decision.by,
        "seckb:advisory_modified": decision.advisory_modified,
        "seckb:source": decision.source,
        "seckb:package": decision.package or "*",
    }
    return [{"name": k, "value": v} for k, v in found.items() if v]


def export_vex(
    project: StoredProject,
    decisions: Decisions,
    named: Mapping[str, Sequence[str]],
    now: datetime,
) -> dict[str, Any]:
    """The VEX document of ``project``'s decisions (``named``: advisory id -> the packages it
    names, to list the components a decision without a package applies to)."""
    vulnerabilities = []
    for decision in decisions.current():
        analysis: dict[str, Any] = {"state": decision.state, "lastUpdated": decision.at}
        if decision.justification:
            analysis["justification"] = decision.justification
        if decision.reason:
            analysis["detail"] = decision.reason
        vulnerabilities.append(
            {
                "id": decision.advisory_id,
                "analysis": analysis,
                "affects": _affects(decision, project, named),
                "properties": _properties(decision),
            }
        )
    component = {"type": "application", "name": project.name, "bom-ref": f"project:{project.name}"}
    if project.version:
        component["version"] = project.version
    return {
        "bomFormat": "CycloneDX",
        "specVersion": SPEC_VERSION,
        "serialNumber": f"urn:uuid:{uuid.uuid4()}",
        "version": 1,
        "metadata": {
            "timestamp": now.isoformat(),
            "tools": {
                "components": [{"type": "application", "name": "seckb", "version": __version__}]
            },
            "component": component,
        },
        "vulnerabilities": vulnerabilities,
    }


def _bom_refs(components: Iterable[Mapping[str, Any]]) -> dict[str, str]:
    """bom-ref (or purl) of each SBOM component -> its package (from where it was found)."""
    found = {}
    for component in components:
        where = str(component.get("where", ""))
        if "#" in where and not component.get("problem"):
            found[where.split("#", 1)[1]] = str(component["package"])
    return found


def _packages(
    affects: Any, refs: Mapping[str, str], notes: list[str], advisory: str
) -> list[str | None] | None:
    """The packages ``affects`` names (``[None]``: no ``affects``, every package; ``None``:
    none could be read, so the entry is skipped)."""
    items = (
        [a.get("ref") for a in affects if isinstance(a, dict)] if isinstance(affects, list) else []
    )
    if not items:
        return [None]
    found: list[str | None] = []
    for ref in (str(r) for r in items if r):
        key = ref.split("#", 1)[1] if ref.startswith("urn:cdx:") and "#" in ref else ref
        if key in refs:
            found.append(refs[key])
            continue
        try:
            purl = PackageURL.from_string(key)
        except ValueError:
            notes.append(f"{advisory}: affects {ref!r} names no component of the project")
            continue
        if purl.type == "pypi":
            found.append(normalize_name(purl.name))
        else:
            notes.append(f"{advisory}: affects {ref!r} is not a PyPI package")
    return sorted(set(found), key=str) or None


def import_vex(
    document: Any, origin: str, components: Sequence[Mapping[str, Any]], by: str, now: datetime
) -> tuple[list[Decision], list[str]]:
    """The decisions of a VEX document, and notes on the entries that were skipped."""
    if not isinstance(document, dict) or document.get("bomFormat") != "CycloneDX":
        raise VexError(f"{origin} is not a CycloneDX document (no bomFormat: CycloneDX)")
    entries = document.get("vulnerabilities")
    if not isinstance(entries, list):
        raise VexError(f"{origin} has no vulnerabilities list")
    refs = _bom_refs(components)
    decisions: list[Decision] = []
    notes: list[str] = []
    for entry in entries:
        made = _entry(entry, refs, notes, by, now, origin)
        decisions.extend(made)
    return decisions, notes


def _entry(
    entry: Any, refs: Mapping[str, str], notes: list[str], by: str, now: datetime, origin: str
) -> list[Decision]:
    """The decisions of one ``vulnerabilities[]`` entry (none when it cannot be used)."""
    analysis = entry.get("analysis") if isinstance(entry, dict) else None
    advisory = str(entry.get("id") or "") if isinstance(entry, dict) else ""
    if not advisory or not isinstance(analysis, dict):
        notes.append(f"skipped an entry without an id or an analysis: {str(entry)[:80]}")
        return []
    state = STATE_ALIASES.get(str(analysis.get("state")), str(analysis.get("state")))
    if state not in STATES:
        notes.append(
            f"{advisory}: analysis state {analysis.get('state')!r} is not one seckb records"
        )
        return []
    justification = analysis.get("justification")
    if justification is not None and justification not in JUSTIFICATIONS:
        notes.append(f"{advisory}: justification {justification!r} is not CycloneDX's; dropped")
        justification = None
    props = {
        str(p.get("name")): str(p.get("value"))
        for p in entry.get("properties") or []
        if isinstance(p, dict)
    }
    named = props.get("seckb:package")
    if named:
        packages: list[str | None] | None = [None if named == "*" else normalize_name(named)]
    else:
        packages = _packages(entry.get("affects"), refs, notes, advisory)
    if packages is None:
        notes.append(f"{advisory}: none of its affects names a PyPI component; skipped")
        return []
    try:
        until = date.fromisoformat(props["seckb:until"]) if props.get("seckb:until") else None
    except ValueError:
        notes.append(f"{advisory}: seckb:until {props['seckb:until']!r} is not a date; ignored")
        until = None
    return [
        Decision(
            advisory_id=advisory,
            package=package,
            state=state,
            justification=justification,
            reason=str(analysis["detail"]) if analysis.get("detail") else None,
            until=until,
            by=props.get("seckb:decided_by") or by,
            at=now.isoformat(),
            advisory_modified=props.get("seckb:advisory_modified"),
            source=f"vex:{origin}",
        )
        for package in packages
    ]

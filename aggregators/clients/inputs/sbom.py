"""CycloneDX JSON SBOMs (as syft or cyclonedx-py write them): the PyPI packages they list.

Which components are audited, and what is said about the others (every skipped component is
counted in a note, never dropped silently):

* A component with a ``purl`` is read from it with ``packageurl-python``
  (``pkg:pypi/django@4.2.1``). Other ecosystems (``pkg:deb/...``, ``pkg:npm/...``) are skipped:
  ``ignored N non-PyPI component(s) of type deb``. A purl that cannot be parsed is ``invalid``.
* A component without a purl is taken as a PyPI package by its ``name`` and ``version`` only
  when its CycloneDX ``type`` is ``library``, ``framework`` or ``application`` (or absent); any
  other type (``operating-system``, ``file``, ``container``, ``device``, ``firmware``,
  ``data``, ``machine-learning-model``, ``platform``...) is not a Python package:
  ``skipped N component(s) of CycloneDX type file (not a library, framework or application)``.
* When a purl's version and the component's ``version`` disagree (under PEP 440 equality), the
  entry is ``invalid`` with a note naming both: seckb does not pick one.
* The document's own subject (``metadata.component``) is audited by the same rules, as the
  first entry (``where``: ``FILE#metadata.component``), and a note says so; when the rules skip
  it (another ecosystem, a ``file`` or ``container`` subject, no name or version), a note says
  that and why. A private application's subject without a purl is audited too, and comes out
  ``unknown_package``: nothing in the SBOM says it is not on PyPI.
* A package listed more than once (same PEP 503 name and PEP 440 version) is audited once, at
  its first place; a note lists every place.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packageurl import PackageURL

from aggregators.clients.audit import Requirement
from aggregators.core.errors import SeckbError
from aggregators.core.names import normalize_name
from aggregators.core.versions import canonical_version

PACKAGE_TYPES = frozenset({"library", "framework", "application"})
"""CycloneDX component types that can be a PyPI package when no purl says otherwise."""
ROOT = "metadata.component"


class SbomError(SeckbError):
    """The file is not a readable CycloneDX JSON document."""


def _components(items: Any, where: str = "components") -> Iterator[dict[str, Any]]:
    """Every component, nested ones included; a malformed list is an error, not skipped."""
    if items is None:
        return
    if not isinstance(items, list):
        raise SbomError(f"{where} is not a list (found {type(items).__name__})")
    for index, item in enumerate(items):
        if not isinstance(item, dict):
            raise SbomError(f"{where}[{index}] is not an object (found {type(item).__name__})")
        yield item
        yield from _components(item.get("components"), f"{where}[{index}].components")


@dataclass
class _Reading:
    """What reading the components found: the entries, and counts of what was skipped."""

    origin: str
    found: list[Requirement] = field(default_factory=list)
    other_ecosystems: dict[str, int] = field(default_factory=dict)
    other_types: dict[str, int] = field(default_factory=dict)

    def notes(self) -> list[str]:
        """One note per skipped kind, in a stable order."""
        return [
            f"ignored {count} non-PyPI component(s) of type {kind}"
            for kind, count in sorted(self.other_ecosystems.items())
        ] + [
            f"skipped {count} component(s) of CycloneDX type {kind} "
            "(not a library, framework or application)"
            for kind, count in sorted(self.other_types.items())
        ]


def _text(value: Any) -> str | None:
    return str(value) if isinstance(value, str | int | float) and str(value) else None


@dataclass(frozen=True)
class _Skip:
    """Why a component is not audited: another ecosystem's purl, or not a package type."""

    by_purl: bool
    kind: str

    def reason(self) -> str:
        """One line for a note."""
        if self.by_purl:
            return f"its purl is of type {self.kind}, not pypi"
        return f"its CycloneDX type is {self.kind}, not a library, framework or application"


def _read(component: dict[str, Any], where: str, label: str) -> Requirement | _Skip:
    """The entry of one component, or why it is skipped."""
    purl_text = _text(component.get("purl"))
    name, version = _text(component.get("name")), _text(component.get("version"))
    if purl_text is None:
        kind = _text(component.get("type")) or "library"
        if kind not in PACKAGE_TYPES:
            return _Skip(False, kind)
        if name is None:
            return Requirement(label, None, where, "component without purl or name")
        return Requirement(normalize_name(name), version, where)
    try:
        purl = PackageURL.from_string(purl_text)
    except ValueError as exc:
        return Requirement(purl_text, None, where, f"invalid purl: {exc}")
    if purl.type != "pypi":
        return _Skip(True, purl.type)
    package = normalize_name(purl.name)
    if purl.version and version and canonical_version(purl.version) != canonical_version(version):
        problem = (
            f"the purl's version {purl.version} disagrees with the component's version "
            f"{version}: which one is meant is not known"
        )
        return Requirement(package, None, where, problem)
    return Requirement(package, purl.version or version, where)


def _add(reading: _Reading, component: dict[str, Any], where: str, label: str) -> None:
    """Read one component into ``reading``: an entry, or a count of what was skipped."""
    entry = _read(component, where, label)
    if isinstance(entry, Requirement):
        reading.found.append(entry)
        return
    counts = reading.other_ecosystems if entry.by_purl else reading.other_types
    counts[entry.kind] = counts.get(entry.kind, 0) + 1


def _root(reading: _Reading, document: dict[str, Any]) -> list[str]:
    """Audit the document's subject (``metadata.component``) first; the note about it."""
    metadata = document.get("metadata")
    root = metadata.get("component") if isinstance(metadata, dict) else None
    if not isinstance(root, dict):
        return []
    name = _text(root.get("name")) or _text(root.get("purl")) or "(unnamed)"
    subject = f"the SBOM's subject ({ROOT}) {name}"
    if not _text(root.get("purl")) and not _text(root.get("version")):
        return [f"{subject} not audited: it has no purl and no version"]
    entry = _read(root, f"{reading.origin}#{ROOT}", ROOT)
    if isinstance(entry, _Skip):
        return [f"{subject} not audited: {entry.reason()}"]
    reading.found.append(entry)
    if entry.problem:
        return [f"{subject} audited: {entry.problem}"]
    return [f"{subject} audited as the PyPI package {entry.package} {entry.version or ''}".strip()]


def _deduplicate(found: list[Requirement]) -> tuple[list[Requirement], list[str]]:
    """One entry per (name, PEP 440 version); a note on each package listed more than once."""
    first: dict[tuple[str, str | None], int] = {}
    places: dict[int, list[str]] = {}
    kept: list[Requirement] = []
    for entry in found:
        if entry.problem:
            kept.append(entry)
            continue
        key = (entry.package, canonical_version(entry.version) if entry.version else None)
        if key in first:
            places[first[key]].append(entry.where)
            continue
        first[key] = len(kept)
        places[len(kept)] = [entry.where]
        kept.append(entry)
    notes = [
        f"{kept[i].package} {kept[i].version or '(no version)'} is listed {len(where)} times "
        f"({', '.join(where)}): audited once"
        for i, where in places.items()
        if len(where) > 1
    ]
    return kept, notes


def parse_sbom(document: Any, origin: str) -> tuple[list[Requirement], list[str]]:
    """The PyPI packages of a parsed CycloneDX document, and notes on what was skipped."""
    if not isinstance(document, dict) or document.get("bomFormat") != "CycloneDX":
        raise SbomError(f"{origin} is not a CycloneDX JSON document (no bomFormat: CycloneDX)")
    for key, kind in (("metadata", dict), ("components", list)):
        if key in document and not isinstance(document[key], kind):
            shape = "an object" if kind is dict else "a list"
            raise SbomError(
                f"{origin}: {key} is not {shape} (found {type(document[key]).__name__})"
            )
    reading = _Reading(origin)
    root_notes = _root(reading, document)
    for index, component in enumerate(
        _components(document.get("components"), f"{origin}: components"), start=1
    ):
        label = (
            _text(component.get("bom-ref"))
            or _text(component.get("purl"))
            or _text(component.get("name"))
            or str(index)
        )
        _add(reading, component, f"{origin}#{label}", label)
    found, duplicates = _deduplicate(reading.found)
    return found, root_notes + reading.notes() + duplicates


def read_sbom(path: Path) -> tuple[list[Requirement], list[str]]:
    """Read a CycloneDX JSON file; raise :class:`SbomError` (one line) when it cannot be read."""
    try:
        document = json.loads(path.read_bytes())
    except OSError as exc:
        raise SbomError(f"cannot read {path}: {exc.strerror}") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SbomError(f"{path} is not valid JSON: {exc}") from exc
    return parse_sbom(document, str(path))

"""CycloneDX JSON SBOMs (as syft or cyclonedx-py write them): the PyPI packages they list.

Each component (nested ones included) is read from its ``purl`` with ``packageurl-python``
(``pkg:pypi/django@4.2.1``); a component without a purl is taken by its ``name`` and ``version``
as a PyPI package. Components of other ecosystems (``pkg:deb/...``, ``pkg:npm/...``) are ignored
with a note; the document's own subject (``metadata.component``) is not audited.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from packageurl import PackageURL

from aggregators.clients.audit import Requirement
from aggregators.core.errors import SeckbError
from aggregators.core.names import normalize_name


class SbomError(SeckbError):
    """The file is not a readable CycloneDX JSON document."""


def _components(items: Any) -> Iterator[dict[str, Any]]:
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict):
            yield item
            yield from _components(item.get("components"))


def parse_sbom(document: Any, origin: str) -> tuple[list[Requirement], list[str]]:
    """The PyPI packages of a parsed CycloneDX document, and notes on what was skipped."""
    if not isinstance(document, dict) or document.get("bomFormat") != "CycloneDX":
        raise SbomError(f"{origin} is not a CycloneDX JSON document (no bomFormat: CycloneDX)")
    found: list[Requirement] = []
    ignored: dict[str, int] = {}
    for index, component in enumerate(_components(document.get("components")), start=1):
        purl_text = component.get("purl")
        label = str(component.get("bom-ref") or purl_text or component.get("name") or index)
        where = f"{origin}#{label}"
        if purl_text:
            try:
                purl = PackageURL.from_string(str(purl_text))
            except ValueError as exc:
                found.append(Requirement(str(purl_text), None, where, f"invalid purl: {exc}"))
                continue
            if purl.type != "pypi":
                ignored[purl.type] = ignored.get(purl.type, 0) + 1
                continue
            name: Any = purl.name
            version: Any = purl.version
        else:
            name, version = component.get("name"), component.get("version")
            if not isinstance(name, str) or not name:
                found.append(Requirement(label, None, where, "component without purl or name"))
                continue
        found.append(Requirement(normalize_name(name), str(version) if version else None, where))
    notes = [
        f"ignored {count} non-PyPI component(s) of type {kind}"
        for kind, count in sorted(ignored.items())
    ]
    return found, notes


def read_sbom(path: Path) -> tuple[list[Requirement], list[str]]:
    """Read a CycloneDX JSON file; raise :class:`SbomError` (one line) when it cannot be read."""
    try:
        document = json.loads(path.read_bytes())
    except OSError as exc:
        raise SbomError(f"cannot read {path}: {exc.strerror}") from exc
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise SbomError(f"{path} is not valid JSON: {exc}") from exc
    return parse_sbom(document, str(path))

"""Parse one OSV advisory file into normalized rows (pure: bytes in, rows out).

Untrusted input stays inert: YAML goes only through safe loaders (see ``fastyaml``).
Anything malformed becomes an ``ingest_errors`` row: ``error`` when the advisory is dropped,
``warning`` when it is kept and the bad part is handled conservatively.

Besides the normalized rows, every advisory kept also yields its own OSV document as JSON text
(an ``osv_records`` row): what the advisory-db says, with nothing added or reordered. YAML
becomes JSON; timestamps that YAML typed become RFC 3339 strings.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import yaml

from aggregators.core.clock import parse_timestamp
from aggregators.core.names import normalize_name
from aggregators.core.versions import parse_version
from aggregators.sources.advisories.events import EVENT_KINDS, is_unbounded
from aggregators.sources.advisories.fastyaml import load_yaml
from aggregators.sources.advisories.malicious import is_malicious
from aggregators.sources.advisories.records import json_ready, osv_record, rfc3339
from aggregators.sources.advisories.repositories import ADVISORY_SUFFIXES, DEFAULT_ORIGIN
from aggregators.sources.advisories.severity import choose_severity
from aggregators.sources.base import error_row

SOURCE = "advisories"
__all__ = ["ADVISORY_SUFFIXES", "ParsedFile", "json_ready", "parse_advisory", "rfc3339"]


@dataclass
class ParsedFile:
    """What one advisory file contributes: an advisory row (or none) and its child rows."""

    path: str
    advisory: dict[str, Any] | None = None
    packages: list[dict[str, Any]] = field(default_factory=list)
    events: list[dict[str, Any]] = field(default_factory=list)
    errors: list[dict[str, Any]] = field(default_factory=list)
    record: dict[str, Any] | None = None
    """The ``osv_records`` row: the advisory's own OSV document as JSON text."""

    def error(self, reason: str, advisory_id: str | None = None, level: str = "error") -> None:
        """Record a problem with this file."""
        self.errors.append(error_row(SOURCE, self.path, reason, level, advisory_id))


def load_document(path: str, data: bytes) -> Any:
    """Decode YAML (safe loader) or JSON; raise ``ValueError`` with a one-line reason."""
    if path.endswith(".json"):
        try:
            return json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError) as exc:
            raise ValueError(f"malformed JSON: {exc}") from exc
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ValueError(f"not UTF-8 text: {exc.reason} at byte {exc.start}") from exc
    try:
        return load_yaml(data)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or type(exc).__name__
        raise ValueError(f"malformed YAML{where}: {problem}") from exc


def _version_text(value: Any) -> str | None:
    if isinstance(value, str):
        return value.strip()
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        return str(value)
    return None


def _string_list(parsed: ParsedFile, doc: dict[str, Any], key: str, adv_id: str) -> list[str]:
    value = doc.get(key)
    if value is None:
        return []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        parsed.error(f"'{key}' is not a list of strings; ignored", adv_id, "warning")
        return []
    return list(value)


def _optional_text(parsed: ParsedFile, doc: dict[str, Any], key: str, adv_id: str) -> str | None:
    value = doc.get(key)
    if value is None or isinstance(value, str):
        return value
    parsed.error(f"'{key}' is not text; converted", adv_id, "warning")
    return str(value)


def _timestamp(parsed: ParsedFile, doc: dict[str, Any], key: str, adv_id: str) -> datetime | None:
    value = doc.get(key)
    if value is None:
        return None
    try:
        return parse_timestamp(value)
    except (ValueError, OverflowError):
        parsed.error(f"'{key}' is not an RFC 3339 timestamp: {value!r:.60}", adv_id, "warning")
        return None


def _list_field(parsed: ParsedFile, value: Any, what: str, adv_id: str) -> list[Any]:
    """``value`` if it is a list; ``[]`` (with a warning unless it is absent) otherwise."""
    if value is None or isinstance(value, list):
        return value or []
    parsed.error(f"{what} is not a list; ignored", adv_id, "warning")
    return []


def _references(parsed: ParsedFile, doc: dict[str, Any], adv_id: str) -> list[dict[str, str]]:
    refs = []
    for ref in _list_field(parsed, doc.get("references"), "'references'", adv_id):
        if isinstance(ref, dict) and isinstance(ref.get("url"), str):
            refs.append({"type": str(ref.get("type") or "WEB"), "url": ref["url"]})
        else:
            parsed.error(f"reference without a url ignored: {ref!r:.80}", adv_id, "warning")
    return refs


def _event_row(
    parsed: ParsedFile, adv_id: str, range_type: str, kind: Any, raw_version: Any
) -> dict[str, Any] | None:
    """``event``, ``version`` and ``valid`` of one range event; ``None`` when it is ignored."""
    version = _version_text(raw_version)
    if kind not in EVENT_KINDS:
        parsed.error(f"unknown event type {kind!r}; ignored", adv_id, "warning")
        return None
    if version is None or not version:
        parsed.error(f"{kind} event without a version; ignored", adv_id, "warning")
        return None
    if not isinstance(raw_version, str):
        parsed.error(
            f"{kind} version {version!r} is a YAML number, read as text", adv_id, "warning"
        )
    valid = True
    if range_type == "ECOSYSTEM" and not is_unbounded(kind, version):
        valid = parse_version(version) is not None
        if not valid:
            parsed.error(
                f"{kind} version {version!r} is not PEP 440; event ignored", adv_id, "warning"
            )
    return {"event": kind, "version": version, "valid": valid}


def _parse_range(
    parsed: ParsedFile, adv_id: str, package: str, entry_index: int, range_index: int, rng: Any
) -> None:
    if not isinstance(rng, dict) or not isinstance(rng.get("events"), list):
        parsed.error(f"affected[{entry_index}].ranges[{range_index}] has no events list", adv_id)
        return
    range_type = str(rng.get("type") or "")
    if range_type not in ("ECOSYSTEM", "GIT", "SEMVER"):
        parsed.error(f"unknown range type {range_type!r}; range kept as data", adv_id, "warning")
    repo = rng.get("repo") if isinstance(rng.get("repo"), str) else None
    base = {
        "advisory_id": adv_id,
        "package": package,
        "entry_index": entry_index,
        "range_index": range_index,
        "range_type": range_type,
        "repo": repo,
        "source_path": parsed.path,
    }
    saw_introduced = False
    first = len(parsed.events)
    for raw_event in rng["events"]:
        items = raw_event.items() if isinstance(raw_event, dict) else ()
        if not items:
            parsed.error(f"event is not a mapping: {raw_event!r:.60}; ignored", adv_id, "warning")
        for kind, raw_version in items:
            event = _event_row(parsed, adv_id, range_type, kind, raw_version)
            if event is not None:
                index = len(parsed.events) - first
                parsed.events.append({**base, "event_index": index, **event})
                saw_introduced = saw_introduced or (kind == "introduced" and event["valid"])
    if range_type == "ECOSYSTEM" and not saw_introduced:
        parsed.error(
            f"affected[{entry_index}].ranges[{range_index}] has no valid introduced event; "
            "treated as introduced '0'",
            adv_id,
            "warning",
        )


def _parse_affected(parsed: ParsedFile, doc: dict[str, Any], adv_id: str) -> list[str]:
    affected = doc.get("affected")
    if not isinstance(affected, list) or not affected:
        parsed.error("no 'affected' list; advisory names no package", adv_id, "warning")
        return []
    names: list[str] = []
    for entry_index, entry in enumerate(affected):
        package_info = entry.get("package") if isinstance(entry, dict) else None
        raw_name = package_info.get("name") if isinstance(package_info, dict) else None
        if not isinstance(entry, dict) or not isinstance(raw_name, str) or not raw_name.strip():
            parsed.error(f"affected[{entry_index}] has no package name; skipped", adv_id, "warning")
            continue
        assert isinstance(package_info, dict)
        package = normalize_name(raw_name.strip())
        versions: list[str] = []
        raw_versions = _list_field(
            parsed, entry.get("versions"), f"affected[{entry_index}].versions", adv_id
        )
        for raw_version in raw_versions:
            version = _version_text(raw_version)
            if version is None:
                parsed.error(f"version {raw_version!r:.40} is not text; ignored", adv_id, "warning")
                continue
            if not isinstance(raw_version, str):
                parsed.error(
                    f"version {version!r} is a YAML number, read as text", adv_id, "warning"
                )
            if parse_version(version) is None:
                parsed.error(f"version {version!r} is not PEP 440; kept as text", adv_id, "warning")
            versions.append(version)
        purl = package_info.get("purl")
        parsed.packages.append(
            {
                "advisory_id": adv_id,
                "entry_index": entry_index,
                "package": package,
                "package_name": raw_name.strip(),
                "ecosystem": str(package_info.get("ecosystem") or ""),
                "purl": purl if isinstance(purl, str) else None,
                "versions": versions,
                "source_path": parsed.path,
            }
        )
        names.append(package)
        ranges = entry.get("ranges") or []
        if not raw_versions and not ranges and not doc.get("withdrawn"):
            parsed.error(
                f"affected[{entry_index}] ({package}) lists no versions and no ranges",
                adv_id,
                "warning",
            )
        if not isinstance(ranges, list):
            parsed.error(
                f"affected[{entry_index}].ranges is not a list; ignored", adv_id, "warning"
            )
            continue
        for range_index, rng in enumerate(ranges):
            _parse_range(parsed, adv_id, package, entry_index, range_index, rng)
    return sorted(set(names))


def _severity_entries(parsed: ParsedFile, doc: dict[str, Any], adv_id: str) -> list[Any]:
    top = _list_field(parsed, doc.get("severity"), "'severity'", adv_id)
    if top:
        return top
    per_package: list[Any] = []
    affected = doc.get("affected")
    for entry in affected if isinstance(affected, list) else []:
        if isinstance(entry, dict):
            per_package.extend(
                _list_field(parsed, entry.get("severity"), "affected severity", adv_id)
            )
    return per_package


def parse_advisory(
    path: str, data: bytes, commit: str, blob: str = "", origin: str = DEFAULT_ORIGIN
) -> ParsedFile:
    """Parse one advisory file's bytes into rows for the advisory tables (never raises).

    ``commit``, ``blob`` (the file's git blob id) and ``origin`` (the repository's name) are
    recorded as the row's lineage.
    """
    parsed = ParsedFile(path)
    try:
        doc = load_document(path, data)
    except ValueError as exc:
        parsed.error(str(exc))
        return parsed
    if not isinstance(doc, dict):
        parsed.error(f"advisory is not a mapping (found {type(doc).__name__})")
        return parsed
    adv_id = doc.get("id")
    if not isinstance(adv_id, str) or not adv_id.strip():
        parsed.error("advisory has no 'id'")
        return parsed
    adv_id = adv_id.strip()
    aliases = _string_list(parsed, doc, "aliases", adv_id)
    packages = _parse_affected(parsed, doc, adv_id)
    severity, warnings = choose_severity(_severity_entries(parsed, doc, adv_id))
    for warning in warnings:
        parsed.error(warning, adv_id, "warning")
    parsed.advisory = {
        "id": adv_id,
        "summary": _optional_text(parsed, doc, "summary", adv_id),
        "details": _optional_text(parsed, doc, "details", adv_id),
        "aliases": aliases,
        "related": _string_list(parsed, doc, "related", adv_id),
        "packages": packages,
        "published": _timestamp(parsed, doc, "published", adv_id),
        "modified": _timestamp(parsed, doc, "modified", adv_id),
        "withdrawn": _timestamp(parsed, doc, "withdrawn", adv_id),
        "severity_type": severity.type if severity else None,
        "severity_vector": severity.vector if severity else None,
        "cvss_score": severity.score if severity else None,
        "cvss_rating": severity.rating if severity else None,
        "references": _references(parsed, doc, adv_id),
        "source_commit": commit,
        "source_path": path,
        "source_blob": blob,
        "origin": origin,
        "malicious": is_malicious(doc, adv_id, aliases),
        "merged_into": None,
        "severity_from": None,
    }
    parsed.record = osv_record(doc, parsed.advisory, path)
    return parsed


def parse_batch(
    items: list[tuple[str, bytes, str]], commit: str, origin: str = DEFAULT_ORIGIN
) -> list[ParsedFile]:
    """Parse a batch of ``(path, bytes, blob id)`` triples from one commit of ``origin``."""
    return [parse_advisory(path, data, commit, blob, origin) for path, data, blob in items]

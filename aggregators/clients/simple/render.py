"""Writing Simple API pages (pure): PEP 691 JSON or PEP 503 HTML, chosen by ``Accept``.

:func:`negotiate` follows PEP 691: the client's ``Accept`` header (with q-values) picks among
``application/vnd.pypi.simple.v1+json``, ``application/vnd.pypi.simple.v1+html`` and
``text/html`` (and the ``latest`` aliases); no header means ``text/html``; a header nothing
matches means ``None`` (answer ``406``). A ``format`` query parameter, when given, wins.

Pages declare API version 1.1 (PEP 700) when every file's size is known, else 1.0. Each file
keeps its URL, hashes (the first one in the HTML fragment, as PEP 503 has it),
``requires-python``, metadata (PEP 658 under its PEP 714 name ``core-metadata``; in HTML also
under the older attribute, which PEP 714 allows), GPG flag, yanked reason, size and upload time
(a yank with no reason is ``true``, never ``""``, which pip reads as "not yanked"). What seckb
did to the page is in a private ``_seckb`` key (JSON, PEP 691 reserves underscored keys) and in
text outside the anchors (HTML), so a person reading either sees it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from html import escape
from typing import Any

from aggregators.clients.simple.gate import GatedPage
from aggregators.clients.simple.pages import API_VERSION, HTML_V1, JSON_V1, DistFile, ProjectList
from aggregators.core.names import normalize_name

TEXT_HTML = "text/html"
JSON_LATEST = "application/vnd.pypi.simple.latest+json"
HTML_LATEST = "application/vnd.pypi.simple.latest+html"
_ALIASES = {JSON_LATEST: JSON_V1, HTML_LATEST: HTML_V1}
_SERVED = (TEXT_HTML, HTML_V1, JSON_V1)
"""What a wildcard matches, in this order of preference (``*/*`` is an old client: HTML)."""


@dataclass(frozen=True)
class Rendered:
    """A page ready to send."""

    body: bytes
    content_type: str


def _ranges(accept: str) -> list[tuple[str, float]]:
    found = []
    for part in accept.split(","):
        fields = [f.strip() for f in part.split(";")]
        kind = fields[0].lower()
        if not kind:
            continue
        quality = 1.0
        for param in fields[1:]:
            name, _, value = param.partition("=")
            if name.strip().lower() == "q":
                try:
                    quality = max(0.0, min(1.0, float(value)))
                except ValueError:
                    quality = 0.0
        found.append((_ALIASES.get(kind, kind), quality))
    return found


def _matches(kind: str, offered: str) -> bool:
    if kind in ("*/*", offered):
        return True
    return kind.endswith("/*") and offered.startswith(kind[:-1])


def negotiate(accept: str | None, format_param: str | None = None) -> str | None:
    """The media type to answer with (``None``: nothing the client accepts is served)."""
    if format_param:
        kind = _ALIASES.get(format_param.strip().lower(), format_param.strip().lower())
        return kind if kind in _SERVED else None
    if accept is None or not accept.strip():
        return TEXT_HTML
    ranges = _ranges(accept)
    best: tuple[float, int, int] | None = None
    chosen = None
    for offered_rank, offered in enumerate(_SERVED):
        specific = [(q, len(k)) for k, q in ranges if _matches(k, offered)]
        if not specific:
            continue
        quality = max(specific, key=lambda item: item[1])[0]  # the most specific range rules
        if quality <= 0:
            continue
        exact = any(k == offered for k, _ in ranges)
        score = (quality, int(exact), -offered_rank)
        if best is None or score > best:
            best, chosen = score, offered
    return chosen


def _file_json(item: DistFile) -> dict[str, Any]:
    entry: dict[str, Any] = {"filename": item.filename, "url": item.url, "hashes": item.hashes}
    if item.requires_python is not None:
        entry["requires-python"] = item.requires_python
    if item.core_metadata is not None:
        entry["core-metadata"] = item.core_metadata  # PEP 714: never the old key in JSON
    if item.gpg_sig is not None:
        entry["gpg-sig"] = item.gpg_sig
    entry["yanked"] = item.yanked
    if item.size is not None:
        entry["size"] = item.size
    if item.upload_time is not None:
        entry["upload-time"] = item.upload_time
    return entry


def api_version(files: Sequence[DistFile]) -> str:
    """The API version a page may claim: 1.1 (PEP 700) needs every file's ``size``, which an
    HTML upstream does not give; such a page is 1.0 (its ``versions`` key is then extra)."""
    return API_VERSION if all(f.size is not None for f in files) else "1.0"


def project_json(gated: GatedPage, extras: Mapping[str, Any]) -> bytes:
    """The PEP 691 JSON form of a gated page; ``extras`` go into its ``_seckb`` object."""
    page = gated.page
    meta: dict[str, Any] = {"api-version": api_version(page.files)}
    if page.last_serial is not None:
        meta["_last-serial"] = page.last_serial
    document = {
        "meta": meta,
        "name": page.name,
        "versions": list(page.versions),
        "files": [_file_json(f) for f in page.files],
        "_seckb": {
            **extras,
            "mode": gated.mode,
            "blocked": [b.to_json() for b in gated.blocked],
        },
    }
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def _metadata_attr(value: bool | dict[str, str]) -> str:
    if isinstance(value, dict) and value:
        name, digest = next(iter(value.items()))
        return f"{name}={digest}"
    return "true"


def _anchor(item: DistFile, notes: Mapping[str, str]) -> str:
    href = item.url
    if item.hashes:
        name, digest = next(iter(item.hashes.items()))
        href = f"{href}#{name}={digest}"
    attrs = [f'href="{escape(href)}"']
    if item.requires_python is not None:
        attrs.append(f'data-requires-python="{escape(item.requires_python)}"')
    if item.core_metadata is not None:
        value = escape(_metadata_attr(item.core_metadata))
        attrs.append(f'data-core-metadata="{value}" data-dist-info-metadata="{value}"')
    if item.gpg_sig is not None:
        attrs.append(f'data-gpg-sig="{"true" if item.gpg_sig else "false"}"')
    if item.yanked is not False:
        reason = item.yanked if isinstance(item.yanked, str) else ""
        attrs.append(f'data-yanked="{escape(reason)}"')
    note = notes.get(item.filename)
    tail = f' <small class="seckb-blocked">{escape(note)}</small>' if note else ""
    return f"<a {' '.join(attrs)}>{escape(item.filename)}</a>{tail}<br/>"


_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2rem;line-height:1.5}"
    "small.seckb-blocked{color:#b91c1c}.seckb{border-left:4px solid #b91c1c;padding-left:1rem}"
)


def project_html(gated: GatedPage, extras: Mapping[str, Any]) -> bytes:
    """The PEP 503 HTML form of a gated page; blocked files are named in text (no anchors)."""
    page = gated.page
    name = escape(page.name)
    notes = {
        filename: f"blocked by seckb: {b.reason}"
        for b in gated.blocked
        if b.action == "yanked"
        for filename in b.files
    }
    lines = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta name="pypi:repository-version" content="{api_version(page.files)}">',
        f"<title>Links for {name}</title>",
        f"<style>{_STYLE}</style>",
        "</head>",
        "<body>",
        f"<h1>Links for {name}</h1>",
        *(_anchor(f, notes) for f in page.files),
    ]
    hidden = [b for b in gated.blocked if b.action == "hidden"]
    snapshot = escape(str(extras.get("snapshot", "")))
    suspicion = extras.get("suspicious_name")
    if suspicion:
        lines.append(f'<p class="seckb">seckb: suspicious name: {escape(suspicion["message"])}</p>')
    if hidden:
        lines.append(f'<div class="seckb"><p>Left out by seckb (snapshot {snapshot}):</p><ul>')
        for b in hidden:
            version = escape(b.version or "version unknown")
            files = escape(", ".join(b.files))
            lines.append(f"<li>{version}: {escape(b.reason)} ({files})</li>")
        lines.append("</ul></div>")
    lines += ["</body>", "</html>", ""]
    return "\n".join(lines).encode("utf-8")


def root_json(projects: ProjectList, extras: Mapping[str, Any]) -> bytes:
    """The PEP 691 JSON root page."""
    meta: dict[str, Any] = {"api-version": API_VERSION}
    if projects.last_serial is not None:
        meta["_last-serial"] = projects.last_serial
    document = {
        "meta": meta,
        "projects": [{"name": n} for n in projects.names],
        "_seckb": dict(extras),
    }
    return json.dumps(document, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def root_html(projects: ProjectList, base: str) -> bytes:
    """The PEP 503 HTML root page (links relative to ``base``, the root's own path)."""
    head = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        f'<meta name="pypi:repository-version" content="{API_VERSION}">',
        "<title>Simple index</title>",
        "</head>",
        "<body>",
    ]
    anchors = [
        f'<a href="{escape(base)}{escape(normalize_name(n))}/">{escape(n)}</a><br/>'
        for n in projects.names
    ]
    return "\n".join([*head, *anchors, "</body>", "</html>", ""]).encode("utf-8")


def render_project(gated: GatedPage, kind: str, extras: Mapping[str, Any]) -> Rendered:
    """The gated page in the negotiated ``kind``."""
    if kind == JSON_V1:
        return Rendered(project_json(gated, extras), JSON_V1)
    return Rendered(project_html(gated, extras), _html_type(kind))


def render_root(projects: ProjectList, kind: str, base: str, extras: Mapping[str, Any]) -> Rendered:
    """The root page in the negotiated ``kind``."""
    if kind == JSON_V1:
        return Rendered(root_json(projects, extras), JSON_V1)
    return Rendered(root_html(projects, base), _html_type(kind))


def _html_type(kind: str) -> str:
    return HTML_V1 if kind == HTML_V1 else f"{TEXT_HTML}; charset=utf-8"


def served_types() -> Sequence[str]:
    """The media types the index answers with."""
    return _SERVED

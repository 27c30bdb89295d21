"""Project pages of a Simple Repository API index, and reading them (pure).

An upstream page is read from PEP 691 JSON or from PEP 503 HTML into a :class:`ProjectPage`:
every file with its hashes, ``requires-python``, metadata file (PEP 658/714), GPG signature
flag, yanked reason (PEP 592), size and upload time (PEP 700). File URLs are made absolute
against the page's own URL (the URL after redirects) and otherwise kept as the upstream wrote
them; hashes are never changed. A page that is not what it claims to be (not JSON, wrong shape,
an API major version other than 1, an unparseable HTML page) is a :class:`PageError`, never an
empty page.
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from html.parser import HTMLParser
from typing import Any
from urllib.parse import urldefrag, urljoin, urlsplit

from aggregators.clients.simple.filenames import file_version
from aggregators.core.errors import SeckbError
from aggregators.core.names import normalize_name

JSON_V1 = "application/vnd.pypi.simple.v1+json"
HTML_V1 = "application/vnd.pypi.simple.v1+html"
API_VERSION = "1.1"
"""The API version seckb's pages declare (PEP 700: ``versions``, ``size``, ``upload-time``)."""
_HASH_NAME = re.compile(r"^[a-z0-9_-]{1,32}$")
_HEX = re.compile(r"^[0-9a-fA-F]{1,256}$")
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
_PLAIN_URL = re.compile(r"^https?://[^\s\x00-\x1f\x7f\\]+$")
_UPLOAD_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d{1,9})?(Z|[+-]\d\d:\d\d)$")

Metadata = bool | dict[str, str] | None
"""A file's PEP 658/714 metadata: absent (``None``), present (``True``), present with hashes."""


class PageError(SeckbError):
    """An upstream page could not be read as a Simple API page."""


@dataclass(frozen=True)
class DistFile:
    """One distribution file of a project page."""

    filename: str
    url: str
    """Absolute URL, without the hash fragment (the hashes are in :attr:`hashes`)."""
    hashes: dict[str, str] = field(default_factory=dict)
    requires_python: str | None = None
    core_metadata: Metadata = None
    gpg_sig: bool | None = None
    yanked: bool | str = False
    """``False``, ``True`` (no reason given) or the reason."""
    size: int | None = None
    upload_time: str | None = None
    version: str | None = None
    """The version the file name holds (``None``: cannot be told)."""

    def yanked_with(self, reason: str) -> DistFile:
        """This file yanked with ``reason`` added to any reason it already had."""
        if isinstance(self.yanked, str) and self.yanked:
            return replace(self, yanked=f"{self.yanked}; {reason}")
        return replace(self, yanked=reason)


@dataclass(frozen=True)
class ProjectPage:
    """A project's page: its files and the versions the index lists."""

    name: str
    """PEP 503 name."""
    files: tuple[DistFile, ...]
    versions: tuple[str, ...]
    """Every version the index lists (PEP 700), files or not; derived from the files when the
    upstream page has no ``versions`` (API 1.0, HTML)."""
    last_serial: int | None = None
    url: str = ""
    """Where the page was read from."""


@dataclass(frozen=True)
class ProjectList:
    """The root page: every project the index lists."""

    names: tuple[str, ...]
    """Project names as the index spells them, in its order."""
    last_serial: int | None = None


def _api_major(version: Any, where: str) -> None:
    if not isinstance(version, str) or not re.fullmatch(r"\d+(\.\d+)*", version):
        raise PageError(f"{where}: meta.api-version {str(version)[:20]!r} is not a version")
    if version.split(".")[0] != "1":
        raise PageError(f"{where}: API version {version} is not supported (major version 1 is)")


def _text(value: Any, what: str, where: str, optional: bool = True) -> str | None:
    if value is None and optional:
        return None
    if not isinstance(value, str) or _CONTROL.search(value):
        raise PageError(f"{where}: {what} must be text")
    return value


def _hashes(value: Any, where: str) -> dict[str, str]:
    if not isinstance(value, Mapping):
        raise PageError(f"{where}: hashes must be an object")
    found = {}
    for name, digest in value.items():
        if not isinstance(name, str) or not _HASH_NAME.match(name):
            raise PageError(f"{where}: {str(name)[:40]!r} is not a hash name")
        if not isinstance(digest, str) or not _HEX.match(digest):
            raise PageError(f"{where}: the {name} hash is not hexadecimal")
        found[name] = digest.lower()
    return found


def _metadata(value: Any, where: str) -> Metadata:
    if value is None or isinstance(value, bool):
        return value or None
    return _hashes(value, where)


def _file_url(raw: str, base: str, where: str) -> str:
    text = raw.strip()
    if text.startswith(("https://", "http://")) and "#" not in text and _PLAIN_URL.match(text):
        return text  # already absolute, nothing to cut (most files of a PyPI page)
    url = urljoin(base, text)
    if urlsplit(url).scheme not in ("http", "https"):
        raise PageError(f"{where}: file URL {raw[:80]!r} is not http(s)")
    return urldefrag(url).url


def _filename(value: Any, where: str) -> str:
    name = _text(value, "filename", where, optional=False) or ""
    name = name.strip()
    if not name or "/" in name or "\\" in name or len(name) > 512:
        raise PageError(f"{where}: {name[:80]!r} is not a file name")
    return name


def _json_file(item: Any, project: str, base: str, where: str) -> DistFile:
    if not isinstance(item, Mapping):
        raise PageError(f"{where}: a file must be an object")
    filename = _filename(item.get("filename"), where)
    url = _text(item.get("url"), "url", where, optional=False) or ""
    yanked = item.get("yanked", False)
    if not isinstance(yanked, bool | str):
        raise PageError(f"{where}: yanked must be true, false or a reason")
    if yanked == "":
        yanked = False  # PEP 691: only a truthy value means yanked (pip reads "" so too)
    size = item.get("size")
    if size is not None and (isinstance(size, bool) or not isinstance(size, int) or size < 0):
        raise PageError(f"{where}: size must be a number of bytes")
    metadata = item.get("core-metadata", item.get("dist-info-metadata"))
    if metadata is None:
        metadata = item.get("data-dist-info-metadata")  # Warehouse's spelling before PEP 714
    gpg = item.get("gpg-sig")
    if gpg is not None and not isinstance(gpg, bool):
        raise PageError(f"{where}: gpg-sig must be true or false")
    return DistFile(
        filename=filename,
        url=_file_url(url, base, where),
        hashes=_hashes(item.get("hashes", {}), where),
        requires_python=_text(item.get("requires-python"), "requires-python", where),
        core_metadata=_metadata(metadata, where),
        gpg_sig=gpg,
        yanked=yanked,
        size=size,
        upload_time=_upload_time(item.get("upload-time")),
        version=file_version(filename, project),
    )


def _upload_time(value: Any) -> str | None:
    """A PEP 700 ``upload-time`` as given when it is an ISO 8601 time with a zone; ``None``
    otherwise (uv refuses a whole page over one malformed time, so it is left out)."""
    return value if isinstance(value, str) and _UPLOAD_TIME.match(value) else None


def _versions(listed: Any, files: tuple[DistFile, ...], where: str) -> tuple[str, ...]:
    if listed is None:
        seen: dict[str, None] = {}
        for item in files:
            if item.version is not None:
                seen.setdefault(item.version, None)
        return tuple(seen)
    if not isinstance(listed, list) or not all(isinstance(v, str) for v in listed):
        raise PageError(f"{where}: versions must be a list of strings")
    return tuple(listed)


def _json_document(body: bytes, url: str, what: str) -> Mapping[str, Any]:
    """A PEP 691 document: a JSON object with a ``meta`` object of API major version 1."""
    try:
        data = json.loads(body)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise PageError(f"{url}: not JSON ({exc})") from exc
    if not isinstance(data, Mapping) or not isinstance(data.get("meta"), Mapping):
        raise PageError(f"{url}: not a PEP 691 {what} page (no meta object)")
    _api_major(data["meta"].get("api-version"), url)
    return data


def parse_project_json(body: bytes, url: str, project: str) -> ProjectPage:
    """A PEP 691 JSON project page read from ``url``, for ``project`` (PEP 503 name)."""
    data = _json_document(body, url, "project")
    meta = data["meta"]
    name = _text(data.get("name"), "name", url, optional=False) or ""
    if normalize_name(name) != project:
        raise PageError(f"{url}: the page is for {name[:80]!r}, not {project!r}")
    items = data.get("files")
    if not isinstance(items, list):
        raise PageError(f"{url}: files must be a list")
    files = tuple(
        _json_file(item, project, url, f"{url} files[{i}]") for i, item in enumerate(items)
    )
    status = data.get("project-status", meta.get("project-status"))
    if isinstance(status, Mapping) and _quarantined(status.get("status", status.get("state"))):
        files = ()  # PEP 792: a quarantined project offers no distribution
    return ProjectPage(
        project, files, _versions(data.get("versions"), files, url), _serial(meta), url
    )


def _quarantined(status: Any) -> bool:
    return isinstance(status, str) and status.strip().lower() == "quarantined"


def _serial(meta: Mapping[str, Any]) -> int | None:
    """``meta._last-serial`` (a number, or digits as text as some mirrors write it)."""
    value = meta.get("_last-serial")
    if isinstance(value, str) and value.isdigit():
        return int(value)
    return value if isinstance(value, int) and not isinstance(value, bool) else None


class _Anchors(HTMLParser):
    """The anchors of an HTML page (attributes and text) and its repository version."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.anchors: list[tuple[dict[str, str | None], list[str]]] = []
        self.api_version: str | None = None
        self.status: str | None = None
        self.base: str | None = None
        self._open: list[str] | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "a":
            self._open = []
            self.anchors.append((dict(attrs), self._open))
        elif tag == "meta":
            values = dict(attrs)
            if values.get("name") == "pypi:repository-version":
                self.api_version = values.get("content")
            elif values.get("name") == "pypi:project-status":
                self.status = values.get("content")
        elif tag == "base" and self.base is None:
            self.base = dict(attrs).get("href")

    def handle_endtag(self, tag: str) -> None:
        if tag == "a":
            self._open = None

    def handle_data(self, data: str) -> None:
        if self._open is not None:
            self._open.append(data)


def _anchors(body: bytes, url: str) -> _Anchors:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise PageError(f"{url}: the HTML page is not UTF-8") from exc
    if "\x00" in text:
        raise PageError(f"{url}: not an HTML page (binary data)")
    parser = _Anchors()
    try:
        parser.feed(text)
        parser.close()
    except (AssertionError, ValueError) as exc:  # pragma: no cover - html.parser is lenient
        raise PageError(f"{url}: unreadable HTML ({exc})") from exc
    if parser.api_version is not None:
        _api_major(parser.api_version, url)
    return parser


def _html_flag(value: str | None) -> Metadata:
    """A PEP 658 attribute: ``true`` or ``<hashname>=<hex>``."""
    if value is None:
        return None
    if value.strip().lower() == "true" or not value.strip():
        return True
    name, _, digest = value.strip().partition("=")
    if _HASH_NAME.match(name) and _HEX.match(digest):
        return {name: digest.lower()}
    return True


def _html_file(attrs: dict[str, str | None], text: str, project: str, base: str) -> DistFile:
    href = attrs.get("href") or ""
    where = f"{base} <a href={href[:80]!r}>"
    url = _file_url(href, base, where)
    fragment = urldefrag(urljoin(base, href.strip())).fragment
    hashes = {}
    name, _, digest = fragment.partition("=")
    if name and _HASH_NAME.match(name) and _HEX.match(digest):
        hashes[name] = digest.lower()
    filename = _filename(text.strip() or urlsplit(url).path.rsplit("/", 1)[-1], where)
    yanked: bool | str = False
    if "data-yanked" in attrs:
        yanked = (attrs["data-yanked"] or "").strip() or True
    metadata = attrs.get("data-core-metadata", attrs.get("data-dist-info-metadata"))
    gpg = attrs.get("data-gpg-sig")
    return DistFile(
        filename=filename,
        url=url,
        hashes=hashes,
        requires_python=attrs.get("data-requires-python") or None,
        core_metadata=_html_flag(metadata),
        gpg_sig=None if gpg is None else gpg.strip().lower() == "true",
        yanked=yanked,
        version=file_version(filename, project),
    )


def parse_project_html(body: bytes, url: str, project: str) -> ProjectPage:
    """A PEP 503 HTML project page read from ``url``, for ``project`` (PEP 503 name)."""
    parser = _anchors(body, url)
    base = urljoin(url, parser.base) if parser.base else url  # a <base href>, as pip reads it
    files = tuple(
        _html_file(attrs, "".join(text), project, base)
        for attrs, text in parser.anchors
        if attrs.get("href")
    )
    if _quarantined(parser.status):
        files = ()  # PEP 792: a quarantined project offers no distribution
    return ProjectPage(project, files, _versions(None, files, url), None, url)


def parse_root_json(body: bytes, url: str) -> ProjectList:
    """A PEP 691 JSON root page."""
    data = _json_document(body, url, "root")
    projects = data.get("projects")
    if not isinstance(projects, list):
        raise PageError(f"{url}: projects must be a list")
    names = []
    for item in projects:
        name = item.get("name") if isinstance(item, Mapping) else None
        if isinstance(name, str) and name.strip() and not _CONTROL.search(name):
            names.append(name.strip())
    return ProjectList(tuple(names), _serial(data["meta"]))


_ROOT_ANCHOR = re.compile(rb"<a\s[^>]*>([^<]*)</a\s*>", re.IGNORECASE)


def parse_root_html(body: bytes, url: str) -> ProjectList:
    """A PEP 503 HTML root page: the anchors' texts are the project names. Read with one
    regular expression (PyPI's root has over 900,000 anchors; an HTML parser takes seconds)."""
    if b"\x00" in body:
        raise PageError(f"{url}: not an HTML page (binary data)")
    names = []
    for match in _ROOT_ANCHOR.finditer(body):
        try:
            name = html.unescape(match.group(1).decode("utf-8")).strip()
        except UnicodeDecodeError as exc:
            raise PageError(f"{url}: the HTML page is not UTF-8") from exc
        if name and not _CONTROL.search(name):
            names.append(name)
    if not names and b"<html" not in body[:4096].lower() and b"<a" not in body.lower():
        raise PageError(f"{url}: not an HTML page")
    return ProjectList(tuple(names))

"""The upstream indexes seckb's package index reads (I/O), with their pages cached per project.

Upstreams (PyPI by default; any PEP 691 or PEP 503 index: devpi, Artifactory, pypiserver) are
asked in order, and the first that has a project serves its page: a project on a private index
is never taken from a later one. An upstream that fails (down, garbage, too big, too slow, a
redirect loop) ends the search there — falling through to the next index would hand a private
name to whoever registers it on a public one — and the cached page is served, marked stale;
with nothing cached the caller answers ``502``. Only a 404 (or 410) moves on to the next index.

A page is cached in memory (least recently used dropped past a byte budget) and served without
asking again for ``fresh_seconds``; after that it is revalidated: ``If-None-Match`` /
``If-Modified-Since`` when the upstream gave an ETag or a date, else the page's serial
(``X-PyPI-Last-Serial``, read before the body) or the body's digest, so an unchanged page keeps
its parsed and rendered forms. An error is never cached as a page. One request per project is
in flight upstream at a time; others wait for its answer.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import time
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

import requests

from aggregators.clients.simple.pages import (
    HTML_V1,
    JSON_V1,
    PageError,
    ProjectList,
    ProjectPage,
    parse_project_html,
    parse_project_json,
    parse_root_html,
    parse_root_json,
)
from aggregators.core.clock import utcnow
from aggregators.core.config import Settings
from aggregators.core.errors import SeckbError, first_line
from aggregators.core.http import HttpClient, HttpError, HttpSettings, make_session
from aggregators.core.names import normalize_name

log = logging.getLogger(__name__)

ACCEPT = f"{JSON_V1}, {HTML_V1};q=0.2, text/html;q=0.01"
ROOT = ""
"""The cache key of the root page."""
MAX_REDIRECTS = 5
_STRIPES = 64


class UpstreamError(SeckbError):
    """No upstream could answer for a project (and nothing was cached)."""


class NotFound(SeckbError):
    """No upstream lists the project."""


@dataclass
class Cached:
    """An upstream page held in the cache, with what is needed to revalidate it."""

    content: ProjectPage | ProjectList
    upstream: str
    """The index it came from."""
    etag: str | None
    last_modified: str | None
    serial: str | None
    digest: str
    size: int
    checked: float
    """When the upstream last confirmed it (monotonic seconds)."""
    fetched_at: datetime
    generation: int = 0
    """Bumped whenever the content changes."""
    last_error: str | None = None
    renders: dict[Any, Any] = field(default_factory=dict)
    """Rendered forms, kept by the server (dropped with the entry)."""


@dataclass(frozen=True)
class Answer:
    """A page and how it was obtained."""

    entry: Cached
    state: str
    """``fresh`` (cached, within freshness), ``revalidated`` (the upstream confirmed it),
    ``fetched`` (new content) or ``stale`` (the upstream failed; the cached page is served)."""
    error: str | None = None


@dataclass(frozen=True)
class _Reply:
    status: int
    body: bytes
    url: str
    content_type: str
    etag: str | None
    last_modified: str | None
    serial: str | None


def index_http_settings(settings: Settings) -> HttpSettings:
    """Timeouts and retries of upstream requests: short, since a resolver is waiting."""
    timeout = settings.index_timeout_seconds
    return HttpSettings(
        connect_timeout=min(5.0, timeout / 3),
        read_timeout=timeout,
        attempts=settings.index_attempts,
        backoff_initial=0.2,
        backoff_max=1.0,
        retry_after_max=2.0,
        host_failures=0,  # a server lives longer than a run: never give a host up for good
    )


class UpstreamIndex:
    """The upstream indexes, asked in order, with a per-project page cache."""

    def __init__(
        self,
        urls: Sequence[str],
        client: HttpClient | None = None,
        fresh_seconds: float = 600.0,
        max_page_bytes: int = 64 << 20,
        max_cache_bytes: int = 512 << 20,
        timeout_seconds: float = 15.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        """Read ``urls`` (index base URLs, ``https://pypi.org/simple/``) through ``client``."""
        self.urls = tuple(u if u.endswith("/") else u + "/" for u in urls)
        if client is None:
            session = make_session()
            session.max_redirects = MAX_REDIRECTS
            client = HttpClient(session, HttpSettings(host_failures=0))
        self.client = client
        self.fresh_seconds = fresh_seconds
        self.max_page_bytes = max_page_bytes
        self.max_cache_bytes = max_cache_bytes
        self.deadline_seconds = max(timeout_seconds, 1.0) * 2
        self.clock = clock
        self._cache: OrderedDict[str, Cached] = OrderedDict()
        self._cache_bytes = 0
        self._lock = threading.Lock()
        self._stripes = [threading.Lock() for _ in range(_STRIPES)]
        self.counts: dict[str, int] = defaultdict(int)

    @classmethod
    def from_settings(cls, settings: Settings) -> UpstreamIndex:
        """The upstreams the settings name, with their timeouts, freshness and caps."""
        session = make_session()
        session.max_redirects = MAX_REDIRECTS
        return cls(
            settings.index_upstreams,
            HttpClient(session, index_http_settings(settings)),
            fresh_seconds=settings.index_fresh_seconds,
            max_page_bytes=settings.index_max_page_bytes,
            max_cache_bytes=settings.index_cache_mb << 20,
            timeout_seconds=settings.index_timeout_seconds,
        )

    def _count(self, what: str) -> None:
        with self._lock:
            self.counts[what] += 1

    def peek(self, project: str) -> Answer | None:
        """The cached page of ``project`` when it is still fresh (no I/O), else ``None``."""
        with self._lock:
            entry = self._cache.get(project)
            if entry is None or self.clock() - entry.checked > self.fresh_seconds:
                return None
            self._cache.move_to_end(project)
        self._count("fresh")
        return Answer(entry, "fresh")

    def project(self, project: str) -> Answer:
        """The page of ``project`` (PEP 503 name): cached when fresh, else asked upstream.

        Raise :class:`NotFound` when no upstream lists it, :class:`UpstreamError` when an
        upstream failed and nothing is cached."""
        return self._get(project)

    def projects(self) -> Answer:
        """The root page: every project the upstreams list (merged, first spelling kept)."""
        return self._get(ROOT)

    def _get(self, key: str) -> Answer:
        found = self.peek(key)
        if found is not None:
            return found
        with self._stripes[hash(key) % _STRIPES]:
            found = self.peek(key)  # another request may have refreshed it meanwhile
            if found is not None:
                return found
            with self._lock:
                entry = self._cache.get(key)
            try:
                answer = self._root(entry) if key == ROOT else self._project(key, entry)
            except (UpstreamError, PageError) as exc:
                reason = first_line(exc, 300)
                self._count("errors")
                log.warning("upstream index failed for %s: %s", key or "the root page", reason)
                if entry is None:
                    raise UpstreamError(reason) from exc
                entry.last_error = reason
                self._count("stale_served")
                return Answer(entry, "stale", reason)
            if answer.state == "fetched":
                self._store(key, answer.entry, entry)
            else:
                answer.entry.last_error = None
            return answer

    def _store(self, key: str, new: Cached, old: Cached | None) -> None:
        new.generation = old.generation + 1 if old is not None else 0
        with self._lock:
            if old is not None and self._cache.get(key) is old:
                self._cache_bytes -= old.size
            self._cache[key] = new
            self._cache.move_to_end(key)
            self._cache_bytes += new.size
            while self._cache_bytes > self.max_cache_bytes and len(self._cache) > 1:
                _, dropped = self._cache.popitem(last=False)
                self._cache_bytes -= dropped.size

    @property
    def cached_pages(self) -> int:
        """How many pages are cached."""
        return len(self._cache)

    def _project(self, project: str, entry: Cached | None) -> Answer:
        for base in self.urls:
            url = f"{base}{project}/"
            same = entry if entry is not None and entry.upstream == base else None
            reply = self._fetch(url, same)
            if reply.status in (404, 410):
                continue
            if same is not None and self._unchanged(reply, same):
                return Answer(same, "revalidated")
            page = self._parse_project(reply, project)
            return Answer(self._entry(page, base, reply), "fetched")
        self._count("not_found")
        raise NotFound(f"no upstream index lists {project!r} ({', '.join(self.urls)})")

    def _root(self, entry: Cached | None) -> Answer:
        names: dict[str, str] = {}
        replies = []
        for base in self.urls:
            reply = self._fetch(base, entry if entry is not None and len(self.urls) == 1 else None)
            if reply.status in (404, 410):
                continue
            if entry is not None and len(self.urls) == 1 and self._unchanged(reply, entry):
                return Answer(entry, "revalidated")
            replies.append(reply)
            found = self._parse_root(reply)
            for name in found.names:
                names.setdefault(normalize_name(name), name)
        if not replies:
            raise UpstreamError("no upstream index has a root page")
        merged = ProjectList(tuple(names.values()))
        return Answer(self._entry(merged, self.urls[0], replies[0]), "fetched")

    def _entry(self, content: ProjectPage | ProjectList, base: str, reply: _Reply) -> Cached:
        return Cached(
            content=content,
            upstream=base,
            etag=reply.etag,
            last_modified=reply.last_modified,
            serial=reply.serial,
            digest=hashlib.sha256(reply.body).hexdigest(),
            size=len(reply.body) * 3 + 1024,  # the parsed page and its rendered forms
            checked=self.clock(),
            fetched_at=utcnow(),
        )

    def _unchanged(self, reply: _Reply, entry: Cached) -> bool:
        same = reply.status == 304 or (
            bool(reply.body) and hashlib.sha256(reply.body).hexdigest() == entry.digest
        )
        if reply.status == 200 and not reply.body and reply.serial is not None:
            same = reply.serial == entry.serial  # closed after the headers: serial unchanged
        if same:
            entry.checked = self.clock()
            self._count("revalidated")
        return same

    def _fetch(self, url: str, entry: Cached | None) -> _Reply:
        headers = {"Accept": ACCEPT}
        if entry is not None and entry.last_modified:
            headers["If-Modified-Since"] = entry.last_modified
        try:
            response = self.client.get(
                url,
                etag=entry.etag if entry is not None else None,
                stream=True,
                headers=headers,
                ok=frozenset({200, 304, 404, 410}),
            )
        except HttpError as exc:
            raise UpstreamError(str(exc)) from exc
        except requests.RequestException as exc:  # redirect loops, bad schemes, bad URLs
            raise UpstreamError(f"{url}: {first_line(exc)}") from exc
        self._count("requests")
        try:
            return self._reply(response, url, entry)
        finally:
            response.close()

    def _reply(self, response: requests.Response, url: str, entry: Cached | None) -> _Reply:
        kind = (response.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        serial = response.headers.get("X-PyPI-Last-Serial")
        reply = _Reply(
            response.status_code,
            b"",
            response.url or url,
            kind,
            response.headers.get("ETag"),
            response.headers.get("Last-Modified"),
            serial,
        )
        if response.status_code != 200:
            return reply
        if entry is not None and serial is not None and serial == entry.serial:
            return reply  # same serial: the page did not change; the body is not read
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > self.max_page_bytes:
            raise UpstreamError(f"{url}: page of {declared} bytes is over the cap")
        return _Reply(
            200, self._body(response, url), reply.url, kind, reply.etag, reply.last_modified, serial
        )

    def _body(self, response: requests.Response, url: str) -> bytes:
        started = self.clock()
        chunks: list[bytes] = []
        size = 0
        try:
            for chunk in response.iter_content(64 * 1024):
                size += len(chunk)
                if size > self.max_page_bytes:
                    raise UpstreamError(
                        f"{url}: page larger than {self.max_page_bytes} bytes (the cap)"
                    )
                if self.clock() - started > self.deadline_seconds:
                    raise UpstreamError(
                        f"{url}: page not received within {self.deadline_seconds:g} s"
                    )
                chunks.append(chunk)
        except requests.RequestException as exc:
            raise UpstreamError(f"{url}: connection broken while reading the page") from exc
        return b"".join(chunks)

    def _parse_project(self, reply: _Reply, project: str) -> ProjectPage:
        if reply.content_type in (JSON_V1, "application/vnd.pypi.simple.latest+json"):
            return parse_project_json(reply.body, reply.url, project)
        if _is_html(reply.content_type):
            return parse_project_html(reply.body, reply.url, project)
        raise UpstreamError(_not_a_page(reply))

    def _parse_root(self, reply: _Reply) -> ProjectList:
        if reply.content_type in (JSON_V1, "application/vnd.pypi.simple.latest+json"):
            return parse_root_json(reply.body, reply.url)
        if _is_html(reply.content_type):
            return parse_root_html(reply.body, reply.url)
        raise UpstreamError(_not_a_page(reply))


def _is_html(kind: str) -> bool:
    return kind in ("text/html", HTML_V1, "application/vnd.pypi.simple.latest+html")


def _not_a_page(reply: _Reply) -> str:
    shown = reply.content_type or "no Content-Type"
    return f"{reply.url}: answered {shown[:60]}, not a Simple API page (JSON or HTML)"

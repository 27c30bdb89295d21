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
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import requests

from aggregators.clients.simple.pages import HTML_V1, JSON_V1, PageError, ProjectList, ProjectPage
from aggregators.clients.upstream_store import (
    Cached,
    DiskPages,
    NotFound,
    Reply,
    UpstreamError,
    parse_project_reply,
    parse_root_reply,
)
from aggregators.core.clock import utcnow
from aggregators.core.config import Settings
from aggregators.core.errors import first_line
from aggregators.core.http import HttpClient, HttpError, HttpSettings, make_session
from aggregators.core.names import normalize_name
from aggregators.core.workspace import Workspace

log = logging.getLogger(__name__)
__all__ = ["Answer", "NotFound", "UpstreamError", "UpstreamIndex", "index_http_settings"]

ACCEPT = f"{JSON_V1}, {HTML_V1};q=0.2, text/html;q=0.01"
ROOT = ""
"""The cache key of the root page."""
MAX_REDIRECTS = 5
_STRIPES = 64


@dataclass(frozen=True)
class Answer:
    """A page and how it was obtained."""

    entry: Cached
    state: str
    """``fresh`` (cached, within freshness), ``revalidated`` (the upstream confirmed it),
    ``fetched`` (new content) or ``stale`` (the upstream failed; the cached page is served)."""
    error: str | None = None


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
        disk: Path | None = None,
    ) -> None:
        """Read ``urls`` (index base URLs, ``https://pypi.org/simple/``) through ``client``;
        with ``disk``, pages are also kept there (a later process reads them back)."""
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
        key = hashlib.sha256("\n".join(self.urls).encode()).hexdigest()[:16]
        self.pages = DiskPages(disk / key if disk is not None else None, clock, fresh_seconds)
        """Pages on disk, apart for each list of upstreams (another list never reads them)."""

    @classmethod
    def from_settings(cls, settings: Settings) -> UpstreamIndex:
        """The upstreams the settings name, with their timeouts, freshness and caps, pages kept
        under the data root's ``cache/index`` too (when it can be written)."""
        session = make_session()
        session.max_redirects = MAX_REDIRECTS
        return cls(
            settings.index_upstreams,
            HttpClient(session, index_http_settings(settings)),
            fresh_seconds=settings.index_fresh_seconds,
            max_page_bytes=settings.index_max_page_bytes,
            max_cache_bytes=settings.index_cache_mb << 20,
            timeout_seconds=settings.index_timeout_seconds,
            disk=Workspace(settings.home).index_cache,
        )

    def _count(self, what: str) -> None:
        with self._lock:
            self.counts[what] += 1

    def peek(self, project: str, disk: bool = True) -> Answer | None:
        """The cached page of ``project`` when it is still fresh (no network; with ``disk``
        false, from memory only), else ``None``."""
        with self._lock:
            entry = self._cache.get(project)
        if entry is None:
            entry = self.pages.load(project) if disk else None
            if entry is None:
                return None
            self._remember(project, entry)
        if self.clock() - entry.checked > self.fresh_seconds:
            return None
        with self._lock:
            if project in self._cache:
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
            if key != ROOT:  # the root merges upstreams: kept in memory only
                self.pages.save(key, answer.entry, answer.entry.body)
            answer.entry.body = None
            return answer

    def _store(self, key: str, new: Cached, old: Cached | None) -> None:
        new.generation = old.generation + 1 if old is not None else 0
        self._remember(key, new)

    @property
    def disk(self) -> Path | None:
        """Where pages are kept on disk (``None``: nowhere)."""
        return self.pages.directory

    def kept(self, project: str) -> dict[str, Any] | None:
        """The facts the disk holds of a fresh page of ``project`` (see :class:`DiskPages`)."""
        return self.pages.kept(project)

    def _remember(self, key: str, entry: Cached) -> None:
        with self._lock:
            old = self._cache.get(key)
            if old is not None:
                self._cache_bytes -= old.size
            self._cache[key] = entry
            self._cache.move_to_end(key)
            self._cache_bytes += entry.size
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
            page = parse_project_reply(reply, project)
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
            found = parse_root_reply(reply)
            for name in found.names:
                names.setdefault(normalize_name(name), name)
        if not replies:
            raise UpstreamError("no upstream index has a root page")
        merged = ProjectList(tuple(names.values()))
        return Answer(self._entry(merged, self.urls[0], replies[0]), "fetched")

    def _entry(self, content: ProjectPage | ProjectList, base: str, reply: Reply) -> Cached:
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
            url=reply.url,
            content_type=reply.content_type,
            body=reply.body,
        )

    def _unchanged(self, reply: Reply, entry: Cached) -> bool:
        same = reply.status == 304 or (
            bool(reply.body) and hashlib.sha256(reply.body).hexdigest() == entry.digest
        )
        if reply.status == 200 and not reply.body and reply.serial is not None:
            same = reply.serial == entry.serial  # closed after the headers: serial unchanged
        if same:
            entry.checked = self.clock()
            self._count("revalidated")
        return same

    def _fetch(self, url: str, entry: Cached | None) -> Reply:
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

    def _reply(self, response: requests.Response, url: str, entry: Cached | None) -> Reply:
        kind = (response.headers.get("Content-Type") or "").split(";")[0].strip().lower()
        serial = response.headers.get("X-PyPI-Last-Serial")
        reply = Reply(
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
        return Reply(
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

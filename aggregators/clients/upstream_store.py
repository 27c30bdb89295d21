"""The upstream index's pages as seckb keeps them: in memory (:class:`Cached`) and on disk
(:class:`DiskPages`), and reading an upstream's answer into a page by its content type.

On disk a page is two files — its facts (validators, digest, when it was last confirmed) and its
body as received — under a directory of their own for each list of upstreams, so a page of one
upstream is never taken for another's. A new process reads them back and revalidates them as the
one that wrote them would have; the files are a cache (written without flushing, replaced
atomically; a directory that cannot be written turns it off).
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

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
from aggregators.core.errors import SeckbError
from aggregators.core.files import write_atomic

log = logging.getLogger(__name__)


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
    url: str = ""
    """Where the page was read from (after redirects)."""
    content_type: str = ""
    generation: int = 0
    """Bumped whenever the content changes."""
    last_error: str | None = None
    renders: dict[Any, Any] = field(default_factory=dict)
    body: bytes | None = None
    """The page as received, until it is kept on disk (then dropped: memory holds the parsed
    page only)."""
    """Rendered forms, kept by the server (dropped with the entry)."""


@dataclass(frozen=True)
class Reply:
    """An upstream's answer, as read."""

    status: int
    body: bytes
    url: str
    content_type: str
    etag: str | None
    last_modified: str | None
    serial: str | None


class DiskPages:
    """Pages kept under one directory (``None``: none kept)."""

    def __init__(
        self, directory: Path | None, clock: Callable[[], float], fresh_seconds: float
    ) -> None:
        """Keep pages in ``directory``; ``clock`` is the index's monotonic clock."""
        self.directory = directory
        self.clock = clock
        self.fresh_seconds = fresh_seconds

    def files(self, key: str) -> tuple[Path, Path] | None:
        """The two files of a page (its facts, its body), or ``None`` without a directory."""
        if self.directory is None:
            return None
        stem = self.directory / (key or "_root")
        return stem.with_suffix(".meta"), stem.with_suffix(".body")

    def save(self, key: str, entry: Cached, body: bytes | None) -> None:
        """Keep ``entry`` on disk (its body when new); a disk that refuses is not an error."""
        files = self.files(key)
        if files is None:
            return
        meta = {
            "upstream": entry.upstream,
            "etag": entry.etag,
            "last_modified": entry.last_modified,
            "serial": entry.serial,
            "digest": entry.digest,
            "url": entry.url,
            "content_type": entry.content_type,
            "checked_at": time.time() - (self.clock() - entry.checked),
            "fetched_at": entry.fetched_at.isoformat(),
        }
        try:
            if body is not None:
                write_atomic(files[1], body, durable=False)
            write_atomic(files[0], json.dumps(meta).encode(), durable=False)
        except OSError as exc:
            log.info("index pages not kept on disk (%s): %s", self.directory, exc)
            self.directory = None

    def kept(self, project: str) -> dict[str, Any] | None:
        """What the disk holds of ``project``'s page (its validators and digest) when it is
        still fresh, without reading or parsing the page; else ``None``."""
        files = self.files(project)
        if files is None:
            return None
        try:
            meta: dict[str, Any] = json.loads(files[0].read_bytes())
            age = time.time() - float(meta["checked_at"])
        except (OSError, ValueError, KeyError, TypeError):
            return None
        return meta if 0 <= age <= self.fresh_seconds else None

    def load(self, key: str) -> Cached | None:
        """The entry kept on disk, parsed again (``None`` when absent or unusable)."""
        files = self.files(key)
        if files is None:
            return None
        try:
            meta = json.loads(files[0].read_bytes())
            body = files[1].read_bytes()
            if hashlib.sha256(body).hexdigest() != meta["digest"]:
                return None
            reply = Reply(200, body, meta["url"], meta["content_type"], None, None, None)
            content = parse_root_reply(reply) if key == "" else parse_project_reply(reply, key)
            age = max(0.0, time.time() - float(meta["checked_at"]))
            return Cached(
                content=content,
                upstream=meta["upstream"],
                etag=meta["etag"],
                last_modified=meta["last_modified"],
                serial=meta["serial"],
                digest=meta["digest"],
                size=len(body) * 3 + 1024,
                checked=self.clock() - age,
                fetched_at=datetime.fromisoformat(meta["fetched_at"]),
                url=meta["url"],
                content_type=meta["content_type"],
            )
        except (OSError, ValueError, KeyError, TypeError, PageError, UpstreamError):
            return None


def parse_project_reply(reply: Reply, project: str) -> ProjectPage:
    """A project page from an answer, by its content type."""
    if reply.content_type in (JSON_V1, "application/vnd.pypi.simple.latest+json"):
        return parse_project_json(reply.body, reply.url, project)
    if _is_html(reply.content_type):
        return parse_project_html(reply.body, reply.url, project)
    raise UpstreamError(_not_a_page(reply))


def parse_root_reply(reply: Reply) -> ProjectList:
    """The root page from an answer, by its content type."""
    if reply.content_type in (JSON_V1, "application/vnd.pypi.simple.latest+json"):
        return parse_root_json(reply.body, reply.url)
    if _is_html(reply.content_type):
        return parse_root_html(reply.body, reply.url)
    raise UpstreamError(_not_a_page(reply))


def _is_html(kind: str) -> bool:
    return kind in ("text/html", HTML_V1, "application/vnd.pypi.simple.latest+html")


def _not_a_page(reply: Reply) -> str:
    shown = reply.content_type or "no Content-Type"
    return f"{reply.url}: answered {shown[:60]}, not a Simple API page (JSON or HTML)"

"""The one HTTP layer: a ``requests`` session with timeouts, a User-Agent, conditional requests,
and retries with backoff (tenacity) on connection errors, 429 (honouring ``Retry-After``) and 5xx.

Sources never build their own sessions; they get an :class:`HttpClient` and decide what a 404 or
a 304 means for them. Errors that survive the retries become :class:`HttpError` (a
``SourceError``), with the URL and a one-line reason in plain words (``connection refused``,
never urllib3's repr of its connection pool).

A host that is clearly down is given up on early: after ``host_failures`` connection failures in
a row to one host, the client (one per source) stops asking it for the rest of the run, so a dead
service costs a few seconds and a single log line instead of hundreds of retries.
"""

from __future__ import annotations

import email.utils
import logging
import random
import re
import socket
import threading
import time
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar
from urllib.parse import urlsplit

import requests
from tenacity import (
    RetryCallState,
    Retrying,
    retry_if_exception_type,
    stop_after_attempt,
)

from aggregators import __version__
from aggregators.core.config import Settings
from aggregators.core.errors import SourceError, first_line
from aggregators.core.workspace import Workspace

log = logging.getLogger(__name__)
T = TypeVar("T")

USER_AGENT = f"seckb/{__version__} (+https://github.com/seckb/seckb; security knowledge base)"
RETRY_STATUSES = frozenset({429, 500, 502, 503, 504})


class HttpError(SourceError):
    """A request failed for good (after retries, or with a status the caller cannot use)."""

    def __init__(self, url: str, reason: str, status: int | None = None) -> None:
        """Remember the URL, the status (if any) and a one-line reason."""
        super().__init__(f"{url}: {reason}")
        self.url = url
        self.status = status


class HostDown(HttpError):
    """The host failed too many connections in a row: not asked again during this run."""


class Retryable(Exception):
    """A failure worth another attempt, with the server's requested delay if any."""

    def __init__(self, reason: str, retry_after: float | None = None) -> None:
        super().__init__(reason)
        self.retry_after = retry_after


@dataclass(frozen=True)
class HttpSettings:
    """Timeouts and retry policy of one client."""

    connect_timeout: float = 10.0
    read_timeout: float = 60.0
    attempts: int = 5
    backoff_initial: float = 0.5
    backoff_max: float = 30.0
    retry_after_max: float = 120.0
    host_failures: int = 10
    """Connection failures in a row after which a host is given up on (0: never)."""


_ERRNO_TEXT = re.compile(r"\[Errno -?\d+\] ([^'\")\]]+)")


def _chain(exc: BaseException) -> Iterator[BaseException]:
    """``exc`` and every exception it wraps (causes, contexts, ``reason``, exception args)."""
    seen: set[int] = set()
    todo = [exc]
    while todo:
        item = todo.pop(0)
        if id(item) in seen:
            continue
        seen.add(id(item))
        yield item
        linked = [item.__cause__, item.__context__, getattr(item, "reason", None), *item.args]
        todo.extend(x for x in linked if isinstance(x, BaseException))


def connection_reason(exc: BaseException) -> str:
    """A failed connection in a few plain words: ``connection refused``, ``connection timed
    out``, ``cannot resolve host name``... (never the wrapped libraries' reprs)."""
    chain = list(_chain(exc))
    checks: tuple[tuple[type[BaseException], str], ...] = (
        (requests.exceptions.ConnectTimeout, "connection timed out"),
        (requests.exceptions.ReadTimeout, "no answer in time (read timed out)"),
        (socket.gaierror, "cannot resolve host name"),
        (ConnectionRefusedError, "connection refused"),
        (ConnectionResetError, "connection reset by the server"),
        (requests.exceptions.SSLError, "TLS handshake failed"),
        (requests.exceptions.ChunkedEncodingError, "connection broken while reading the answer"),
        (requests.exceptions.ContentDecodingError, "answer could not be decoded"),
        (TimeoutError, "connection timed out"),
    )
    for kind, text in checks:
        if any(isinstance(item, kind) for item in chain):
            return text
    if any("NameResolution" in type(item).__name__ for item in chain):
        return "cannot resolve host name"
    for item in chain:
        if isinstance(item, OSError) and item.strerror:
            return str(item.strerror).lower()
    found = _ERRNO_TEXT.search(str(exc))
    if found:
        return found.group(1).strip().lower()
    if "RemoteDisconnected" in str(exc) or "closed connection" in str(exc).lower():
        return "the server closed the connection without an answer"
    return f"connection failed ({type(exc).__name__})"


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds to wait from a ``Retry-After`` header (delta-seconds or HTTP-date), if valid."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def make_session(user_agent: str = USER_AGENT) -> requests.Session:
    """A session with seckb's User-Agent and no hidden retries (tenacity does them, visibly)."""
    session = requests.Session()
    session.headers["User-Agent"] = user_agent
    adapter = requests.adapters.HTTPAdapter(pool_connections=16, pool_maxsize=32, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


def backoff(http: HttpSettings) -> Callable[[RetryCallState], float]:
    """Tenacity's wait: what ``Retry-After`` asked (capped), else exponential backoff with
    jitter, ``initial * 2^(n-1) + U(0, initial)``, capped."""

    def wait(state: RetryCallState) -> float:
        exc = state.outcome.exception() if state.outcome else None
        if isinstance(exc, Retryable) and exc.retry_after is not None:
            return min(exc.retry_after, http.retry_after_max)
        attempt = max(1, int(state.attempt_number))
        initial = http.backoff_initial
        delay = float(initial * 2 ** (attempt - 1) + random.uniform(0, initial))
        return min(delay, http.backoff_max)

    return wait


def with_retries(http: HttpSettings, once: Callable[[], T], sleep: Callable[[float], None]) -> T:
    """Call ``once`` until it does not raise :class:`Retryable`, at most ``http.attempts``
    times, waiting by :func:`backoff` between attempts; the last :class:`Retryable` propagates."""
    retrying = Retrying(
        stop=stop_after_attempt(http.attempts),
        wait=backoff(http),
        retry=retry_if_exception_type(Retryable),
        sleep=sleep,
        reraise=True,
    )
    for attempt in retrying:
        with attempt:
            return once()
    raise AssertionError("unreachable")  # pragma: no cover


class HttpClient:
    """GET with timeouts, retries and conditional requests over one shared session."""

    def __init__(
        self,
        session: requests.Session | None = None,
        settings: HttpSettings | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """Use ``session`` (or a new one) with ``settings``; ``sleep`` is injectable for tests."""
        self.session = session or make_session()
        self.settings = settings or HttpSettings()
        self._sleep = sleep
        self.requests_sent = 0
        self._lock = threading.Lock()
        self._failures: dict[str, int] = {}
        self._down: dict[str, str] = {}

    @property
    def hosts_down(self) -> dict[str, str]:
        """Hosts given up on during this run, with the reason."""
        with self._lock:
            return dict(self._down)

    def _connection_failed(self, host: str, reason: str) -> None:
        """Count a connection failure to ``host``; give the host up after too many in a row."""
        limit = self.settings.host_failures
        with self._lock:
            self._failures[host] = count = self._failures.get(host, 0) + 1
            newly_down = limit > 0 and count >= limit and host not in self._down
            if newly_down:
                self._down[host] = reason
        if newly_down:
            log.warning(
                "%s looks down (%d connection failures in a row: %s); not asking it again "
                "during this run",
                host,
                count,
                reason,
            )

    def _check_host(self, url: str, host: str) -> None:
        with self._lock:
            reason = self._down.get(host)
            failures = self._failures.get(host, 0)
        if reason is not None:
            raise HostDown(
                url,
                f"{host} is down: {reason} ({failures} connection failures in a row; "
                "not asked again during this run)",
            )

    def get(
        self,
        url: str,
        *,
        etag: str | None = None,
        stream: bool = False,
        headers: Mapping[str, str] | None = None,
        ok: frozenset[int] = frozenset({200, 304, 404}),
    ) -> requests.Response:
        """GET ``url``; return the response when its status is in ``ok``, else raise HttpError.

        Retries connection errors, timeouts, 429 and 5xx with exponential backoff and jitter,
        waiting what ``Retry-After`` asks (capped). With ``etag``, sends ``If-None-Match`` so an
        unchanged resource costs a 304.
        """
        request_headers = dict(headers or {})
        if etag:
            request_headers["If-None-Match"] = etag
        try:
            return with_retries(
                self.settings, lambda: self._once(url, request_headers, stream, ok), self._sleep
            )
        except Retryable as exc:
            raise HttpError(
                url, f"{exc} (gave up after {self.settings.attempts} attempts)"
            ) from exc

    def _once(
        self, url: str, headers: dict[str, str], stream: bool, ok: frozenset[int]
    ) -> requests.Response:
        host = urlsplit(url).netloc
        self._check_host(url, host)
        with self._lock:
            self.requests_sent += 1
        try:
            response = self.session.get(
                url,
                headers=headers,
                stream=stream,
                timeout=(self.settings.connect_timeout, self.settings.read_timeout),
            )
        except (
            requests.ConnectionError,
            requests.Timeout,
            requests.exceptions.ChunkedEncodingError,
            requests.exceptions.ContentDecodingError,
        ) as exc:
            reason = connection_reason(exc)
            self._connection_failed(host, reason)
            log.info("GET %s failed: %s; retrying", url, reason)
            raise Retryable(reason) from exc
        with self._lock:
            self._failures[host] = 0
        if response.status_code in RETRY_STATUSES:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            response.close()
            log.info("GET %s answered %d; retrying", url, response.status_code)
            raise Retryable(f"HTTP {response.status_code}", retry_after)
        if response.status_code not in ok:
            response.close()
            raise HttpError(url, f"HTTP {response.status_code}", response.status_code)
        return response

    def get_json(self, url: str, *, etag: str | None = None) -> tuple[int, Any, str | None]:
        """GET a JSON document: ``(status, document or None, ETag)``; 304/404 carry no document.

        A body that is not JSON, or a truncated one, is an :class:`HttpError`.
        """
        response = self.get(url, etag=etag)
        if response.status_code != 200:
            return response.status_code, None, etag if response.status_code == 304 else None
        try:
            document = response.json()
        except (ValueError, requests.exceptions.ChunkedEncodingError) as exc:
            raise HttpError(url, f"malformed JSON: {first_line(exc)}", 200) from exc
        return 200, document, response.headers.get("ETag")


def http_settings(settings: Settings) -> HttpSettings:
    """Timeouts and retry policy from seckb's settings (every HTTP client uses these)."""
    timeout = settings.http_timeout_seconds
    return HttpSettings(
        connect_timeout=min(10.0, timeout / 3),
        read_timeout=timeout,
        attempts=settings.http_attempts,
        backoff_initial=min(0.5, settings.http_backoff_max_seconds),
        backoff_max=settings.http_backoff_max_seconds,
        retry_after_max=4 * settings.http_backoff_max_seconds,
        host_failures=settings.http_host_failures,
    )


def client_for(settings: Settings, session: requests.Session | None = None) -> HttpClient:
    """The HTTP client every source uses, configured from ``settings``."""
    return HttpClient(session, http_settings(settings))


class HttpSource:
    """Base of the sources that speak HTTP: settings, data root and one shared client."""

    def __init__(
        self, settings: Settings, workspace: Workspace, client: HttpClient | None = None
    ) -> None:
        """Bind the source to its settings and data root; ``client`` defaults to one built
        from the settings (tests pass their own)."""
        self.settings = settings
        self.workspace = workspace
        self.client = client or client_for(settings)

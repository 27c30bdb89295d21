"""Deliver the outbox: each ``seckb.events/1`` document to every webhook, in order, once.

A webhook receives the document as the body of a POST (``Content-Type: application/json``),
with ``X-Seckb-Delivery`` (the document's id: the same on every retry), ``X-Seckb-Schema`` and,
when ``notify_secret`` is set, ``X-Seckb-Signature-256: sha256=<hex>`` — the HMAC-SHA256 of the
exact body bytes keyed with the secret. Any 2xx answer acknowledges the document. Connection
errors, timeouts, 408, 429 (``Retry-After`` honoured) and 5xx are retried with the HTTP layer's
policy (attempts, exponential backoff with jitter, capped waits: :mod:`aggregators.core.http`);
whatever still fails stays in the outbox for the next run, and the later documents wait behind
it so that a receiver always gets them in order.

Apprise URLs (Slack, Teams, e-mail...: needs the optional ``apprise`` package, ``seckb[notify]``)
get a short human summary of each document, with the same ordering and acknowledgement rules.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import requests

from aggregators.clients.projects.documents import EVENTS_SCHEMA, summary_text
from aggregators.core.config import Settings
from aggregators.core.errors import LockError, first_line
from aggregators.core.http import (
    RETRY_STATUSES,
    Retryable,
    http_settings,
    make_session,
    parse_retry_after,
    with_retries,
)
from aggregators.store.outbox import Outbox, Pending

log = logging.getLogger(__name__)
SIGNATURE_HEADER = "X-Seckb-Signature-256"
DELIVERY_HEADER = "X-Seckb-Delivery"
SCHEMA_HEADER = "X-Seckb-Schema"


def sign(secret: str, body: bytes) -> str:
    """The signature header's value: ``sha256=`` and the hex HMAC-SHA256 of ``body``."""
    return "sha256=" + hmac.new(secret.encode("utf-8"), body, hashlib.sha256).hexdigest()


def redact(url: str) -> str:
    """A URL safe to print: scheme, host and port only (paths and queries often hold tokens)."""
    parts = urlsplit(url)
    host = parts.hostname or "?"
    return f"{parts.scheme}://{host}{f':{parts.port}' if parts.port else ''}/…"


@dataclass(frozen=True)
class Receiver:
    """A webhook or an Apprise URL, with the key its outbox cursor is stored under."""

    kind: str
    url: str

    @property
    def key(self) -> str:
        """A stable key that does not reveal the URL."""
        return f"{self.kind}:{hashlib.sha256(self.url.encode('utf-8')).hexdigest()[:24]}"

    @property
    def label(self) -> str:
        """How the receiver is named in messages."""
        return f"{self.kind} {redact(self.url)}"


def receivers(settings: Settings) -> list[Receiver]:
    """The configured receivers: webhooks first, then Apprise URLs."""
    return [Receiver("webhook", u) for u in settings.notify_webhooks] + [
        Receiver("apprise", u) for u in settings.notify_apprise_urls
    ]


class DeliveryError(Exception):
    """A document could not be delivered to a receiver (kept in the outbox)."""


@dataclass
class DeliveryReport:
    """What one delivery pass did."""

    delivered: list[tuple[str, str]] = field(default_factory=list)
    """(receiver label, document id) acknowledged."""
    failed: dict[str, str] = field(default_factory=dict)
    """Receiver label -> why its next document could not be delivered."""
    pending: int = 0
    """Documents left in the outbox."""
    skipped: bool = False
    """Another process was delivering: this pass did nothing."""


class Sender:
    """Sends one document to one receiver, with retries."""

    def __init__(
        self,
        settings: Settings,
        session: requests.Session | None = None,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        """Use the HTTP settings of ``settings`` (timeouts, attempts, backoff)."""
        self.http = http_settings(settings)
        self.secret = settings.notify_secret
        self.session = session or make_session()
        self._sleep = sleep

    def send(self, receiver: Receiver, item: Pending) -> None:
        """Deliver ``item`` to ``receiver``; raise :class:`DeliveryError` when it failed for
        good (after the retries)."""
        body = item.body()
        once = self._post if receiver.kind == "webhook" else self._apprise
        try:
            with_retries(self.http, lambda: once(receiver.url, item.id, body), self._sleep)
        except Retryable as exc:
            raise DeliveryError(f"{exc} (gave up after {self.http.attempts} attempts)") from exc

    def _post(self, url: str, document_id: str, body: bytes) -> None:
        headers = {
            "Content-Type": "application/json",
            DELIVERY_HEADER: document_id,
            SCHEMA_HEADER: EVENTS_SCHEMA,
        }
        if self.secret:
            headers[SIGNATURE_HEADER] = sign(self.secret, body)
        try:
            response = self.session.post(
                url,
                data=body,
                headers=headers,
                timeout=(self.http.connect_timeout, self.http.read_timeout),
                allow_redirects=False,
            )
        except (requests.ConnectionError, requests.Timeout) as exc:
            raise Retryable(f"{type(exc).__name__}: {first_line(exc)}") from exc
        response.close()
        if 200 <= response.status_code < 300:
            return
        if response.status_code in RETRY_STATUSES or response.status_code == 408:
            retry_after = parse_retry_after(response.headers.get("Retry-After"))
            raise Retryable(f"HTTP {response.status_code}", retry_after)
        raise DeliveryError(f"HTTP {response.status_code}: not acknowledged")

    def _apprise(self, url: str, document_id: str, body: bytes) -> None:
        try:
            import apprise  # type: ignore[import-not-found,unused-ignore]
        except ImportError as exc:
            raise DeliveryError(
                "Apprise is not installed: pip install 'seckb[notify]' (kept in the outbox)"
            ) from exc
        title, text = summary_text(json.loads(body))
        notifier = apprise.Apprise()
        if not notifier.add(url):
            raise DeliveryError("Apprise does not understand this URL")
        if not notifier.notify(title=title, body=text):
            raise Retryable(f"Apprise could not notify (document {document_id})")


def deliver(outbox: Outbox, settings: Settings, sender: Sender | None = None) -> DeliveryReport:
    """Send every due document to every receiver, oldest first; a receiver that fails keeps
    its documents (and those after) for the next pass. Documents acknowledged by every receiver
    are deleted. Only one process delivers at a time: a second pass returns at once."""
    report = DeliveryReport()
    targets = receivers(settings)
    lock = outbox.lock()
    try:
        lock.acquire()
    except LockError:  # another process is delivering this outbox
        report.skipped = True
        report.pending = len(outbox.pending())
        return report
    try:
        sender = sender or Sender(settings)
        for receiver in targets:
            for item in outbox.due(receiver.key):
                try:
                    sender.send(receiver, item)
                except DeliveryError as exc:
                    report.failed[receiver.label] = f"{item.id}: {exc}"
                    log.warning("%s: %s not delivered: %s", receiver.label, item.id, exc)
                    break
                outbox.acknowledge(receiver.key, item.id)
                report.delivered.append((receiver.label, item.id))
        outbox.drop_delivered(r.key for r in targets)
        report.pending = len(outbox.pending())
    finally:
        lock.release()
    return report

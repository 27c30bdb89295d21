"""Prometheus metrics at ``/metrics``, in the text exposition format (0.0.4), written here.

Every response also carries a ``Server-Timing: app;dur=MS`` header: the time the server took
until the response started (the body is built by then), so clients can tell server time from
network time.

Per route (the path template, so ids and names do not explode the label set): requests by
method and status, and a latency histogram; requests in flight; and the snapshot being served
(its id, age, loads and failed loads, memoized verdicts).
"""

from __future__ import annotations

import threading
import time
from bisect import bisect_left
from collections import defaultdict
from collections.abc import Iterable
from datetime import datetime

from starlette.types import ASGIApp, Message, Receive, Scope, Send

BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"


def _label(value: str) -> str:
    return value.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


def _labels(**labels: str) -> str:
    return "{" + ",".join(f'{k}="{_label(v)}"' for k, v in labels.items()) + "}"


class Metrics:
    """Counters and histograms of the requests served (thread-safe)."""

    def __init__(self) -> None:
        """Start at zero."""
        self._lock = threading.Lock()
        self.requests: dict[tuple[str, str, str], int] = defaultdict(int)
        self.buckets: dict[str, list[int]] = defaultdict(lambda: [0] * (len(BUCKETS) + 1))
        self.sums: dict[str, float] = defaultdict(float)
        self.in_flight = 0

    def started(self) -> None:
        """A request began."""
        with self._lock:
            self.in_flight += 1

    def finished(self, method: str, route: str, status: int, seconds: float) -> None:
        """A request ended with ``status`` after ``seconds``."""
        with self._lock:
            self.in_flight -= 1
            self.requests[(method, route, str(status))] += 1
            self.buckets[route][bisect_left(BUCKETS, seconds)] += 1
            self.sums[route] += seconds

    def render(self, snapshot: dict[str, float | str | None], now: datetime) -> str:
        """The exposition text: request metrics, then the snapshot's (``snapshot`` holds
        ``id``, ``created_at``, ``loads``, ``failures``, ``cached``)."""
        with self._lock:
            lines = list(self._request_lines())
        lines.extend(_snapshot_lines(snapshot, now))
        return "\n".join(lines) + "\n"

    def _request_lines(self) -> Iterable[str]:
        yield "# HELP seckb_http_requests_total HTTP requests answered, by route and status."
        yield "# TYPE seckb_http_requests_total counter"
        for (method, route, status), count in sorted(self.requests.items()):
            labels = _labels(method=method, route=route, status=status)
            yield f"seckb_http_requests_total{labels} {count}"
        yield "# HELP seckb_http_request_duration_seconds Time to answer, by route."
        yield "# TYPE seckb_http_request_duration_seconds histogram"
        name = "seckb_http_request_duration_seconds"
        for route, counts in sorted(self.buckets.items()):
            total = 0
            for bound, count in zip((*BUCKETS, float("inf")), counts, strict=True):
                total += count
                le = "+Inf" if bound == float("inf") else f"{bound:g}"
                yield f"{name}_bucket{_labels(route=route, le=le)} {total}"
            yield f"{name}_sum{_labels(route=route)} {self.sums[route]:.6f}"
            yield f"{name}_count{_labels(route=route)} {total}"
        yield "# HELP seckb_http_requests_in_flight Requests being answered."
        yield "# TYPE seckb_http_requests_in_flight gauge"
        yield f"seckb_http_requests_in_flight {self.in_flight}"


def _snapshot_lines(snapshot: dict[str, float | str | None], now: datetime) -> Iterable[str]:
    yield "# HELP seckb_snapshot_info The snapshot being served (1), by id."
    yield "# TYPE seckb_snapshot_info gauge"
    if snapshot.get("id"):
        yield f"seckb_snapshot_info{_labels(snapshot_id=str(snapshot['id']))} 1"
    created = snapshot.get("created_at")
    if isinstance(created, str):
        age = (now - datetime.fromisoformat(created)).total_seconds()
        yield "# HELP seckb_snapshot_age_seconds Age of the snapshot being served."
        yield "# TYPE seckb_snapshot_age_seconds gauge"
        yield f"seckb_snapshot_age_seconds {age:.0f}"
    for metric, key, kind, text in _SNAPSHOT_NUMBERS:
        yield f"# HELP {metric} {text}"
        yield f"# TYPE {metric} {kind}"
        yield f"{metric} {snapshot.get(key) or 0}"


_SNAPSHOT_NUMBERS = (
    ("seckb_snapshot_loads_total", "loads", "counter", "Snapshots loaded and swapped in."),
    (
        "seckb_snapshot_load_failures_total",
        "failures",
        "counter",
        "Snapshots that failed to load or verify (never served).",
    ),
    ("seckb_cached_verdicts", "cached", "gauge", "Memoized (package, version) verdicts."),
)


class MetricsMiddleware:
    """ASGI middleware counting every HTTP request in :class:`Metrics`."""

    def __init__(self, app: ASGIApp, metrics: Metrics) -> None:
        """Wrap ``app``."""
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Time the request and record its status under its route template."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = int(message["status"])
                took = (time.perf_counter() - started) * 1000
                headers = [*message.get("headers", ()), (b"server-timing", b"app;dur=%.3f" % took)]
                message = {**message, "headers": headers}
            await send(message)

        self.metrics.started()
        try:
            await self.app(scope, receive, sending)
        finally:
            route = getattr(scope.get("route"), "path", None) or "unmatched"
            self.metrics.finished(
                str(scope["method"]), route, status, time.perf_counter() - started
            )

"""The HTTP layer against a loopback server: retries, Retry-After, ETags, errors."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from fakes import Reply, json_reply, serving

from aggregators.core.http import USER_AGENT, HttpClient, HttpError, HttpSettings, parse_retry_after

FAST = HttpSettings(
    connect_timeout=2,
    read_timeout=5,
    attempts=4,
    backoff_initial=0.001,
    backoff_max=0.01,
    retry_after_max=10,
)


def client() -> tuple[HttpClient, list[float]]:
    waits: list[float] = []
    return HttpClient(settings=FAST, sleep=waits.append), waits


def test_parse_retry_after() -> None:
    now = datetime(2026, 1, 1, tzinfo=UTC)
    assert parse_retry_after("7") == 7.0
    assert parse_retry_after("Thu, 01 Jan 2026 00:00:30 GMT", now) == 30.0
    assert parse_retry_after("Wed, 31 Dec 2025 00:00:00 GMT", now) == 0.0
    assert parse_retry_after("soon") is None
    assert parse_retry_after(None) is None


def test_429_then_success_honours_retry_after() -> None:
    http, waits = client()
    with serving() as server:
        server.routes["/p"] = [Reply(429, headers={"Retry-After": "3"}), json_reply({"ok": 1})]
        status, doc, _ = http.get_json(server.url + "/p")
    assert (status, doc) == (200, {"ok": 1})
    assert waits == [3.0]
    assert server.log[0][1]["user-agent"] == USER_AGENT


def test_repeated_500_gives_up_with_a_clear_error() -> None:
    http, waits = client()
    with serving() as server:
        server.routes["/p"] = Reply(500)
        with pytest.raises(HttpError, match=r"HTTP 500 \(gave up after 4 attempts\)"):
            http.get(server.url + "/p")
    assert server.requests_to("/p") == 4
    assert len(waits) == 3 and all(w <= 0.01 for w in waits)


def test_connection_reset_is_retried() -> None:
    http, _ = client()
    with serving() as server:
        server.routes["/p"] = [Reply(action="reset"), json_reply([1])]
        assert http.get_json(server.url + "/p")[1] == [1]
        assert server.requests_to("/p") == 2


def test_unreachable_host_is_an_error() -> None:
    http, _ = client()
    with serving() as server:
        url = server.url
    with pytest.raises(HttpError, match="ConnectionError"):
        http.get(url + "/gone")


def test_conditional_request_and_statuses() -> None:
    http, _ = client()
    with serving() as server:
        server.routes["/p"] = lambda h: (
            Reply(304) if h.get("if-none-match") == '"v1"' else json_reply({"v": 1}, ETag='"v1"')
        )
        status, doc, etag = http.get_json(server.url + "/p")
        assert (status, doc, etag) == (200, {"v": 1}, '"v1"')
        assert http.get_json(server.url + "/p", etag=etag) == (304, None, '"v1"')
        assert http.get_json(server.url + "/missing")[0] == 404
        server.routes["/bad"] = Reply(200, b"{not json")
        with pytest.raises(HttpError, match="malformed JSON"):
            http.get_json(server.url + "/bad")
        server.routes["/teapot"] = Reply(418)
        with pytest.raises(HttpError, match="HTTP 418") as info:
            http.get(server.url + "/teapot")
        assert info.value.status == 418

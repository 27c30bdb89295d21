"""The HTTP layer against a loopback server: retries, Retry-After, ETags, errors."""

from __future__ import annotations

import dataclasses
import logging
import socket
from datetime import UTC, datetime

import pytest
import requests
from fakes import Reply, json_reply, serving

from aggregators.core.http import (
    USER_AGENT,
    HttpClient,
    HttpError,
    HttpSettings,
    connection_reason,
    parse_retry_after,
)

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


def test_unreachable_host_is_an_error_in_plain_words() -> None:
    http, _ = client()
    with serving() as server:
        url = server.url
    with pytest.raises(HttpError) as caught:
        http.get(url + "/gone")
    assert str(caught.value) == f"{url}/gone: connection refused (gave up after 4 attempts)"


@pytest.mark.parametrize(
    ("error", "reason"),
    [
        (
            requests.ConnectionError(
                "HTTPConnectionPool(host='127.0.0.1', port=9): Max retries exceeded with url: "
                "/projects/github.com/a/b (Caused by NewConnectionError('<urllib3.connection."
                "HTTPConnection object at 0x7f3b2c1d0e50>: Failed to establish a new connection: "
                "[Errno 111] Connection refused'))"
            ),
            "connection refused",
        ),
        (requests.ConnectTimeout("HTTPSConnectionPool(host='x', port=443): ..."), "timed out"),
        (requests.ReadTimeout("HTTPSConnectionPool(host='x', port=443): Read timed out."), "time"),
        (requests.ConnectionError(socket.gaierror(-2, "Name or service not known")), "resolve"),
    ],
)
def test_connection_errors_have_one_clean_reason(error: Exception, reason: str) -> None:
    """Never urllib3's text cut in the middle: one reason in a few words."""
    text = connection_reason(error)
    assert reason in text
    assert "Pool" not in text and "object at" not in text and len(text) < 60


def test_a_dead_host_is_given_up_on_after_consecutive_failures(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A run against a dead service asks it a few times, logs one warning, and then fails every
    request at once: no hundreds of retry lines, no minutes of backoff."""
    waits: list[float] = []
    http = HttpClient(settings=dataclasses.replace(FAST, host_failures=6), sleep=waits.append)
    with serving() as server:
        url = server.url
    caplog.set_level(logging.INFO, logger="aggregators.core.http")
    errors = []
    for i in range(100):
        with pytest.raises(HttpError) as caught:
            http.get(f"{url}/projects/{i}")
        errors.append(str(caught.value))
    assert http.requests_sent == 6  # then the circuit is open: nothing more is sent
    assert len(waits) <= 6
    assert "looks down" in caplog.text and caplog.text.count("looks down") == 1
    retry_lines = [r for r in caplog.records if "retrying" in r.getMessage()]
    assert len(retry_lines) == 6
    host = url.split("//")[1]
    assert errors[-1] == (
        f"{url}/projects/99: {host} is down: connection refused (6 connection failures in a "
        "row; not asked again during this run)"
    )
    assert http.hosts_down == {host: "connection refused"}


def test_an_answer_resets_the_failure_count() -> None:
    http = HttpClient(settings=dataclasses.replace(FAST, attempts=1, host_failures=2))
    with serving() as server:
        server.routes["/p"] = [Reply(action="reset"), json_reply([1]), Reply(action="reset")]
        with pytest.raises(HttpError):
            http.get(server.url + "/p")
        assert http.get_json(server.url + "/p")[1] == [1]
        with pytest.raises(HttpError, match="reset"):
            http.get(server.url + "/p")
        assert http.hosts_down == {}  # two failures, but not in a row


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

"""Bad input: each gets a clear 4xx JSON error with a message, and the server keeps serving.

Malformed JSON, wrong content type, a body over the cap (declared or streamed), 1,001 queries,
an unknown ecosystem, a non-PEP 440 version, a purl of another type, an unknown id, paths with
traversal characters, malformed HTTP, slow clients (headers and body: slowloris-style) — and a
good query answered right after each.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from kb_snapshots import build_home
from server.support import error_of, json_error, raw, serving_home

from aggregators.clients.server.limits import Limits

LIMITS = Limits(body_timeout_seconds=1.0, header_timeout_seconds=1.0)
GOOD = {"package": {"name": "flask", "ecosystem": "PyPI"}, "version": "0.12.2"}


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home, _ids = build_home(tmp_path_factory.mktemp("kb"))
    with serving_home(home, limits=LIMITS) as base:
        yield base


def still_serving(url: str) -> None:
    answer = requests.post(f"{url}/v1/query", data=json.dumps(GOOD), timeout=10)
    assert answer.status_code == 200
    assert [v["id"] for v in answer.json()["vulns"]] == ["PYSEC-1"]


def post(url: str, path: str, body: Any, **kwargs: Any) -> requests.Response:
    data = body if isinstance(body, (bytes, str, Iterator)) else json.dumps(body)
    return requests.post(f"{url}{path}", data=data, timeout=10, **kwargs)


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        (b'{"package": {"name": "flask"', 400, "malformed JSON body"),
        (b"", 400, "empty"),
        (b"\xff\xfe{}", 400, "not UTF-8"),
        (b"[1, 2]", 400, "must be a JSON object"),
        ({"package": {"name": "left-pad", "ecosystem": "npm"}, "version": "1.0"}, 400, "'npm'"),
        ({"package": {"name": "flask", "ecosystem": "pypi"}, "version": "1.0"}, 400, "only 'PyPI'"),
        ({"package": {"name": "flask"}, "version": "1.0"}, 400, "ecosystem is required"),
        ({"package": {"name": "flask", "ecosystem": "PyPI"}}, 400, "a version is required"),
        ({"package": {"name": "flask", "ecosystem": "PyPI"}, "version": "latest"}, 400, "PEP 440"),
        ({"package": {"name": "flask", "ecosystem": "PyPI"}, "version": 12}, 400, "string"),
        ({"package": {"purl": "pkg:npm/left-pad@1.0"}}, 400, "purl type 'npm'"),
        ({"package": {"purl": "not a purl"}, "version": "1"}, 400, "not a valid package URL"),
        ({"package": {"purl": "pkg:pypi/flask@1.0"}, "version": "1.0"}, 400, "both"),
        (
            {"package": {"name": "../../etc/passwd", "ecosystem": "PyPI"}, "version": "1"},
            400,
            "name",
        ),
        ({"commit": "6879efc2c1596d11a6a6ad296f80063b558d5e0f"}, 400, "commit queries"),
        ({"package": "flask", "version": "1.0"}, 400, "must be an object"),
    ],
)
def test_bad_queries(url: str, body: Any, status: int, words: str) -> None:
    assert words in error_of(post(url, "/v1/query", body), status)
    still_serving(url)


def test_wrong_content_type(url: str) -> None:
    for kind in ("text/xml", "multipart/form-data; boundary=x", "application/octet-stream"):
        answer = post(url, "/v1/query", GOOD, headers={"Content-Type": kind})
        assert "not accepted" in error_of(answer, 415)
    answer = post(url, "/v1/audit", b"flask==1.0\n", headers={"Content-Type": "image/png"})
    assert "not accepted" in error_of(answer, 415)
    # what clients really send is accepted: JSON, none (pip-audit), curl -d's form type
    for kind in ("application/json", "application/json; charset=utf-8", None):
        headers = {"Content-Type": kind} if kind else {}
        assert post(url, "/v1/query", GOOD, headers=headers).status_code == 200
    still_serving(url)


def test_body_over_the_cap(url: str) -> None:
    big = b'{"queries": [' + b" " * LIMITS.max_body_bytes + b"]}"
    assert "larger than" in error_of(post(url, "/v1/querybatch", big), 413)

    def streamed() -> Iterator[bytes]:  # no Content-Length: chunked, counted as it arrives
        for _ in range(LIMITS.max_body_bytes // 65536 + 2):
            yield b" " * 65536

    assert "larger than" in error_of(post(url, "/v1/querybatch", streamed()), 413)
    still_serving(url)


def test_too_many_queries(url: str) -> None:
    answer = post(url, "/v1/querybatch", {"queries": [GOOD] * 1001})
    assert "Too many queries" in error_of(answer, 400)
    assert post(url, "/v1/querybatch", {"queries": [GOOD] * 1000}).status_code == 200
    for body in ({"queries": "flask"}, {"query": []}, [GOOD]):
        assert "'queries' list" in error_of(post(url, "/v1/querybatch", body), 400)
    bad = {"queries": [GOOD, {"package": {"name": "x", "ecosystem": "Go"}, "version": "1"}]}
    assert error_of(post(url, "/v1/querybatch", bad), 400).startswith("queries[1]: ")
    still_serving(url)


def test_unknown_ids_and_names(url: str) -> None:
    answer = requests.get(f"{url}/v1/vulns/PYSEC-9999-99999", timeout=10)
    assert error_of(answer, 404) == "Bug not found."
    answer = requests.get(f"{url}/v1/vulns/a%20b%3Cscript%3E", timeout=10)
    assert "not a vulnerability id" in error_of(answer, 400)
    assert "no advisory names" in error_of(
        requests.get(f"{url}/v1/packages/nothing", timeout=10), 404
    )
    answer = requests.get(f"{url}/v1/packages/flask/versions/not-a-version", timeout=10)
    assert "PEP 440" in error_of(answer, 400)
    assert "no such endpoint" in error_of(requests.get(f"{url}/v2/nothing", timeout=10), 404)
    assert "not allowed" in error_of(requests.get(f"{url}/v1/query", timeout=10), 405)
    still_serving(url)


@pytest.mark.parametrize(
    "path",
    [
        b"/v1/vulns/../../etc/passwd",
        b"/v1/vulns/..%2F..%2Fetc%2Fpasswd",
        b"/v1/packages/%2e%2e/versions/1.0",
        b"/packages/..%5c..%5cwin.ini",
        b"/v1/vulns/PYSEC-1%00.json",
        b"/v1/packages/./flask",
    ],
)
def test_path_traversal(url: str, path: bytes) -> None:
    response = raw(url, b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert "traversal" in json_error(response, 400)
    still_serving(url)


def test_malformed_http(url: str) -> None:
    response = raw(url, b"NOT HTTP AT ALL\r\n\r\n")
    assert "malformed HTTP" in json_error(response, 400)
    still_serving(url)


def test_slow_headers_are_cut_off_while_others_are_served(url: str) -> None:
    """A slowloris client sends its headers a byte at a time: the server answers everyone else
    meanwhile and closes the slow connection with a 408 after the header deadline."""
    host, port = url.removeprefix("http://").split(":")
    slow = socket.create_connection((host, int(port)), timeout=10)
    answered: list[bytes] = []

    def trickle() -> None:
        try:
            for byte in b"POST /v1/query HTTP/1.1\r\nHost: x\r\nX-Slow: ":
                slow.sendall(bytes([byte]))
                time.sleep(0.05)
            while True:
                slow.sendall(b"a")
                time.sleep(0.2)
        except OSError:
            pass  # the server closed the connection

    writer = threading.Thread(target=trickle, daemon=True)
    writer.start()
    started = time.monotonic()
    served = 0
    while time.monotonic() - started < LIMITS.header_timeout_seconds:
        still_serving(url)
        served += 1
    chunks = []
    while chunk := slow.recv(65536):
        chunks.append(chunk)
        answered.append(chunk)
    slow.close()
    writer.join(timeout=5)
    assert served >= 5
    assert "headers not received" in json_error(b"".join(chunks), 408)


def test_slow_body_gets_a_timeout(url: str) -> None:
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=10) as slow:
        slow.sendall(
            b"POST /v1/query HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b'Content-Length: 200\r\n\r\n{"package":'
        )
        still_serving(url)  # others are served while this body does not arrive
        chunks = []
        while chunk := slow.recv(65536):
            chunks.append(chunk)
    assert "body not received" in json_error(b"".join(chunks), 408)
    still_serving(url)


def test_nothing_is_written(tmp_path_factory: pytest.TempPathFactory) -> None:
    """Every endpoint, good and bad requests: the data root is byte for byte what it was."""
    home, _ids = build_home(tmp_path_factory.mktemp("ro"))

    def tree() -> dict[str, tuple[int, int]]:
        return {
            str(p.relative_to(home)): (p.stat().st_size, p.stat().st_mtime_ns)
            for p in sorted(Path(home).rglob("*"))
        }

    before = tree()
    with serving_home(home) as base:
        still_serving(base)
        post(base, "/v1/querybatch", {"queries": [GOOD] * 10})
        post(base, "/v1/audit", b"flask==0.12.2\nrequests==2.0\n")
        post(base, "/v1/audit", b"-r /etc/passwd\n")
        for path in (
            "/healthz",
            "/metrics",
            "/v1/packages/flask",
            "/packages/flask",
            "/v1/packages/flask/versions/1.0",
            "/v1/vulns/PYSEC-1",
            "/openapi.json",
        ):
            assert requests.get(f"{base}{path}", timeout=10).status_code == 200, path
    assert tree() == before

"""The index over HTTP: what each page says, how upstream pages are cached and revalidated, and
bad input from both sides — hostile project names from clients, and upstreams that are down,
answer garbage, too much, in a loop or never. Each case gets a clear answer (never a page that
lost its blocking), nothing erroneous is cached, and the server keeps serving.

The real index server is pypiserver (HTML only, relative file URLs); misbehaving upstreams are
scripted loopback servers (:class:`fakes.FakeServer`), since a real index does not misbehave on
demand.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from fakes import FakeServer, Reply, serving
from index.support import IndexHome, index_settings, serving_index
from server.support import error_of, json_error, raw

from aggregators.clients.simple.pages import JSON_V1

JSON_ACCEPT = {"Accept": JSON_V1}


@pytest.fixture(scope="module")
def url(index_home: IndexHome, upstream: str) -> Iterator[str]:
    with serving_index(index_settings(index_home.home, upstream)) as base:
        yield base


def still_serving(url: str) -> None:
    answer = requests.get(f"{url}/strict/simple/vulnlib/", headers=JSON_ACCEPT, timeout=10)
    assert answer.status_code == 200
    assert [f["filename"] for f in answer.json()["files"]] == ["vulnlib-1.2-py3-none-any.whl"]


def json_page(name: str, files: list[dict[str, Any]], **extra: Any) -> Reply:
    document = {"meta": {"api-version": "1.1"}, "name": name, "files": files, **extra}
    return Reply(
        200, json.dumps(document).encode(), {"Content-Type": JSON_V1, **extra.pop("headers", {})}
    )


def a_file(name: str, version: str, url: str | None = None, **extra: Any) -> dict[str, Any]:
    filename = f"{name}-{version}-py3-none-any.whl"
    return {
        "filename": filename,
        "url": url or f"https://files.example/{filename}",
        "hashes": {"sha256": "ab" * 32},
        "size": 100,
        **extra,
    }


def test_every_page_says_what_decided_it(url: str, upstream: str) -> None:
    answer = requests.get(f"{url}/simple/vulnlib/", headers=JSON_ACCEPT, timeout=10)
    assert answer.status_code == 200 and answer.headers["content-type"] == JSON_V1
    headers = answer.headers
    assert headers["X-Seckb-Snapshot"] and len(headers["X-Seckb-Policy"]) == 12
    assert headers["X-Seckb-Mode"] == "yank" and headers["X-Seckb-Knowledge"] == "advisories"
    assert headers["X-Seckb-Upstream"] == upstream
    assert headers["X-Seckb-Upstream-State"] in ("fetched", "fresh")
    assert (headers["X-Seckb-Blocked-Versions"], headers["X-Seckb-Blocked-Files"]) == ("3", "3")
    assert headers["Vary"] == "Accept"
    page = answer.json()
    assert page["meta"]["api-version"] == "1.0"  # pypiserver gives no sizes: not a 1.1 page
    assert page["_seckb"]["snapshot"] == headers["X-Seckb-Snapshot"]
    by_name = {f["filename"]: f for f in page["files"]}
    assert by_name["vulnlib-1.2-py3-none-any.whl"]["yanked"] is False
    assert by_name["vulnlib-2.0-py3-none-any.whl"]["yanked"].startswith(
        "seckb: blocked: TEST-2024-2"
    )
    first = by_name["vulnlib-1.0-py3-none-any.whl"]
    assert first["url"].startswith(upstream.removesuffix("/simple/") + "/packages/")  # absolute
    assert len(first["hashes"]["sha256"]) == 64  # pypiserver's hash fragment, unchanged
    html = requests.get(f"{url}/simple/vulnlib/", timeout=10)
    assert html.headers["content-type"] == "text/html; charset=utf-8"
    assert "blocked by seckb: TEST-2024-1" in html.text
    assert (
        requests.get(
            f"{url}/simple/vulnlib/", headers={"Accept": "image/png"}, timeout=10
        ).status_code
        == 406
    )


def test_a_page_not_changed_answers_304(url: str) -> None:
    first = requests.get(f"{url}/strict/simple/vulnlib/", headers=JSON_ACCEPT, timeout=10)
    etag = first.headers["ETag"]
    again = requests.get(
        f"{url}/strict/simple/vulnlib/",
        headers={**JSON_ACCEPT, "If-None-Match": etag},
        timeout=10,
    )
    assert again.status_code == 304 and again.content == b""
    assert again.headers["X-Seckb-Snapshot"] == first.headers["X-Seckb-Snapshot"]
    metrics = requests.get(f"{url}/metrics", timeout=10).text  # answered from the cache
    assert 'route="/strict/simple/{project}/",status="304"' in metrics
    html = requests.get(
        f"{url}/strict/simple/vulnlib/", headers={"If-None-Match": etag}, timeout=10
    )
    assert html.status_code == 200  # another format: another ETag


def test_the_root_lists_the_upstreams_projects(url: str) -> None:
    html = requests.get(f"{url}/strict/simple/", timeout=10)
    assert html.status_code == 200
    assert '<a href="/strict/simple/vulnlib/">vulnlib</a>' in html.text
    names = {
        p["name"]
        for p in requests.get(f"{url}/simple/", headers=JSON_ACCEPT, timeout=10).json()["projects"]
    }
    assert names == {"app", "lowsev", "plainpkg", "vulnlib"}


def test_unnormalized_names_are_redirected(url: str) -> None:
    for path, target in (
        ("/simple/VulnLib/", "/simple/vulnlib/"),
        ("/strict/simple/vuln_lib/", "/strict/simple/vuln-lib/"),
        ("/simple/Plain.Pkg/?format=text/html", "/simple/plain-pkg/?format=text/html"),
    ):
        answer = requests.get(f"{url}{path}", allow_redirects=False, timeout=10)
        assert answer.status_code == 301 and answer.headers["location"] == target
    assert requests.get(f"{url}/simple/vulnlib", allow_redirects=False, timeout=10).status_code in (
        307,
        308,
    )


@pytest.mark.parametrize(
    ("path", "words"),
    [
        (b"/simple/../../etc/passwd/", "traversal"),
        (b"/simple/..%2F..%2Fetc%2Fpasswd/", "traversal"),
        (b"/simple/%2e%2e/", "traversal"),
        (b"/simple/vulnlib%00/", "traversal"),
        (b"/simple/vuln%0alib/", "not a valid Python project name"),
        (b"/simple/%D1%81ix/", "not a valid Python project name"),  # a Cyrillic "s"
        (b"/simple/-leading/", "not a valid Python project name"),
        (b"/simple/" + b"a" * 300 + b"/", "not a valid Python project name"),
    ],
)
def test_hostile_project_names(url: str, path: bytes, words: str) -> None:
    response = raw(url, b"GET " + path + b" HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert words in json_error(response, 400)
    still_serving(url)


def test_an_encoded_slash_finds_no_project(url: str) -> None:
    answer = requests.get(f"{url}/simple/vulnlib%2Fapp/", timeout=10)
    assert answer.status_code in (400, 404)
    assert answer.json()["message"]
    still_serving(url)


def test_a_project_no_upstream_lists_is_a_404_and_is_asked_again(url: str) -> None:
    assert "no upstream index lists 'nothing-here'" in error_of(
        requests.get(f"{url}/simple/nothing-here/", timeout=10), 404
    )
    metrics = requests.get(f"{url}/metrics", timeout=10).text
    assert 'seckb_index_upstream_total{outcome="not_found"}' in metrics


def test_no_snapshot_means_no_page(tmp_path: Path, upstream: str) -> None:
    with serving_index(index_settings(tmp_path / "empty", upstream)) as base:
        assert "no snapshot is being served" in error_of(
            requests.get(f"{base}/simple/vulnlib/", timeout=10), 503
        )


@pytest.fixture
def fake() -> Iterator[FakeServer]:
    with serving() as server:
        yield server


def serve_over(index_home: IndexHome, *upstreams: str, **overrides: Any) -> Any:
    return serving_index(
        index_settings(index_home.home, upstreams[0], index_upstreams=list(upstreams), **overrides)
    )


def test_json_upstream_fields_pass_through_and_other_hosts_are_kept(
    index_home: IndexHome, fake: FakeServer
) -> None:
    fake.routes["/simple/vulnlib/"] = json_page(
        "vulnlib",
        [
            a_file(
                "vulnlib",
                "1.2",
                **{
                    "core-metadata": {"sha256": "cd" * 32},
                    "upload-time": "2024-01-01T00:00:00Z",
                    "requires-python": ">=3.8",
                },
            ),
            a_file(
                "vulnlib",
                "1.1",
                url="../../files/vulnlib-1.1-py3-none-any.whl",
                yanked="bad upload",
            ),
            a_file("vulnlib", "1.0", **{"upload-time": "yesterday"}),
        ],
        versions=["1.0", "1.1", "1.2"],
    )
    with serve_over(index_home, f"{fake.url}/simple/") as base:
        page = requests.get(f"{base}/simple/vulnlib/", headers=JSON_ACCEPT, timeout=10).json()
    newest, middle, oldest = page["files"]
    assert page["meta"]["api-version"] == "1.1"
    assert newest["url"] == "https://files.example/vulnlib-1.2-py3-none-any.whl"
    assert newest["core-metadata"] == {"sha256": "cd" * 32}
    assert newest["upload-time"] == "2024-01-01T00:00:00Z" and newest["requires-python"] == ">=3.8"
    assert middle["url"] == f"{fake.url}/files/vulnlib-1.1-py3-none-any.whl"
    assert middle["yanked"] == "bad upload; seckb: blocked: TEST-2024-1 (High 7.5, fixed in 1.2)"
    assert "upload-time" not in oldest  # a malformed time is left out, not passed to uv
    assert [path for path, _ in fake.log] == ["/simple/vulnlib/"]  # no file was ever fetched


def test_upstreams_are_asked_in_order_and_an_error_never_falls_through(
    index_home: IndexHome, fake: FakeServer
) -> None:
    with serving() as second:
        second.routes["/simple/plainpkg/"] = json_page("plainpkg", [a_file("plainpkg", "9.0")])
        second.routes["/simple/vulnlib/"] = json_page("vulnlib", [a_file("vulnlib", "9.0")])
        fake.routes["/simple/vulnlib/"] = Reply(500, b"broken")
        with serve_over(index_home, f"{fake.url}/simple/", f"{second.url}/simple/") as base:
            found = requests.get(f"{base}/simple/plainpkg/", headers=JSON_ACCEPT, timeout=10)
            assert found.headers["X-Seckb-Upstream"] == f"{second.url}/simple/"  # 404 first: next
            failed = requests.get(f"{base}/simple/vulnlib/", timeout=10)
            assert "did not answer" in error_of(failed, 502)  # never taken from the next index
            assert second.requests_to("/simple/vulnlib/") == 0


@pytest.mark.parametrize(
    ("reply", "words"),
    [
        (Reply(200, b"\x00\x01binary garbage\xff", {"Content-Type": "text/html"}), "not UTF-8"),
        (Reply(200, b"{not json", {"Content-Type": JSON_V1}), "not JSON"),
        (Reply(200, b"hello", {"Content-Type": "text/plain"}), "not a Simple API page"),
        (
            Reply(
                200,
                json.dumps(
                    {"meta": {"api-version": "2.0"}, "name": "vulnlib", "files": []}
                ).encode(),
                {"Content-Type": JSON_V1},
            ),
            "not supported",
        ),
        (Reply(200, b"x" * 5000, {"Content-Type": "text/html"}), "over the cap"),
        (Reply(200, b"partial", {"Content-Type": JSON_V1}, action="truncate"), "connection broken"),
        (Reply(403, b"forbidden"), "HTTP 403"),
        (Reply(200, b"", action="reset"), "did not answer"),
    ],
)
def test_garbage_from_the_upstream_is_a_502_and_never_cached(
    index_home: IndexHome, fake: FakeServer, reply: Reply, words: str
) -> None:
    good = json_page("vulnlib", [a_file("vulnlib", "1.2")])
    fake.routes["/simple/vulnlib/"] = [reply, good]
    with serve_over(
        index_home, f"{fake.url}/simple/", index_max_page_bytes=4096, index_fresh_seconds=0
    ) as base:
        assert words in error_of(requests.get(f"{base}/simple/vulnlib/", timeout=20), 502)
        answer = requests.get(f"{base}/simple/vulnlib/", headers=JSON_ACCEPT, timeout=20)
        assert answer.status_code == 200 and answer.headers["X-Seckb-Upstream-State"] == "fetched"


def test_a_redirect_loop_and_a_hang_are_502s_in_bounded_time(
    index_home: IndexHome, fake: FakeServer
) -> None:
    fake.routes["/simple/vulnlib/"] = Reply(302, b"", {"Location": "/simple/vulnlib/"})

    def hang(_headers: dict[str, str]) -> Reply:
        time.sleep(6)
        return json_page("app", [a_file("app", "1.0")])

    fake.routes["/simple/app/"] = hang
    with serve_over(index_home, f"{fake.url}/simple/", index_timeout_seconds=1) as base:
        assert (
            "redirect" in error_of(requests.get(f"{base}/simple/vulnlib/", timeout=20), 502).lower()
        )
        started = time.monotonic()
        assert "did not answer" in error_of(requests.get(f"{base}/simple/app/", timeout=20), 502)
        assert time.monotonic() - started < 5
        answer = requests.get(f"{base}/metrics", timeout=10)  # the server was never stuck
        assert 'seckb_index_upstream_total{outcome="errors"}' in answer.text


def test_a_cached_page_is_served_stale_when_the_upstream_fails_and_says_so(
    index_home: IndexHome, fake: FakeServer
) -> None:
    fake.routes["/simple/vulnlib/"] = [
        json_page("vulnlib", [a_file("vulnlib", "1.2"), a_file("vulnlib", "1.1")]),
        Reply(503, b"down"),
    ]
    with serve_over(index_home, f"{fake.url}/simple/", index_fresh_seconds=0) as base:
        first = requests.get(f"{base}/strict/simple/vulnlib/", headers=JSON_ACCEPT, timeout=10)
        assert first.headers["X-Seckb-Upstream-State"] == "fetched"
        stale = requests.get(f"{base}/strict/simple/vulnlib/", headers=JSON_ACCEPT, timeout=10)
        assert stale.status_code == 200
        assert stale.headers["X-Seckb-Upstream-State"] == "stale"
        assert "HTTP 503" in stale.headers["X-Seckb-Upstream-Error"]
        assert [f["filename"] for f in stale.json()["files"]] == [
            "vulnlib-1.2-py3-none-any.whl"
        ]  # still gated
        metrics = requests.get(f"{base}/metrics", timeout=10).text
        assert 'seckb_index_upstream_total{outcome="stale_served"} 1' in metrics


def test_pages_are_revalidated_by_etag_or_serial(index_home: IndexHome, fake: FakeServer) -> None:
    page = json_page("vulnlib", [a_file("vulnlib", "1.2")])

    def etagged(headers: dict[str, str]) -> Reply:
        if headers.get("if-none-match") == '"v1"':
            return Reply(304, b"", {"ETag": '"v1"'})
        return Reply(200, page.body, {**page.headers, "ETag": '"v1"'})

    fake.routes["/simple/vulnlib/"] = etagged
    serial_page = json_page("app", [a_file("app", "1.0")])
    fake.routes["/simple/app/"] = Reply(
        200, serial_page.body, {**serial_page.headers, "X-PyPI-Last-Serial": "77"}
    )
    with serve_over(index_home, f"{fake.url}/simple/", index_fresh_seconds=0) as base:
        states = [
            requests.get(f"{base}/simple/vulnlib/", headers=JSON_ACCEPT, timeout=10).headers[
                "X-Seckb-Upstream-State"
            ]
            for _ in range(3)
        ]
        assert states == ["fetched", "revalidated", "revalidated"]
        conditional = [h.get("if-none-match") for p, h in fake.log if p == "/simple/vulnlib/"]
        assert conditional == [None, '"v1"', '"v1"']
        states = [
            requests.get(f"{base}/simple/app/", headers=JSON_ACCEPT, timeout=10).headers[
                "X-Seckb-Upstream-State"
            ]
            for _ in range(2)
        ]
        assert states == ["fetched", "revalidated"]  # same serial: the body is not even read
    with serve_over(index_home, f"{fake.url}/simple/", index_fresh_seconds=600) as base:
        for _ in range(3):
            answer = requests.get(f"{base}/simple/vulnlib/", timeout=10)
        assert answer.headers["X-Seckb-Upstream-State"] == "fresh"
        # a new server reads what the last one kept on disk (cache/index): still fresh
        assert fake.requests_to("/simple/vulnlib/") == 3
    with serving() as other:  # another list of upstreams never reads those pages
        other.routes["/simple/vulnlib/"] = page
        with serve_over(index_home, f"{other.url}/simple/", index_fresh_seconds=600) as base:
            answer = requests.get(f"{base}/simple/vulnlib/", timeout=10)
            assert answer.headers["X-Seckb-Upstream"] == f"{other.url}/simple/"
            assert other.requests_to("/simple/vulnlib/") == 1

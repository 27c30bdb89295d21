"""The package page: server-rendered HTML with SVG charts, checked as text and in a real browser
(headless Chromium takes a screenshot; skipped where Debian's ``chromium`` is not installed)."""

from __future__ import annotations

import re
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from browser import CHROMIUM, MISSING, screenshot
from server.support import build_demo_home, serving_home

from aggregators.clients.server.chart import release_axis, timeline_svg

RED, GREEN = (0xCF, 0x22, 0x2E), (0x1A, 0x7F, 0x37)


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = build_demo_home(tmp_path_factory.mktemp("demo"))
    with serving_home(home) as base:
        yield base


def test_page_shows_releases_advisories_fixes_bandit_and_scorecard(url: str) -> None:
    answer = requests.get(f"{url}/packages/Demo_Web", timeout=30)
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/html")
    assert "script-src" not in answer.headers["content-security-policy"]
    assert answer.headers["content-security-policy"].startswith("default-src 'none'")
    page = answer.text
    assert "<script" not in page  # the advisory summary "<script>..." is escaped text
    assert "&lt;script&gt;alert(1)&lt;/script&gt; in templates" in page
    assert page.count("<svg") == 2  # the timeline and the Scorecard bars
    assert "23 release(s) known" in page and "12 affected" in page
    for lane in ("DEMO-2018-1 (High)", "DEMO-2022-4 (Medium)", "DEMO-2023-5", "Bandit"):
        assert lane in page
    assert "DEMO-2018-1 fixed in 0.12.3" in page  # the diamond's tooltip
    assert "2.3.0: Bandit scanned, 1 high-severity finding(s)" in page
    assert "Fuzzing" in page and "Signed-Releases" in page
    assert "DEMO-2020-9</b> withdrawn" in page
    assert "1.1.0: DEMO-2021-3 (yanked)" in page
    assert re.search(r">2019<", page) and re.search(r">2022<", page)  # a time axis


def test_page_of_an_unknown_package_is_a_json_404(url: str) -> None:
    answer = requests.get(f"{url}/packages/no-such-thing", timeout=10)
    assert answer.status_code == 404 and "no advisory names" in answer.json()["message"]


def test_charts_are_pure_and_fall_back_to_version_order() -> None:
    releases = [
        {"version": "1.0", "upload_time": None, "advisory_ids": ["A"]},
        {"version": "2.0", "upload_time": None, "advisory_ids": []},
    ]
    axis = release_axis(releases, 1000)
    assert axis.xs[0] < axis.xs[1] and [label for _, label in axis.ticks] == ["1.0", "2.0"]
    svg = timeline_svg(releases, [{"id": "A", "fixed_versions": ["2.0"]}], [])
    assert svg.startswith("<svg") and "A fixed in 2.0" in svg
    assert "no PyPI release" in timeline_svg([], [], [])


def png_pixels(path: Path) -> tuple[int, int, list[tuple[int, int, int]]]:
    """Width, height and RGB pixels of an 8-bit RGB or RGBA PNG (what Chromium writes)."""
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width = height = channels = 0
    stream = b""
    at = 8
    while at < len(data):
        length, kind = struct.unpack(">I4s", data[at : at + 8])
        chunk = data[at + 8 : at + 8 + length]
        if kind == b"IHDR":
            width, height, depth, colour = struct.unpack(">IIBB", chunk[:10])
            assert depth == 8 and colour in (2, 6)
            channels = 3 if colour == 2 else 4
        elif kind == b"IDAT":
            stream += chunk
        at += 12 + length
    raw, stride, rows, previous = (
        zlib.decompress(stream),
        width * channels,
        [],
        bytearray(width * channels),
    )
    for y in range(height):
        kind, line = (
            raw[y * (stride + 1)],
            bytearray(raw[y * (stride + 1) + 1 : (y + 1) * (stride + 1)]),
        )
        for i in range(stride):
            left = line[i - channels] if i >= channels else 0
            up, corner = previous[i], previous[i - channels] if i >= channels else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                estimate = left + up - corner
                pa, pb, pc = abs(estimate - left), abs(estimate - up), abs(estimate - corner)
                best = left if pa <= pb and pa <= pc else (up if pb <= pc else corner)
                line[i] = (line[i] + best) & 0xFF
        rows.append(line)
        previous = line
    pixels = [tuple(row[x * channels : x * channels + 3]) for row in rows for x in range(width)]
    return width, height, pixels  # type: ignore[return-value]


@pytest.mark.skipif(not CHROMIUM.exists(), reason=MISSING)
def test_page_in_headless_chromium(url: str, tmp_path: Path) -> None:
    shot = screenshot(f"{url}/packages/demo-web", tmp_path / "demo-web.png", 1280, 900)
    width, height, pixels = png_pixels(shot)
    assert (width, height) == (1280, 900)
    colours = set(pixels)
    assert len(colours) > 50, "the page rendered (not a blank screen)"
    assert RED in colours and GREEN in colours  # affected and clean markers were drawn
    reds = sum(1 for p in pixels if p == RED)
    assert reds > 200  # markers, bars and the Branch-Protection bar

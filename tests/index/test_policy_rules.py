"""The optional rules (Bandit, Scorecard) and the severity threshold on a data root with all four
sources (``demo-web``: five advisories, Bandit on three releases, a Scorecard result), seen
through ``/v1/policy`` and the package page, in text and in headless Chromium."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from browser import CHROMIUM, MISSING, screenshot
from fakes import serving
from index.support import index_settings, serving_index
from server.support import build_demo_home
from server.test_page import RED, png_pixels


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    home = build_demo_home(tmp_path_factory.mktemp("demo"))
    with serving() as upstream:  # answers 404 to everything: versions come from the snapshot
        settings = index_settings(
            home,
            f"{upstream.url}/simple/",
            policy_severity="high",
            policy_bandit_max_high=0,
            policy_bandit_statuses=["partial"],
        )
        with serving_index(settings) as base:
            yield base


def verdicts(url: str) -> dict[str, dict[str, Any]]:
    document = requests.get(f"{url}/v1/policy/Demo_Web", timeout=10).json()
    assert document["schema"] == "seckb.policy/1" and document["versions_from"] == "snapshot"
    assert "no upstream index lists" in document["upstream"]["error"]
    assert document["policy"]["rules"]["severity"] == "high"
    return {v["version"]: v for v in document["versions"]}


def test_the_threshold_bandit_rule_and_what_could_not_be_judged(url: str) -> None:
    found = verdicts(url)
    assert len(found) == 23
    newest = found["2.3.0"]  # DEMO-2023-5 is unscored: it meets "high"; Bandit found one high
    assert newest["verdict"] == "blocked"
    assert [r["rule"] for r in newest["reasons"]] == ["advisory", "bandit_high"]
    assert "1 high-severity finding(s) (at most 0 allowed)" in newest["reasons"][1]["text"]
    medium = found["2.0.1"]  # only DEMO-2022-4 (Medium): below the threshold, and said so
    assert medium["verdict"] == "allowed" and medium["below_threshold"] == ["DEMO-2022-4"]
    assert "not analysed" in " ".join(medium["notes"])  # the Bandit rule could not be applied
    assert found["1.1.1"]["reasons"][0]["advisory"] == "DEMO-2021-3"
    assert found["1.1.1"]["reasons"][0]["text"].startswith("DEMO-2021-3 (High 7.5, fixed in 1.1.2)")


def test_the_package_page_marks_blocked_releases(url: str, tmp_path: Path) -> None:
    page = requests.get(f"{url}/packages/demo-web", timeout=30).text
    section = page.split("<h2>Under the index policy</h2>")[1]
    assert "blocked</span> of 23 release(s)" in section
    assert '<td>2.3.0</td><td><span class="bad">blocked</span></td>' in section
    assert '<td>2.0.1</td><td><span class="ok">allowed</span></td>' in section
    if not CHROMIUM.exists():
        pytest.skip(MISSING)
    shot = screenshot(f"{url}/packages/demo-web", tmp_path / "policy.png", 1280, 3200)
    width, height, pixels = png_pixels(shot)
    assert (width, height) == (1280, 3200)
    below = pixels[width * 800 :]  # under the charts: the advisories, then the policy table
    assert sum(1 for p in below if p == RED) > 200, "blocked releases are marked in red"

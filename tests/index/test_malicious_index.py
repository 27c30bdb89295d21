"""The index never offers a malicious release or a suspect version, in either mode, and says
when a project's name looks like a much more popular one; pip resolves around them."""

from __future__ import annotations

import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from index.support import (
    BIN,
    client_environment,
    index_settings,
    pypiserver,
    serving_index,
    write_wheels,
)
from kb_malicious import build_malicious_home

from aggregators.clients.simple.pages import JSON_V1
from aggregators.core.config import Settings

WHEELS = {
    "aiohtt": {"0.1": (), "0.2": ()},
    "termncolor": {"3.1.0": (), "3.1.1": ()},
    "litellm": {"1.82.6": (), "1.82.7": (), "1.82.8": (), "1.82.9": ()},
    "reqeusts": {"2.0": ()},
}


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Settings:
    return build_malicious_home(tmp_path_factory.mktemp("malicious"))


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with pypiserver(write_wheels(tmp_path_factory.mktemp("wheels"), WHEELS)) as url:
        yield url


def files(base: str, name: str) -> tuple[list[str], Any]:
    answer = requests.get(f"{base}/simple/{name}/", headers={"Accept": JSON_V1}, timeout=10)
    assert answer.status_code == 200, answer.text
    page = answer.json()
    return [f["filename"] for f in page["files"]], answer.headers


@pytest.mark.parametrize("mode", ["yank", "hide"])
def test_malicious_and_suspect_releases_are_hidden_in_both_modes(
    home: Settings, upstream: str, mode: str
) -> None:
    settings = index_settings(home.home, upstream, index_mode=mode, names_min_ratio=5)
    with serving_index(settings) as base:
        assert files(base, "aiohtt")[0] == []  # a malicious project: every release
        assert files(base, "termncolor")[0] == []  # 3.1.0 malicious, 3.1.1 suspect
        shown, _headers = files(base, "litellm")
        kept = [f for f in shown if "1.82.6" in f or "1.82.9" in f]
        assert kept == shown and len(kept) == 2  # compromised releases gone, not yanked
        html = requests.get(f"{base}/simple/litellm/", timeout=10).text
        assert ">litellm-1.82.6-py3-none-any.whl</a>" in html
        assert ">litellm-1.82.7-py3-none-any.whl</a>" not in html  # named as blocked, no link
        assert "1.82.7: PYSEC-2026-2: malicious package" in html


def test_a_lookalike_name_is_served_and_says_so(home: Settings, upstream: str) -> None:
    settings = index_settings(home.home, upstream, names_min_ratio=5)
    with serving_index(settings) as base:
        shown, headers = files(base, "reqeusts")
        assert shown == ["reqeusts-2.0-py3-none-any.whl"]  # a name is a warning, not a verdict
        assert "looks like requests" in headers["X-Seckb-Suspicious-Name"]
        page = requests.get(f"{base}/simple/reqeusts/", headers={"Accept": JSON_V1}, timeout=10)
        assert page.json()["_seckb"]["suspicious_name"]["resembles"] == "requests"
        html = requests.get(f"{base}/simple/reqeusts/", timeout=10).text
        assert "looks like requests" in html


def test_pip_cannot_install_a_malicious_release(
    home: Settings, upstream: str, tmp_path: Path, client_home: Path
) -> None:
    settings = index_settings(home.home, upstream)
    with serving_index(settings) as base:
        env = client_environment(client_home)
        refused = subprocess.run(
            [str(BIN / "pip"), "download", "--no-deps", "-d", str(tmp_path / "a"),
             "--index-url", f"{base}/simple/", "litellm==1.82.7"],
            capture_output=True, text=True, env=env, timeout=120,
        )  # fmt: skip
        assert refused.returncode != 0
        assert "No matching distribution" in refused.stderr
        chosen = subprocess.run(
            [str(BIN / "pip"), "download", "--no-deps", "-d", str(tmp_path / "b"),
             "--index-url", f"{base}/simple/", "litellm>=1.82.6,<1.82.9"],
            capture_output=True, text=True, env=env, timeout=120,
        )  # fmt: skip
        assert chosen.returncode == 0, chosen.stderr
        assert [p.name for p in (tmp_path / "b").iterdir()] == ["litellm-1.82.6-py3-none-any.whl"]

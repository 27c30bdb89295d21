"""The published OpenAPI document describes the server: Schemathesis (the API fuzzer people
point at OpenAPI services) runs every check against a real ``seckb serve`` process — schema-valid
requests must be answered as documented, schema-violating ones refused — with and without the
write API's bearer token. The index's upstream is a real pypiserver on loopback.

``POST /v1/fix`` is left out: each schema-valid request runs uv resolutions (seconds each); its
contract is tested in tests/fix.
"""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from index.support import PROJECTS, pypiserver, write_wheels
from kb_malicious import build_malicious_home
from server.support import serve_process

BIN = Path(sys.executable).parent
CONFIG = Path(__file__).parent / "fixtures" / "schemathesis.toml"
TOKEN = "contract-test-token"
pytestmark = [pytest.mark.slow, pytest.mark.timeout(900)]


@pytest.fixture(scope="module")
def url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    if not (BIN / "st").exists():
        pytest.skip("schemathesis is not installed (dev extras)")
    root = tmp_path_factory.mktemp("contract")
    settings = build_malicious_home(root)
    with pypiserver(write_wheels(root / "wheels", PROJECTS)) as upstream:
        config = root / "seckb.toml"
        config.write_text(
            f'api_token = "{TOKEN}"\nindex_upstreams = ["{upstream}"]\n'
            "index_attempts = 1\nindex_timeout_seconds = 5\n",
            encoding="utf-8",
        )
        with serve_process(settings.home, "--config", str(config)) as base:
            yield base


def schemathesis(url: str, tmp_path: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    command = [
        str(BIN / "st"), "--config-file", str(CONFIG), "run", f"{url}/openapi.json",
        "--checks", "all", "--max-examples", "25", "--seed", "20261207",
        "--exclude-path", "/v1/fix", "--request-timeout", "30",
        "--generation-database", "none", *extra,
    ]  # fmt: skip
    return subprocess.run(
        command, capture_output=True, text=True, timeout=840, cwd=tmp_path, check=False
    )


def test_every_check_passes_with_the_token(url: str, tmp_path: Path) -> None:
    done = schemathesis(url, tmp_path, "--header", f"Authorization: Bearer {TOKEN}")
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]
    assert "passed" in done.stdout and "failure" not in done.stdout.lower()


def test_every_check_passes_without_the_token(url: str, tmp_path: Path) -> None:
    """Writes are refused with a documented 401; everything else answers as with it."""
    done = schemathesis(url, tmp_path)
    assert done.returncode == 0, done.stdout[-6000:] + done.stderr[-2000:]

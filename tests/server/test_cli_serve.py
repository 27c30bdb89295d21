"""``seckb serve`` as a person runs it: a real process, loopback by default, settings like the
other commands, a fixed ``--snapshot``, clear errors."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest
import requests
from kb_snapshots import build_home
from server.support import seckb, serve_process

from aggregators.cli.main import build_parser


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    return build_home(tmp_path_factory.mktemp("kb"))


def test_serve_is_a_command() -> None:
    parser = build_parser()
    args = parser.parse_args(["serve"])
    assert (args.host, args.port, args.snapshot) == ("127.0.0.1", 8080, None)
    args = parser.parse_args(["serve", "--host", "0.0.0.0", "--port", "9000", "--snapshot", "X"])
    assert (args.host, args.port, args.snapshot) == ("0.0.0.0", 9000, "X")
    assert "serve" in seckb("--help").stdout


def listening_addresses(port: int) -> set[str]:
    """Local addresses with a socket listening on ``port`` (from /proc/net/tcp)."""
    found = set()
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        local, state = line.split()[1], line.split()[3]
        address, hex_port = local.split(":")
        if state == "0A" and int(hex_port, 16) == port:
            found.add(socket.inet_ntoa(bytes.fromhex(address)[::-1]))
    return found


def test_serves_the_latest_snapshot_on_loopback(data: tuple[Path, list[str]]) -> None:
    home, ids = data
    with serve_process(home) as url:
        health = requests.get(f"{url}/healthz", timeout=10).json()
        assert health["snapshot"]["id"] == ids[1] and health["following_latest"] is True
        port = int(url.rsplit(":", 1)[1])
        if Path("/proc/net/tcp").is_file():
            assert listening_addresses(port) == {"127.0.0.1"}
        query = {"package": {"name": "requests", "ecosystem": "PyPI"}, "version": "2.2"}
        answer = requests.post(f"{url}/v1/query", data=json.dumps(query), timeout=10).json()
        assert [v["id"] for v in answer["vulns"]] == ["PYSEC-5"]


def test_a_fixed_snapshot(data: tuple[Path, list[str]]) -> None:
    home, ids = data
    with serve_process(home, "--snapshot", ids[0]) as url:
        health = requests.get(f"{url}/healthz", timeout=10).json()
        assert health["snapshot"]["id"] == ids[0] and health["following_latest"] is False
        query = {"package": {"name": "requests", "ecosystem": "PyPI"}, "version": "2.2"}
        answer = requests.post(f"{url}/v1/query", data=json.dumps(query), timeout=10).json()
        assert answer == {}  # PYSEC-5 came with the second snapshot


def test_errors_are_one_line(data: tuple[Path, list[str]], tmp_path: Path) -> None:
    home, _ids = data
    done = seckb("serve", "--home", str(home), "--snapshot", "nope")
    assert done.returncode == 2 and "snapshot nope has no readable manifest" in done.stderr
    done = seckb("serve", "--home", str(home), "--port", "0")
    assert done.returncode == 2 and "--port must be between 1 and 65535" in done.stderr
    done = seckb("serve", env={"SECKB_NOT_A_SETTING": "1"})
    assert (
        done.returncode == 2 and "unknown environment variable SECKB_NOT_A_SETTING" in done.stderr
    )

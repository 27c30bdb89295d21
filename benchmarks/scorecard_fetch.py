"""Scorecard fetching speed against a loopback API with a fixed latency per request (issue 4).

Fetching is network-bound: for N repositories, L seconds of latency per request and C requests
in flight, the ideal is N x L / C. This prints the measured time of the scorecards source for
500 repositories against that ideal, then shows that a second run within the refresh age makes
zero requests.

Usage: .venv/bin/python benchmarks/scorecard_fetch.py [--repos 500] [--latency 0.05]
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import socket
import tempfile
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pyarrow as pa

from aggregators.core.config import load_settings
from aggregators.core.progress import NullProgress
from aggregators.core.workspace import Workspace
from aggregators.sources.base import RunState
from aggregators.sources.scorecards.source import ScorecardSource


def serve(latency: float, port_out: Any, counter: Any) -> None:
    """A loopback Scorecard API (own process, so it does not share our GIL) answering every
    project after ``latency`` seconds."""
    body = json.dumps(
        {
            "date": "2026-11-16",
            "repo": {"name": "x", "commit": "c"},
            "scorecard": {"version": "v5", "commit": "s"},
            "score": 7.1,
            "checks": [
                {
                    "name": "Code-Review",
                    "score": 8,
                    "reason": "r",
                    "details": None,
                    "documentation": {"short": "s", "url": "u"},
                }
            ],
        }
    ).encode()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def setup(self) -> None:
            super().setup()  # no Nagle: headers and body leave at once, as a real server's do
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def do_GET(self) -> None:
            with counter.get_lock():
                counter.value += 1
            time.sleep(latency)
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    port_out.put(server.server_address[1])
    server.serve_forever()


class Previous:
    """The tables a previous snapshot would hold (only what the source reads)."""

    def __init__(self, tables: dict[str, pa.Table]) -> None:
        self.tables = tables

    def read(self, name: str) -> pa.Table | None:
        return self.tables.get(name)


def main() -> None:
    """Measure and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repos", type=int, default=500)
    parser.add_argument("--latency", type=float, default=0.05, help="seconds per request")
    parser.add_argument("--concurrency", type=int, default=8)
    args = parser.parse_args()
    ports: Any = multiprocessing.Queue()
    counter: Any = multiprocessing.Value("i", 0)
    server = multiprocessing.Process(target=serve, args=(args.latency, ports, counter), daemon=True)
    server.start()
    host, port = "127.0.0.1", ports.get(timeout=30)
    packages = pa.table(
        {
            "package": [f"pkg-{i}" for i in range(args.repos)],
            "repository_url": [f"https://github.com/org{i}/repo{i}" for i in range(args.repos)],
        }
    )
    with tempfile.TemporaryDirectory() as tmp:
        settings = load_settings(
            env={},
            home=Path(tmp),
            scorecard_url=f"http://{host}:{port}",
            scorecard_concurrency=args.concurrency,
        )
        source = ScorecardSource(settings, Workspace(settings.home))
        first_state = RunState(None, {}, None)
        first_state.table = lambda name: packages if name == "packages" else None  # type: ignore[method-assign]
        started = time.perf_counter()
        result = source.update(first_state, NullProgress())
        elapsed = time.perf_counter() - started
        requests_first = counter.value
        previous: Any = Previous(result.tables)
        second_state = RunState(previous, {}, None)
        second_state.table = lambda name: packages if name == "packages" else previous.read(name)  # type: ignore[method-assign]
        second = ScorecardSource(settings, Workspace(settings.home)).update(
            second_state, NullProgress()
        )
    server.terminate()
    ideal = args.repos * args.latency / args.concurrency
    print(
        f"repositories: {args.repos}, latency {args.latency * 1000:.0f} ms/request, "
        f"concurrency {args.concurrency}"
    )
    print(
        f"first run: {requests_first} requests in {elapsed:.2f} s; "
        f"ideal (requests x latency / concurrency) {ideal:.2f} s; ratio {elapsed / ideal:.2f}"
    )
    print(
        f"serial baseline would take {args.repos * args.latency:.2f} s "
        f"({args.repos * args.latency / elapsed:.1f}x slower)"
    )
    print(
        f"second run within the refresh age: {counter.value - requests_first} requests, "
        f"status {second.status}, {second.stats['skipped_fresh']} skipped as fresh"
    )


if __name__ == "__main__":
    main()

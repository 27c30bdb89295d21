"""The package index's speed (issue 17): seckb's ``/simple/`` against its upstream, same run.

Set-up: a data root from the real advisory-db bundle (2023-12); an upstream index on loopback
serving REAL PyPI pages (PEP 691 JSON, fetched from pypi.org once and kept in ``--cache``; the
files and metadata stay on files.pythonhosted.org); a real ``seckb serve`` process in front of
it. The upstream is the same server stack as seckb (uvicorn, h11) answering stored bytes with an
ETag, so the difference is what seckb adds. Figures:

1. ``GET /simple/numpy/`` (4,000+ files, the older ones yanked by seckb) and
   ``/simple/botocore/`` (5,000 files, none blocked) served from seckb's cache, 8 concurrent
   loopback clients on kept-alive connections: p50 and p99, against the upstream answering the
   same page directly (target: at most 2 ms more at p50);
2. ``uv pip compile`` of a 40-package requirements set through seckb against uv straight to the
   upstream, warm caches on both sides, whole-process time, median of runs (target: within
   1.3x) — once with every page revalidated (``max-age=0`` + ETag on both sides: 304s), once
   with pages fresh in uv's cache (PyPI's ``max-age=600``; seckb's default 60 s);
3. the server's memory: RSS with the snapshot and the cached pages, against the same server
   before the index was used.

Needs PyPI the first time (the pages, and uv's first resolution fetches metadata); later runs
read the cache. Usage:

    .venv/bin/python benchmarks/index_speed.py [--seconds 5] [--runs 5] [--cache DIR]
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BUNDLE = ROOT.parent / "shared" / "data" / "advisory-db-2023.bundle"
BIN = Path(sys.executable).parent
JSON_V1 = "application/vnd.pypi.simple.v1+json"
BIG = ("numpy", "botocore")
"""Projects of 500+ files: numpy (advisories block its older releases) and botocore (none)."""
REQUIREMENTS = (
    "django", "flask", "requests", "urllib3", "numpy", "pandas", "pillow", "sqlalchemy",
    "jinja2", "pyyaml", "cryptography", "boto3>=1.35", "fastapi", "uvicorn", "pydantic", "httpx",
    "aiohttp", "celery", "redis", "psycopg2-binary", "lxml", "beautifulsoup4", "scipy",
    "matplotlib", "pytest", "click", "rich", "werkzeug", "gunicorn", "paramiko", "pyjwt",
    "markdown", "tornado", "twisted", "setuptools", "certifi", "idna", "packaging",
    "python-dateutil", "pytz",
)  # fmt: skip
"""40 requirements, the popular ones of most applications. boto3 has a lower bound, as real files
have: unbounded, uv 0.13 backtracks through old boto3 releases (down to 0.0.3) for 35 s."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


# ------------------------------------------------------------------------- the upstream index


def upstream_app(cache: Path, cache_control: str) -> Any:
    """A raw ASGI app serving ``cache/<name>.json`` as ``/simple/<name>/`` (fetched from
    pypi.org and stored on a miss), with an ETag and 304s; ``/__stats`` counts requests."""
    pages: dict[str, tuple[bytes, bytes]] = {}
    counts = {"requests": 0, "not_modified": 0, "fetched_from_pypi": 0}
    lock = threading.Lock()

    def page(name: str) -> tuple[bytes, bytes] | None:
        if name in pages:
            return pages[name]
        path = cache / f"{name}.json"
        if not path.is_file():
            request = urllib.request.Request(
                f"https://pypi.org/simple/{name}/", headers={"Accept": JSON_V1}
            )
            try:
                with urllib.request.urlopen(request, timeout=60) as answer:
                    body = answer.read()
            except OSError:
                return None
            path.write_bytes(body)
            with lock:
                counts["fetched_from_pypi"] += 1
        body = path.read_bytes()
        pages[name] = (body, f'"{hashlib.sha256(body).hexdigest()[:32]}"'.encode())
        return pages[name]

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        path: str = scope["path"]
        if path == "/__stats":
            body = json.dumps(counts).encode()
            await send({"type": "http.response.start", "status": 200, "headers": []})
            await send({"type": "http.response.body", "body": body})
            return
        with lock:
            counts["requests"] += 1
        name = path.removeprefix("/simple/").strip("/")
        found = page(name) if path.startswith("/simple/") and name else None
        if found is None:
            await send({"type": "http.response.start", "status": 404, "headers": []})
            await send({"type": "http.response.body", "body": b"not found"})
            return
        body, etag = found
        headers = [
            (b"content-type", JSON_V1.encode()),
            (b"etag", etag),
            (b"cache-control", cache_control.encode()),
            (b"vary", b"Accept"),
        ]
        asked = dict(scope["headers"]).get(b"if-none-match")
        if asked == etag:
            with lock:
                counts["not_modified"] += 1
            await send({"type": "http.response.start", "status": 304, "headers": headers})
            await send({"type": "http.response.body", "body": b""})
            return
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


def run_upstream(cache: Path, port: int, cache_control: str) -> None:
    """The upstream's process: uvicorn with h11, as seckb serve runs."""
    import uvicorn

    uvicorn.run(
        upstream_app(cache, cache_control),
        host="127.0.0.1",
        port=port,
        http="h11",
        log_level="warning",
        lifespan="off",
    )


class Process:
    """A server process on a loopback port, stopped at the end."""

    def __init__(self, command: list[str], port: int, env: dict[str, str], ready: str) -> None:
        self.port = port
        self.process = subprocess.Popen(
            command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE
        )
        deadline = time.monotonic() + 120
        while True:
            try:
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
                connection.request("GET", ready)
                connection.getresponse().read()
                connection.close()
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    error = self.process.stderr.read().decode() if self.process.stderr else ""
                    raise RuntimeError(f"{command[:3]} did not start: {error[-2000:]}") from None
                time.sleep(0.1)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def rss_mib(self) -> float:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        return int(fields["VmRSS"].split()[0]) / 1024

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def start_upstream(cache: Path, cache_control: str) -> Process:
    port = free_port()
    command = [sys.executable, __file__, "--serve-upstream", str(cache), str(port), cache_control]
    return Process(command, port, dict(os.environ), "/__stats")


def start_seckb(home: Path, upstream: str, client_max_age: int) -> Process:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SECKB_")}
    env.update(
        {"SECKB_INDEX_UPSTREAMS": upstream, "SECKB_INDEX_CLIENT_MAX_AGE": str(client_max_age)}
    )
    command = [str(BIN / "seckb"), "serve", "--home", str(home), "--port", str(port)]
    return Process(command, port, env, "/healthz")


def stats(upstream: Process) -> dict[str, int]:
    with urllib.request.urlopen(f"{upstream.url}/__stats", timeout=10) as answer:
        found: dict[str, int] = json.load(answer)
    return found


# ------------------------------------------------------------------------------ measurements


def load(port: int, path: str, clients: int, seconds: float) -> list[float]:
    """Latencies (ms) of GET ``path`` from ``clients`` threads on kept-alive connections."""
    latencies: list[float] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client() -> None:
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine = []
        while time.monotonic() < stop:
            started = time.perf_counter()
            connection.request("GET", path, headers={"Accept": JSON_V1})
            response = connection.getresponse()
            response.read()
            mine.append((time.perf_counter() - started) * 1000)
            assert response.status == 200, response.status
        connection.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client) for _ in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(latencies)


def percentiles(latencies: list[float]) -> tuple[float, float]:
    return latencies[len(latencies) // 2], latencies[int(len(latencies) * 0.99)]


def page_latency(
    upstream: Process, seckb: Process, project: str, clients: int, seconds: float
) -> None:
    path = f"/simple/{project}/"
    with urllib.request.urlopen(
        urllib.request.Request(f"{upstream.url}{path}", headers={"Accept": JSON_V1})
    ) as answer:
        files = len(json.load(answer)["files"])
    results = {}
    with urllib.request.urlopen(
        urllib.request.Request(f"{seckb.url}{path}", headers={"Accept": JSON_V1})
    ) as answer:
        blocked = answer.headers["X-Seckb-Blocked-Files"]
        served = len(answer.read())
    for name, server in (("upstream directly", upstream), ("seckb (cached)", seckb)):
        load(server.port, path, clients, 1.0)  # warm-up: connections, seckb's cache and render
        latencies = load(server.port, path, clients, seconds)
        results[name] = (*percentiles(latencies), len(latencies) / seconds)
    print(
        f"GET /simple/{project}/ ({files} files, {blocked} yanked by seckb, {served:,} bytes "
        f"served), JSON, {clients} concurrent clients, {seconds:g} s:"
    )
    for name, (p50, p99, rate) in results.items():
        print(f"  {name:18} p50 {p50:6.2f} ms   p99 {p99:6.2f} ms   {rate:6.0f} requests/s")
    (up50, up99, _), (s50, s99, _) = results.values()
    print(
        f"  overhead: p50 +{s50 - up50:.2f} ms (target at most +2 ms), p99 +{s99 - up99:.2f} ms;"
        f" ratio p50 {s50 / up50:.2f}x"
    )


def uv_compile(index: str, requirements: Path, cache: Path) -> float:
    command = [
        str(BIN / "uv"),
        "pip",
        "compile",
        str(requirements),
        "--index-url",
        index,
        "--python-version",
        "3.11",
        "--python-platform",
        "x86_64-unknown-linux-gnu",
        "--cache-dir",
        str(cache),
        "--no-header",
        "--quiet",
    ]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("UV_", "PIP_"))}
    env["UV_NO_CONFIG"] = "1"
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    took = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"uv pip compile through {index} failed: {done.stderr[-3000:]}")
    return took


def resolution(
    label: str, upstream: Process, seckb: Process, root: Path, runs: int, fresh: bool
) -> dict[str, Any]:
    requirements = root / "requirements.in"
    requirements.write_text("".join(f"{r}\n" for r in REQUIREMENTS), encoding="utf-8")
    direct_cache, seckb_cache = root / f"uv-direct-{label}", root / f"uv-seckb-{label}"
    direct_url, seckb_url = f"{upstream.url}/simple/", f"{seckb.url}/simple/"
    uv_compile(direct_url, requirements, direct_cache)  # warm uv's caches (and seckb's)
    uv_compile(seckb_url, requirements, seckb_cache)
    before = stats(upstream)["requests"]
    direct, through = [], []
    for _ in range(runs):  # interleaved, so both see the same machine
        direct.append(uv_compile(direct_url, requirements, direct_cache))
        through.append(uv_compile(seckb_url, requirements, seckb_cache))
    asked = stats(upstream)["requests"] - before
    return {
        "label": label,
        "fresh": fresh,
        "direct": statistics.median(direct),
        "seckb": statistics.median(through),
        "upstream_requests": asked,
    }


def print_resolution(result: dict[str, Any], runs: int) -> None:
    ratio = result["seckb"] / result["direct"]
    print(f"uv pip compile of {len(REQUIREMENTS)} requirements, warm caches, {result['label']}:")
    print(f"  uv straight to the upstream: {result['direct']:.3f} s (median of {runs})")
    print(f"  uv through seckb /simple/:   {result['seckb']:.3f} s")
    print(
        f"  ratio {ratio:.2f}x (target within 1.3x); the upstream answered "
        f"{result['upstream_requests']} requests during the timed runs"
    )


def build_home(root: Path, bundle: Path) -> Path:
    from aggregators.core.config import load_settings
    from aggregators.run.ingest import ingest

    home = root / "home"
    report = ingest(load_settings(env={}, home=home, advisory_db_url=str(bundle)), "advisories")
    assert report.snapshot is not None, report.failures
    return home


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, default=BUNDLE)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--latency-only", action="store_true", help="skip uv and memory")
    parser.add_argument(
        "--cache", type=Path, default=Path.home() / ".cache" / "seckb-bench" / "pypi-simple"
    )
    args = parser.parse_args()
    args.cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="seckb-index-bench-") as temp:
        root = Path(temp)
        home = build_home(root, args.bundle)
        print(f"data root from {args.bundle.name}; pages cached in {args.cache}")
        results = []
        for label, control, max_age in (
            ("every page revalidated (max-age=0 + ETag)", "max-age=0, must-revalidate", 0),
            ("pages fresh in uv's cache (max-age=600 / 60)", "max-age=600, public", 60),
        ):
            upstream = start_upstream(args.cache, control)
            seckb = start_seckb(home, f"{upstream.url}/simple/", max_age)
            try:
                if not results:
                    idle = seckb.rss_mib()
                    for project in BIG:
                        page_latency(upstream, seckb, project, args.clients, args.seconds)
                    if args.latency_only:
                        return
                results.append(
                    resolution(f"r{len(results)}", upstream, seckb, root, args.runs, max_age > 0)
                )
                results[-1]["label"] = label
                if len(results) == 1:
                    used = seckb.rss_mib()
                    cached = stats(upstream)
            finally:
                seckb.stop()
                upstream.stop()
        for result in results:
            print_resolution(result, args.runs)
        print("seckb serve memory:")
        print(f"  after start, snapshot loaded, index unused: RSS {idle:.0f} MiB (baseline)")
        print(
            f"  after the runs above ({cached['requests']} upstream requests): RSS {used:.0f} MiB"
            f" (+{used - idle:.0f} MiB of cached pages and renders; ratio {used / idle:.2f}x)"
        )


if __name__ == "__main__":
    if len(sys.argv) == 5 and sys.argv[1] == "--serve-upstream":
        run_upstream(Path(sys.argv[2]), int(sys.argv[3]), sys.argv[4])
    else:
        main()

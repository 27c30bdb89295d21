"""``seckb serve`` speed on the real advisory-db (2023-12 bundle) plus release lists (issue 11).

Builds a data root from the bundle and the PyPI release lists of all its packages, then runs a
real ``seckb serve`` process on loopback and measures, each against a baseline measured in the
same run:

* ``POST /v1/querybatch`` with 1,000 pins: server time (``Server-Timing``) cold and warm, against
  the same 1,000 pins asked one ``POST /v1/query`` at a time (what pip-audit does);
* ``POST /v1/query`` under 8 concurrent loopback clients: p50 and p99 latency and requests per
  second, against ``seckb query``'s own function (``clients.query.query``, reading Parquet) on
  the same pins in one process;
* the server's memory (RSS) with that snapshot loaded, against a server with no snapshot;
* ``pip-audit -s osv --osv-url`` on a 200-pin requirements file through the server, against
  ``seckb audit -r`` on the same file: whole-process times.

There is no PyPI here: the release lists are SYNTHESIZED — each package's releases are the
versions its advisories mention (listed versions and range events) — and served by a loopback
stand-in of PyPI's JSON API. Nothing leaves the machine.

Usage: .venv/bin/python benchmarks/serve_speed.py [--bundle PATH] [--seconds 5] [--clients 8]
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BUNDLE = ROOT.parent / "shared" / "data" / "advisory-db-2023.bundle"
BIN = Path(sys.executable).parent


def synthesized_pypi(snapshot: Any) -> dict[str, bytes]:
    """``/pypi/<name>/json`` documents: per package the versions its advisories mention."""
    from aggregators.core.versions import parse_version, version_sort_key

    versions: dict[str, set[str]] = defaultdict(set)
    affected = snapshot.read("affected_versions")
    for package, version in zip(
        affected.column("package").to_pylist(), affected.column("version").to_pylist(), strict=True
    ):
        versions[package].add(version)
    for row in snapshot.read("advisory_ranges").to_pylist():
        if row["range_type"] == "ECOSYSTEM" and row["valid"] and row["event"] != "limit":
            versions[row["package"]].add(row["version"])
    documents = {}
    for package, found in versions.items():
        ordered = sorted((v for v in found if v != "0" and parse_version(v)), key=version_sort_key)
        releases = {
            v: [
                {
                    "filename": f"{package}-{v}.tar.gz",
                    "packagetype": "sdist",
                    "url": f"/packages/{package}-{v}.tar.gz",
                    "digests": {"sha256": "0" * 64},
                    "size": 1000,
                    "upload_time_iso_8601": f"{2010 + i // 365}-01-01T00:00:00Z",
                    "yanked": False,
                    "requires_python": None,
                }
            ]
            for i, v in enumerate(ordered)
        }
        info = {"name": package, "version": ordered[-1] if ordered else None, "summary": ""}
        document = {"info": info, "last_serial": 1, "releases": releases, "urls": []}
        documents[f"/pypi/{package}/json"] = json.dumps(document).encode()
    return documents


def serve_documents(documents: dict[str, bytes]) -> ThreadingHTTPServer:
    """A loopback HTTP server answering GETs from ``documents`` (404 otherwise)."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            body = documents.get(self.path.split("?")[0])
            self.send_response(200 if body else 404)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def build_home(root: Path, bundle: Path) -> tuple[Path, Any]:
    """The bundle's advisories, then the synthesized PyPI releases of every package."""
    from aggregators.core.config import load_settings
    from aggregators.run.ingest import ingest

    home = root / "home"
    first = ingest(load_settings(env={}, home=home, advisory_db_url=str(bundle)), "advisories")
    server = serve_documents(synthesized_pypi(first.snapshot))
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}"
        settings = load_settings(env={}, home=home, advisory_db_url=str(bundle), pypi_url=url)
        second = ingest(settings, "pypi")
    finally:
        server.shutdown()
    return home, second.snapshot


class Server:
    """``seckb serve`` as a real process on a free loopback port."""

    def __init__(self, home: Path) -> None:
        import socket

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        env = {k: v for k, v in os.environ.items() if not k.startswith("SECKB_")}
        self.process = subprocess.Popen(
            [str(BIN / "seckb"), "serve", "--home", str(home), "--port", str(self.port)],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        self.url = f"http://127.0.0.1:{self.port}"
        deadline = time.monotonic() + 120
        while True:
            try:
                self.request("GET", "/healthz")
                return
            except OSError:
                if time.monotonic() > deadline or self.process.poll() is not None:
                    raise RuntimeError("seckb serve did not start") from None
                time.sleep(0.1)

    def request(
        self, method: str, path: str, body: bytes | None = None
    ) -> tuple[int, bytes, float]:
        """One request on a new connection: status, body, server time in ms."""
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            connection.request(method, path, body=body)
            response = connection.getresponse()
            data = response.read()
            timing = response.getheader("server-timing") or "app;dur=nan"
            return response.status, data, float(timing.split("dur=")[1])
        finally:
            connection.close()

    def rss_mib(self) -> tuple[float, float]:
        """Resident memory now and at its peak, in MiB."""
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        fields = dict(line.split(":", 1) for line in status.splitlines() if ":" in line)
        return int(fields["VmRSS"].split()[0]) / 1024, int(fields["VmHWM"].split()[0]) / 1024

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def query_body(package: str, version: str) -> bytes:
    return json.dumps(
        {"package": {"name": package, "ecosystem": "PyPI"}, "version": version}
    ).encode()


def batch_body(pins: list[tuple[str, str]]) -> bytes:
    queries = [{"package": {"name": p, "ecosystem": "PyPI"}, "version": v} for p, v in pins]
    return json.dumps({"queries": queries}).encode()


def querybatch(
    server: Server, pins: list[tuple[str, str]], unlisted: list[tuple[str, str]]
) -> None:
    """1,000 pins in one batch: cold, warm, and against one request per pin."""
    body = batch_body(pins)
    status, data, cold = server.request("POST", "/v1/querybatch", body)
    assert status == 200, data[:200]
    hits = sum(1 for r in json.loads(data)["results"] if r)
    warm = []
    for _ in range(5):
        started = time.perf_counter()
        _, _, took = server.request("POST", "/v1/querybatch", body)
        warm.append((took, (time.perf_counter() - started) * 1000))
    _, _, unlisted_cold = server.request("POST", "/v1/querybatch", batch_body(unlisted))
    started = time.perf_counter()
    singles = [server.request("POST", "/v1/query", query_body(p, v))[2] for p, v in pins]
    one_by_one = (time.perf_counter() - started) * 1000
    print(f"/v1/querybatch, {len(pins)} pins of listed releases ({hits} with advisories):")
    print(f"  server time, first call: {cold:.1f} ms   (target < 100 ms)")
    print(f"  server time, again (median of 5): {statistics.median(t for t, _ in warm):.1f} ms")
    print(f"  whole request on loopback: {statistics.median(w for _, w in warm):.1f} ms")
    print(
        f"  {len(unlisted)} pins of versions no release list has (x.y.post99), first call: "
        f"{unlisted_cold:.1f} ms (judged from the advisories' ranges, then memoized)"
    )
    print(
        f"  baseline: the same pins as {len(pins)} single /v1/query requests: {one_by_one:.0f} ms"
        f" (server time summed: {sum(singles):.0f} ms)"
    )
    print(
        f"  ratio: one batch is {one_by_one / max(cold, 0.001):.0f}x faster than a request per pin"
    )


def unlisted_pins(pins: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The same pins moved to a post-release no release list has (when that is PEP 440)."""
    from aggregators.core.versions import parse_version

    return [(p, v + ".post99") for p, v in pins if parse_version(v + ".post99")]


def load(server: Server, pins: list[tuple[str, str]], clients: int, seconds: float) -> list[float]:
    """Latencies (ms) of /v1/query from ``clients`` threads, each on its own kept-alive
    connection, for ``seconds``."""
    latencies: list[float] = []
    lock = threading.Lock()
    stop = time.monotonic() + seconds

    def client(seed: int) -> None:
        chooser = random.Random(seed)
        connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=30)
        mine = []
        while time.monotonic() < stop:
            package, version = chooser.choice(pins)
            started = time.perf_counter()
            connection.request("POST", "/v1/query", body=query_body(package, version))
            response = connection.getresponse()
            response.read()
            mine.append((time.perf_counter() - started) * 1000)
            assert response.status == 200
        connection.close()
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=client, args=(seed,)) for seed in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return latencies


def concurrent_queries(
    server: Server, snapshot: Any, pins: list[tuple[str, str]], clients: int, seconds: float
) -> None:
    from aggregators.clients.query import query

    load(server, pins, clients, 1.0)  # warm-up: connections, verdict cache
    latencies = sorted(load(server, pins, clients, seconds))
    p50 = latencies[len(latencies) // 2]
    p99 = latencies[int(len(latencies) * 0.99)]
    sample = pins[:300]
    started = time.perf_counter()
    direct = []
    for package, version in sample:
        begun = time.perf_counter()
        query(snapshot, package, version)
        direct.append((time.perf_counter() - begun) * 1000)
    print(f"/v1/query, {clients} concurrent loopback clients, {seconds:g} s, random pins:")
    print(
        f"  p50 {p50:.2f} ms (target < 5), p99 {p99:.2f} ms (target < 20), "
        f"{len(latencies) / seconds:.0f} requests/s ({len(latencies)} requests)"
    )
    mean = (time.perf_counter() - started) / len(sample) * 1000
    print(
        "  baseline: seckb query's function (clients.query.query) in-process, one pin at a time:"
        f" p50 {statistics.median(direct):.2f} ms ({mean:.2f} ms mean)"
    )
    ratio = statistics.median(direct) / p50
    print(f"  ratio: the server's p50 is {ratio:.1f}x lower than the in-process query's")


def memory(server: Server, root: Path) -> None:
    rss, peak = server.rss_mib()
    empty = Server(root / "empty-home")
    try:
        base_rss, _ = empty.rss_mib()
    finally:
        empty.stop()
    print("server memory:")
    print(
        f"  with the snapshot loaded (after the runs above): RSS {rss:.0f} MiB, peak {peak:.0f} MiB"
    )
    print(
        f"  baseline: the same server with no snapshot: RSS {base_rss:.0f} MiB "
        f"(the snapshot costs {rss - base_rss:.0f} MiB; ratio {rss / base_rss:.2f}x)"
    )


def timed(command: list[str]) -> tuple[float, int, str]:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, check=False)
    return time.perf_counter() - started, done.returncode, done.stderr


def pip_audit_versus_seckb_audit(server: Server, home: Path, snapshot: Any, root: Path) -> None:
    from aggregators.core.versions import parse_version

    records = {
        row["id"]: json.loads(row["record"])
        for row in snapshot.read("osv_records").select(["id", "record"]).to_pylist()
    }
    readable = {  # pip-audit fails on a record whose ECOSYSTEM fixed version is not PEP 440
        i
        for i, r in records.items()
        if all(
            parse_version(str(e["fixed"]))
            for a in r.get("affected") or []
            for g in a.get("ranges") or []
            if g.get("type") == "ECOSYSTEM"
            for e in g.get("events") or []
            if "fixed" in e
        )
    }
    named = defaultdict(set)
    for row in snapshot.read("advisory_packages").to_pylist():
        named[row["package"]].add(row["advisory_id"])
    packages = sorted(p for p, ids in named.items() if ids <= readable)
    releases = defaultdict(list)
    for row in snapshot.read("package_version_security").select(["package", "version"]).to_pylist():
        releases[row["package"]].append(row["version"])
    chooser = random.Random(200)
    pins = [
        (p, chooser.choice(releases[p]))
        for p in chooser.sample([p for p in packages if releases[p]], 200)
    ]
    requirements = root / "requirements-200.txt"
    requirements.write_text("".join(f"{p}=={v}\n" for p, v in pins), encoding="utf-8")
    audit = [
        str(BIN / "pip-audit"),
        "-r",
        str(requirements),
        "-s",
        "osv",
        "--osv-url",
        f"{server.url}/v1/query",
        "--no-deps",
        "--disable-pip",
        "-f",
        "json",
        "--progress-spinner",
        "off",
        "--cache-dir",
        str(root / "pip-audit-cache"),
    ]
    seckb = [str(BIN / "seckb"), "audit", "-r", str(requirements), "--json", "--home", str(home)]
    pip_times, seckb_times = [], []
    for _ in range(3):
        took, code, err = timed(audit)
        assert code in (0, 1), err[-500:]
        pip_times.append(took)
        took, code, err = timed(seckb)
        assert code == 0, err[-500:]
        seckb_times.append(took)
    pip_audit, own = statistics.median(pip_times), statistics.median(seckb_times)
    print("200 pins, whole processes (median of 3):")
    per_pin = pip_audit / 200 * 1000
    print(f"  pip-audit -s osv through seckb serve: {pip_audit:.2f} s ({per_pin:.1f} ms per pin)")
    print(f"  baseline: seckb audit -r on the same file: {own:.2f} s")
    print(f"  ratio: pip-audit through the server takes {pip_audit / own:.2f}x seckb audit's time")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, default=BUNDLE)
    parser.add_argument("--seconds", type=float, default=5.0)
    parser.add_argument("--clients", type=int, default=8)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="seckb-serve-bench-") as tmp:
        root = Path(tmp)
        started = time.perf_counter()
        home, snapshot = build_home(root, args.bundle)
        rows = snapshot.manifest["tables"]
        print(
            f"data root: {rows['advisories']['rows']} advisories, {rows['releases']['rows']} "
            f"synthesized releases of {rows['packages']['rows']} packages "
            f"(built in {time.perf_counter() - started:.1f} s); machine: {os.cpu_count()} CPUs"
        )
        pairs = sorted(
            {
                (r["package"], r["version"])
                for r in snapshot.read("package_version_security")
                .select(["package", "version"])
                .to_pylist()
            }
        )
        pins = random.Random(1000).sample(pairs, 1000)
        server = Server(home)
        try:
            querybatch(server, pins, unlisted_pins(pins))
            concurrent_queries(
                server, snapshot, random.Random(8).sample(pairs, 5000), args.clients, args.seconds
            )
            memory(server, root)
            pip_audit_versus_seckb_audit(server, home, snapshot, root)
        finally:
            server.stop()


if __name__ == "__main__":
    main()

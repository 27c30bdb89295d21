"""How a run's cost grows with the tracked set (issue 13): 1,000, 5,000 and 20,000 packages.

A loopback PyPI (its own process) serves synthetic projects with realistic release counts (a
long-tailed distribution: most projects have a handful of releases, a few have hundreds) and a
small sdist per release. For each size the pipeline runs twice in a fresh data root, each run in
its own process: the first run (PyPI, Bandit on the latest release of every project, publish)
and a no-change run. Printed per run: wall time, requests sent to PyPI, bytes written under the
data root, peak memory (max RSS of the run's process) and the knowledge-table build time; then
the per-package cost of each size against the smallest, measured in the same run (linear growth
keeps that ratio near 1).

Usage: .venv/bin/python benchmarks/scale.py [--sizes 1000,5000,20000] [--scan-latest 1]
"""

from __future__ import annotations

import argparse
import hashlib
import io
import json
import multiprocessing
import random
import socket
import subprocess
import sys
import tarfile
import tempfile
import textwrap
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import git

ROOT = Path(__file__).resolve().parents[1]

CONTENTS = [
    b"import subprocess\n\ndef run(cmd):\n    return subprocess.call(cmd, shell=True)\n",
    b"def add(a, b):\n    return a + b\n",
    b"import pickle\n\ndef load(data):\n    return pickle.loads(data)\n",
    b"PASSWORD = 'hunter2'\n",
]


def release_count(rng: random.Random) -> int:
    """A long-tailed release count: median about 8, a few projects with hundreds."""
    return max(1, min(400, int(rng.lognormvariate(2.1, 1.0))))


def sdist(name: str, version: str, content: bytes) -> bytes:
    """A .tar.gz with one module, built deterministically."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as archive:
        info = tarfile.TarInfo(f"{name}-{version}/{name.replace('-', '_')}.py")
        info.size, info.mtime = len(content), 0
        archive.addfile(info, io.BytesIO(content))
    return buffer.getvalue()


def serve(size: int, port_out: Any, counter: Any) -> None:
    """The loopback PyPI for ``size`` projects (runs in its own process)."""
    rng = random.Random(size)
    projects = {f"pkg-{i:05d}": release_count(rng) for i in range(size)}
    files: dict[str, bytes] = {}

    def document(name: str) -> bytes:
        releases = {}
        for n in range(projects[name]):
            version = f"{n // 10}.{n % 10}.0"
            filename = f"{name}-{version}.tar.gz"
            if filename not in files:
                files[filename] = sdist(name, version, CONTENTS[n % len(CONTENTS)])
            data = files[filename]
            releases[version] = [
                {
                    "filename": filename,
                    "packagetype": "sdist",
                    "url": f"/packages/{filename}",
                    "digests": {"sha256": hashlib.sha256(data).hexdigest()},
                    "size": len(data),
                    "upload_time_iso_8601": f"2020-01-01T00:00:{n % 60:02d}.000000Z",
                    "yanked": False,
                    "requires_python": ">=3.8",
                }
            ]
        info = {"name": name, "version": list(releases)[-1], "summary": "synthetic"}
        return json.dumps({"info": info, "last_serial": 7, "releases": releases}).encode()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def setup(self) -> None:
            super().setup()  # no Nagle: a small body leaves at once, as a real server's does
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def do_GET(self) -> None:
            with counter.get_lock():
                counter.value += 1
            parts = self.path.strip("/").split("/")
            body: bytes | None = None
            if len(parts) == 3 and parts[0] == "pypi" and parts[1] in projects:
                body = document(parts[1])
            elif len(parts) == 2 and parts[0] == "packages":
                body = files.get(parts[1])
            self.send_response(200 if body is not None else 404)
            self.send_header("Content-Length", str(len(body or b"")))
            self.end_headers()
            self.wfile.write(body or b"")

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    server.socket.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    port_out.value = server.server_address[1]
    server.serve_forever()


RUN = textwrap.dedent(
    """
    import json, logging, resource, sys, time
    from aggregators.core.config import load_settings
    from aggregators.run.ingest import ingest
    import aggregators.run.publish as publish
    spent = {"knowledge": 0.0}
    real = publish.assemble
    def timed(*args, **kwargs):
        started = time.monotonic()
        try:
            return real(*args, **kwargs)
        finally:
            spent["knowledge"] += time.monotonic() - started
    publish.assemble = timed
    from pathlib import Path
    settings = load_settings(env={}, config_file=Path(sys.argv[1]))
    started = time.monotonic()
    report = ingest(settings, "advisories,pypi,bandit")
    print(json.dumps({
        "seconds": time.monotonic() - started,
        "published": report.published,
        "failures": report.failures,
        "assemble_seconds": spent["knowledge"],
        "max_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }))
    """
)


def tree_state(path: Path) -> dict[str, tuple[int, int]]:
    """(size, mtime) of every file below ``path`` but the lock file (a run writes its pid)."""
    if not path.exists():
        return {}
    return {
        str(p): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in path.rglob("*")
        if p.is_file() and p.name != ".lock"
    }


def advisory_repo(root: Path) -> str:
    """A one-advisory git repository standing in for the advisory-db."""
    repo = git.Repo.init(root, initial_branch="main")
    path = root / "vulns" / "pkg-00000" / "PYSEC-0000-1.yaml"
    path.parent.mkdir(parents=True)
    path.write_text(
        "id: PYSEC-0000-1\nmodified: '2024-01-01T00:00:00Z'\naffected:\n- package:\n"
        "    name: pkg-00000\n    ecosystem: PyPI\n  ranges:\n  - type: ECOSYSTEM\n"
        "    events:\n    - introduced: '0'\n    - fixed: '0.5.0'\n"
    )
    repo.index.add([str(path.relative_to(root))])
    actor = git.Actor("bench", "bench@seckb.invalid")
    repo.index.commit("seed", author=actor, committer=actor)
    return str(root)


def one_run(config: Path, counter: Any, home: Path) -> dict[str, Any]:
    """Run the pipeline in a fresh process; add requests and bytes written to its figures."""
    before_requests, before = counter.value, tree_state(home)
    done = subprocess.run([sys.executable, "-c", RUN, str(config)], capture_output=True, text=True)
    if done.returncode != 0:
        raise SystemExit(f"the run failed:\n{done.stderr[-3000:]}")
    figures: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    figures["requests"] = counter.value - before_requests
    after = tree_state(home)
    changed = [p for p, state in after.items() if before.get(p) != state]
    figures["files_written"] = len(changed)
    figures["bytes_written"] = sum(after[p][0] for p in changed)
    return figures


def measure(size: int, scan_latest: int, work: Path) -> dict[str, dict[str, Any]]:
    """First and no-change run for ``size`` tracked packages."""
    port, counter = multiprocessing.Value("i", 0), multiprocessing.Value("l", 0)
    server = multiprocessing.Process(target=serve, args=(size, port, counter), daemon=True)
    server.start()
    while port.value == 0:
        time.sleep(0.05)
    home = work / f"home-{size}"
    names = [f"pkg-{i:05d}" for i in range(size)]
    config = work / f"seckb-{size}.toml"
    config.write_text(
        f"home = {json.dumps(str(home))}\n"
        f"advisory_db_url = {json.dumps(advisory_repo(work / f'adb-{size}'))}\n"
        f'pypi_url = "http://127.0.0.1:{port.value}"\n'
        f"scan_latest = {scan_latest}\npypi_concurrency = 16\n"
        f"watchlist = {json.dumps(names)}\n"
    )
    try:
        return {"first": one_run(config, counter, home), "again": one_run(config, counter, home)}
    finally:
        server.kill()


def main() -> None:
    """Measure every size and print the table and the growth ratios."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1000,5000,20000")
    parser.add_argument("--scan-latest", type=int, default=1)
    args = parser.parse_args()
    sizes = [int(s) for s in args.sizes.split(",")]
    results = {}
    with tempfile.TemporaryDirectory(prefix="seckb-scale-") as tmp:
        for size in sizes:
            results[size] = measure(size, args.scan_latest, Path(tmp))
            for run, f in results[size].items():
                print(
                    f"{size:>6} packages, {run:<5}: {f['seconds']:7.1f} s, "
                    f"{f['requests']:>6} requests, {f['bytes_written'] / 1e6:8.1f} MB written, "
                    f"peak {f['max_rss_mb']:7.0f} MiB, "
                    f"knowledge tables {f['assemble_seconds']:.2f} s, published={f['published']}",
                    flush=True,
                )
    base = sizes[0]
    for size in sizes[1:]:
        per = results[size]["first"]["seconds"] / size
        per_base = results[base]["first"]["seconds"] / base
        print(f"first run, cost per package at {size} vs {base}: {per / per_base:.2f}x")
    for size in sizes:
        again = results[size]["again"]
        print(
            f"no-change run at {size}: {again['requests'] / size:.2f} requests per package, "
            f"{again['files_written']} files and {again['bytes_written']} bytes written"
        )


if __name__ == "__main__":
    main()

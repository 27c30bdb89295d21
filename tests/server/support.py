"""Helpers of the server tests: run the app on a loopback port, build data roots, pick pins.

``running`` serves an app with uvicorn in a thread, on a socket bound to 127.0.0.1 port 0 before
the server starts (no port race). ``bundle_home`` builds a data root from the real advisory-db
bundle plus PyPI release lists served by a loopback stand-in: the releases of a package are the
versions its advisories mention (synthesized: there is no PyPI here), each with an sdist.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pyarrow.compute as pc
import requests
from fakes import json_reply, pypi_file, pypi_project, serving

from aggregators.clients.server.app import create_app, running
from aggregators.clients.server.holder import SnapshotHolder
from aggregators.clients.server.limits import Limits
from aggregators.core.config import load_settings
from aggregators.core.versions import parse_version, version_sort_key
from aggregators.core.workspace import Workspace
from aggregators.run.ingest import ingest
from aggregators.store.snapshots import Snapshot, SnapshotStore
from helpers import AdvisoryRepo, advisory_yaml

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
UV_PROJECT = FIXTURES / "uv-project"
BIN = Path(sys.executable).parent


def loopback_socket() -> socket.socket:
    """A listening-ready TCP socket bound to 127.0.0.1 on a free port."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    return sock


def free_port() -> int:
    """A port free on 127.0.0.1 right now (for a server started in another process)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextmanager
def serving_home(
    home: Path,
    snapshot_id: str | None = None,
    limits: Limits | None = None,
    page_size: int = 1000,
    poll_seconds: float = 0.1,
    max_age: timedelta = timedelta(hours=48),
    retry_seconds: float = 30.0,
) -> Iterator[str]:
    """``running`` over the data root ``home`` (following LATEST unless ``snapshot_id``)."""
    holder = SnapshotHolder(
        Workspace(home), snapshot_id, poll_seconds=poll_seconds, retry_seconds=retry_seconds
    )
    holder.open()
    app = create_app(holder, max_age=max_age, limits=limits, page_size=page_size)
    with running(app, limits) as url:
        yield url


def error_of(answer: requests.Response, status: int) -> str:
    assert answer.status_code == status, answer.text
    assert answer.headers["content-type"].startswith("application/json")
    body = answer.json()
    assert set(body) == {"code", "message"} and body["message"]
    message: str = body["message"]
    return message


def raw(url: str, request: bytes, timeout: float = 10) -> bytes:
    """Send raw bytes on a new connection; everything the server answers until it closes."""
    host, port = url.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=timeout) as sock:
        sock.sendall(request)
        chunks = []
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
    return b"".join(chunks)


def json_error(response: bytes, status: int) -> str:
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(f"HTTP/1.1 {status} ".encode()), head
    assert b"content-type: application/json" in head.lower()
    message: str = json.loads(body)["message"]
    return message


def latest(home: Path) -> Snapshot:
    """The latest snapshot of a data root."""
    snapshot = SnapshotStore(Workspace(home)).latest()
    assert snapshot is not None
    return snapshot


def mentioned_versions(snapshot: Snapshot) -> dict[str, list[str]]:
    """Per package, the PEP 440 versions its advisories mention (lists and range events)."""
    found: dict[str, set[str]] = defaultdict(set)
    affected = snapshot.read("affected_versions")
    assert affected is not None
    for package, version in zip(
        affected.column("package").to_pylist(), affected.column("version").to_pylist(), strict=True
    ):
        found[package].add(version)
    ranges = snapshot.read("advisory_ranges")
    assert ranges is not None
    for row in ranges.filter(pc.field("valid")).to_pylist():
        if row["range_type"] == "ECOSYSTEM" and row["event"] != "limit" and row["version"] != "0":
            found[row["package"]].add(row["version"])
    return {
        package: sorted((v for v in versions if parse_version(v)), key=version_sort_key)
        for package, versions in found.items()
    }


def pypi_document(name: str, versions: Sequence[str]) -> dict[str, Any]:
    """A PyPI JSON document listing ``versions`` (synthetic upload times, one sdist each)."""
    releases = {}
    for index, version in enumerate(versions):
        filename = f"{name}-{version}.tar.gz"
        digest = hashlib.sha256(filename.encode()).hexdigest()
        day = 1 + index % 28
        month = 1 + (index // 28) % 12
        year = 2010 + index // 336
        releases[version] = [
            pypi_file(filename, sha256=digest, uploaded=f"{year}-{month:02d}-{day:02d}T00:00:00Z")
        ]
    return pypi_project(name, releases)


@dataclass(frozen=True)
class BundleHome:
    """A data root built from the real bundle: advisories, then synthetic PyPI releases."""

    home: Path
    first: str
    """The advisories-only snapshot."""
    second: str
    """The latest snapshot: advisories carried forward, PyPI releases of ``packages``."""
    packages: tuple[str, ...]
    pins: tuple[tuple[str, str], ...]
    """Pinned vulnerable versions (:func:`vulnerable_pins`)."""


def build_bundle_home(root: Path, bundle: Path, pin_count: int) -> BundleHome:
    """Ingest the bundle, pick ``pin_count`` vulnerable pins, then ingest the PyPI releases of
    their packages and of the uv fixture's (the versions their advisories mention, plus the
    fixture's pins) from a loopback PyPI stand-in."""
    home = root / "home"
    settings = load_settings(env={}, home=home, advisory_db_url=str(bundle))
    report = ingest(settings, "advisories")
    assert report.snapshot is not None and not report.failures
    pins = vulnerable_pins(report.snapshot, pin_count)
    extra = uv_lock_pins()
    packages = sorted({p for p, _ in pins} | {p for p, _ in extra})
    mentioned = mentioned_versions(report.snapshot)
    with serving() as pypi:
        for name in packages:
            versions = set(mentioned.get(name, [])) | {v for p, v in extra if p == name}
            ordered = sorted(versions, key=version_sort_key)
            pypi.routes[f"/pypi/{name}/json"] = json_reply(pypi_document(name, ordered))
        with_pypi = load_settings(
            env={},
            home=home,
            advisory_db_url=str(bundle),
            pypi_url=pypi.url,
            http_attempts=1,
            watchlist=[p for p, _ in extra],  # the lock's packages no advisory names
        )
        second = ingest(with_pypi, "pypi", packages=packages)
    assert second.snapshot is not None, second.failures
    return BundleHome(home, report.snapshot.id, second.snapshot.id, tuple(packages), tuple(pins))


def uv_lock_pins() -> list[tuple[str, str]]:
    """``(name, version)`` of every registry package of the uv fixture's ``uv.lock``."""
    import tomllib

    lock = tomllib.loads((UV_PROJECT / "uv.lock").read_text(encoding="utf-8"))
    return [
        (p["name"], p["version"])
        for p in lock["package"]
        if isinstance(p.get("source"), dict) and "registry" in p["source"]
    ]


def records_of(snapshot: Snapshot) -> dict[str, dict[str, Any]]:
    """The OSV documents of a snapshot, parsed, by id."""
    table = snapshot.read("osv_records")
    assert table is not None
    return {
        row["id"]: json.loads(row["record"]) for row in table.select(["id", "record"]).to_pylist()
    }


def seckb(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> Any:
    """Run the real ``seckb`` command (a new process)."""
    return subprocess.run(
        [str(BIN / "seckb"), *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**clean_environment(), **(env or {})},
        check=False,
    )


def clean_environment() -> dict[str, str]:
    """This process's environment without ``SECKB_*`` variables."""
    return {k: v for k, v in os.environ.items() if not k.startswith("SECKB_")}


def _start_serve(home: Path, args: Sequence[str]) -> tuple[subprocess.Popen[str], str] | None:
    """Start ``seckb serve`` on a free port; ``None`` when it exits first (the port was taken
    between finding it free and binding it)."""
    port = free_port()
    command = [str(BIN / "seckb"), "serve", "--home", str(home), "--port", str(port), *args]
    process = subprocess.Popen(
        command, env=clean_environment(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while process.poll() is None:
        try:
            answer = requests.get(f"{url}/healthz", timeout=2)
            if "following_latest" in answer.json() and process.poll() is None:
                return process, url
        except (requests.ConnectionError, ValueError):
            pass
        assert time.monotonic() < deadline, "seckb serve did not answer within 60 s"
        time.sleep(0.1)
    _, errors = process.communicate()
    assert "address already in use" in errors.lower() or "Errno 98" in errors, errors[-2000:]
    return None


@contextmanager
def serve_process(home: Path, *args: str) -> Iterator[str]:
    """``seckb serve`` as a real process on a free loopback port; yield its base URL."""
    started = None
    for _ in range(5):
        started = _start_serve(home, args)
        if started is not None:
            break
    assert started is not None, "no free port could be bound"
    process, url = started
    try:
        yield url
    finally:
        process.terminate()
        try:
            process.communicate(timeout=20)
        except subprocess.TimeoutExpired:  # pragma: no cover - a stuck server
            process.kill()
            process.communicate()


def _pip_audit_reads(record: dict[str, Any]) -> bool:
    """Whether pip-audit can read ``record``: it parses every ECOSYSTEM ``fixed`` version with
    ``packaging.version.Version`` and fails on one that is not PEP 440."""
    for affected in record.get("affected") or []:
        for rng in affected.get("ranges") or []:
            if rng.get("type") != "ECOSYSTEM":
                continue
            for event in rng.get("events") or []:
                if "fixed" in event and parse_version(str(event["fixed"])) is None:
                    return False
    return True


def _alias_overlap(ids: Sequence[str], records: dict[str, dict[str, Any]]) -> bool:
    """Whether two of ``ids`` share an id or alias (pip-audit collapses such results into one,
    so its report names only one of them)."""
    seen: set[str] = set()
    for advisory_id in ids:
        names = {advisory_id, *records[advisory_id].get("aliases", [])}
        if seen & names:
            return True
        seen |= names
    return False


def vulnerable_pins(snapshot: Snapshot, count: int) -> list[tuple[str, str]]:
    """``count`` pins ``(package, version)`` of versions active advisories affect, spread over
    the packages of ``snapshot`` in name order: per package the version affected by the most
    advisories (the highest on a tie). Pins pip-audit cannot report faithfully are left out:
    advisories sharing an alias (it merges them) or a non-PEP 440 fixed version (it fails)."""
    records = records_of(snapshot)
    affected = snapshot.read("affected_versions")
    assert affected is not None
    active = affected.filter(pc.invert(affected.column("withdrawn"))).to_pylist()
    hits: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for row in active:
        hits[row["package"]][row["version"]].append(row["advisory_id"])
    candidates = []
    for package in sorted(hits):
        versions = hits[package]
        best = max(versions, key=lambda v: (len(versions[v]), version_sort_key(v)))
        ids = sorted(versions[best])
        if parse_version(best) is None or _alias_overlap(ids, records):
            continue
        if all(_pip_audit_reads(records[i]) for i in ids):
            candidates.append((package, best))
    step = max(1, len(candidates) // count)
    return candidates[::step][:count]


def write_requirements(path: Path, pins: Sequence[tuple[str, str]]) -> Path:
    """A requirements file of ``name==version`` lines."""
    path.write_text("".join(f"{p}=={v}\n" for p, v in pins), encoding="utf-8")
    return path


DEMO_CARD = {
    "date": "2026-11-16",
    "repo": {"name": "github.com/example/demo-web", "commit": "c0ffee"},
    "scorecard": {"version": "v5.1.1", "commit": "5c0e"},
    "score": 6.4,
    "checks": [
        {
            "name": name,
            "score": score,
            "reason": reason,
            "details": None,
            "documentation": {"short": name, "url": f"https://scorecard.dev/{name}"},
        }
        for name, score, reason in (
            ("Code-Review", 9, "found 27/30 approved changesets"),
            ("Maintained", 10, "30 commit(s) in the last 90 days"),
            ("Branch-Protection", 3, "branch protection is not maximal"),
            ("Dangerous-Workflow", 10, "no dangerous workflow patterns detected"),
            ("Fuzzing", 0, "project is not fuzzed"),
            ("Pinned-Dependencies", 4, "dependency not pinned by hash"),
            ("Security-Policy", 10, "security policy file detected"),
            ("Signed-Releases", -1, "no releases found"),
            ("Token-Permissions", 6, "detected GitHub workflow tokens with excessive permissions"),
            ("Vulnerabilities", 7, "3 existing vulnerabilities detected"),
        )
    ],
}
DEMO_RELEASES = (
    "0.9", "0.10", "0.10.1", "0.11", "0.12", "0.12.1", "0.12.2", "0.12.3", "1.0", "1.0.1",
    "1.0.2", "1.1.0", "1.1.1", "1.1.2", "2.0.0", "2.0.1", "2.0.2", "2.0.3", "2.1.0", "2.2.0",
    "2.2.1", "2.2.2", "2.3.0",
)  # fmt: skip
DEMO_CODE = {
    "demo_web/app.py": (
        "import subprocess\n\ndef run(cmd):\n    return subprocess.call(cmd, shell=True)\n"
    ),
    "demo_web/views.py": "def render(x):\n    return eval(x)\n",
    "tests/test_app.py": "assert True\n",
}


def _demo_advisories(repo: AdvisoryRepo) -> None:
    high = "severity:\n- type: CVSS_V3\n  score: CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N\n"
    medium = "severity:\n- type: CVSS_V3\n  score: CVSS:3.1/AV:N/AC:H/PR:N/UI:R/S:U/C:L/I:L/A:N\n"
    demo = "demo-web"
    for advisory_id, introduced, fixed, extra in (
        ("DEMO-2018-1", "0", "0.12.3", high),
        ("DEMO-2019-2", "0.11", "0.12.2", medium),
        ("DEMO-2021-3", "1.1.0", "1.1.2", high),
        ("DEMO-2022-4", "2.0.0", "2.0.2", medium),
        ("DEMO-2023-5", "2.3.0", None, ""),
    ):
        text = advisory_yaml(advisory_id, demo, introduced=introduced, fixed=fixed, extra=extra)
        if advisory_id == "DEMO-2023-5":
            text = text.replace(
                "details:", "summary: <script>alert(1)</script> in templates\ndetails:"
            )
        repo.write(f"vulns/{demo}/{advisory_id}.yaml", text)
    withdrawn = advisory_yaml(
        "DEMO-2020-9", demo, introduced="0", fixed="2.0.0", withdrawn="2021-01-01T00:00:00Z"
    )
    repo.write(f"vulns/{demo}/DEMO-2020-9.yaml", withdrawn)
    repo.commit()


def build_demo_home(root: Path) -> Path:
    """A data root with all four sources for one package, ``demo-web``: five advisories (one
    withdrawn besides), 23 releases over five years, Bandit on the latest three sdists, and a
    Scorecard result. Loopback stand-ins for PyPI and the Scorecard API."""
    from fakes import Reply, make_sdist

    repo = AdvisoryRepo(root / "advisory-db")
    _demo_advisories(repo)
    with serving() as pypi, serving() as scorecard:
        releases = {}
        for index, version in enumerate(DEMO_RELEASES):
            filename = f"demo-web-{version}.tar.gz"
            data = make_sdist("demo-web", version, DEMO_CODE)
            pypi.routes[f"/packages/{filename}"] = Reply(200, data)
            uploaded = f"{2018 + index // 5}-{1 + (index % 5) * 2:02d}-15T10:00:00Z"
            digest = hashlib.sha256(data).hexdigest()
            releases[version] = [
                pypi_file(filename, sha256=digest, size=len(data), uploaded=uploaded)
            ]
        releases["1.1.0"][0]["yanked"] = True
        document = pypi_project(
            "demo-web", releases, project_urls={"Source": "https://github.com/example/demo-web"}
        )
        pypi.routes["/pypi/demo-web/json"] = json_reply(document)
        scorecard.routes["/projects/github.com/example/demo-web"] = json_reply(DEMO_CARD)
        settings = load_settings(
            env={},
            home=root / "home",
            advisory_db_url=repo.url,
            pypi_url=pypi.url,
            scorecard_url=scorecard.url,
            scan_latest=3,
            http_attempts=1,
        )
        report = ingest(settings)
        assert report.snapshot is not None and not report.failures, report.failures
    return root / "home"

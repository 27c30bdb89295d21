"""Real parts for the index tests: wheels built here, a real index server (pypiserver) serving
them on loopback, an advisory-db naming them, and seckb's index in front.

The projects (tiny pure-Python wheels, written as zip files the way a build backend writes them):

* ``vulnlib`` 1.0, 1.1, 1.2, 2.0 — TEST-2024-1 (High) affects < 1.2, TEST-2024-2 (unscored)
  affects >= 2.0: the greatest unblocked release is 1.2;
* ``app`` 1.0 (needs ``vulnlib>=1.0``) and 2.0 (needs ``vulnlib==2.0``, a blocked release): a
  resolver that cannot use vulnlib 2.0 must backtrack to app 1.0;
* ``lowsev`` 1.0, 1.1 — TEST-2024-3 (Low) affects 1.1;
* ``plainpkg`` 1.0, 2.0 — no advisory names it: its pages pass through unchanged.
"""

from __future__ import annotations

import base64
import hashlib
import io
import os
import subprocess
import sys
import time
import zipfile
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import requests
from server.support import free_port, running

from aggregators.clients.server.app import create_app
from aggregators.clients.server.holder import SnapshotHolder
from aggregators.clients.server.index import PackageIndex
from aggregators.core.config import Settings, load_settings
from aggregators.core.workspace import Workspace
from aggregators.run.ingest import ingest
from helpers import AdvisoryRepo, advisory_yaml

BIN = Path(sys.executable).parent
HIGH = "severity:\n- type: CVSS_V3\n  score: CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:N/A:N\n"
LOW = "severity:\n- type: CVSS_V3\n  score: CVSS:3.1/AV:N/AC:H/PR:H/UI:R/S:U/C:L/I:N/A:N\n"
PROJECTS: dict[str, dict[str, tuple[str, ...]]] = {
    "vulnlib": {"1.0": (), "1.1": (), "1.2": (), "2.0": ()},
    "app": {"1.0": ("vulnlib>=1.0",), "2.0": ("vulnlib==2.0",)},
    "lowsev": {"1.0": (), "1.1": ()},
    "plainpkg": {"1.0": (), "2.0": ()},
}


def wheel_bytes(name: str, version: str, requires: Sequence[str] = ()) -> bytes:
    """A valid pure-Python wheel of ``name`` ``version`` (one module, its dist-info)."""
    module = name.replace("-", "_")
    dist_info = f"{module}-{version}.dist-info"
    metadata = (
        f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
        + "".join(f"Requires-Dist: {r}\n" for r in requires)
        + "Requires-Python: >=3.8\n"
    )
    files = {
        f"{module}/__init__.py": f'__version__ = "{version}"\n',
        f"{dist_info}/METADATA": metadata,
        f"{dist_info}/WHEEL": (
            "Wheel-Version: 1.0\nGenerator: seckb-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
    }
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{path},sha256={digest.decode()},{len(text.encode())}")
    record.append(f"{dist_info}/RECORD,,")
    files[f"{dist_info}/RECORD"] = "\n".join(record) + "\n"
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for path, text in files.items():
            archive.writestr(zipfile.ZipInfo(path, (2024, 1, 1, 0, 0, 0)), text)
    return buffer.getvalue()


def write_wheels(folder: Path, projects: dict[str, dict[str, tuple[str, ...]]]) -> Path:
    """The wheels of ``projects`` in ``folder`` (pypiserver's package directory)."""
    folder.mkdir(parents=True, exist_ok=True)
    for name, versions in projects.items():
        for version, requires in versions.items():
            filename = f"{name.replace('-', '_')}-{version}-py3-none-any.whl"
            (folder / filename).write_bytes(wheel_bytes(name, version, requires))
    return folder


def index_advisories(repo: AdvisoryRepo) -> None:
    """The test advisory-db naming the projects."""
    repo.write(
        "vulns/vulnlib/TEST-2024-1.yaml",
        advisory_yaml("TEST-2024-1", "vulnlib", introduced="0", fixed="1.2", extra=HIGH),
    )
    repo.write(
        "vulns/vulnlib/TEST-2024-2.yaml",
        advisory_yaml("TEST-2024-2", "vulnlib", introduced="2.0", fixed=None),
    )
    repo.write(
        "vulns/lowsev/TEST-2024-3.yaml",
        advisory_yaml("TEST-2024-3", "lowsev", introduced="1.1", fixed=None, extra=LOW),
    )
    repo.commit("test advisories")


@contextmanager
def pypiserver(packages: Path) -> Iterator[str]:
    """pypiserver serving ``packages`` on a free loopback port (no fallback to PyPI); yields
    its index URL (``http://127.0.0.1:PORT/simple/``)."""
    for _attempt in range(5):
        port = free_port()
        command = [
            str(BIN / "pypi-server"),
            "run",
            "-p",
            str(port),
            "-i",
            "127.0.0.1",
            "--disable-fallback",
            "-a",
            ".",
            "-P",
            ".",
            "--log-stream",
            "none",
            str(packages),
        ]
        process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        url = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while process.poll() is None and time.monotonic() < deadline:
            try:
                if requests.get(f"{url}/health", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.1)
        if process.poll() is None:
            try:
                yield f"{url}/simple/"
            finally:
                process.terminate()
                process.wait(timeout=20)
            return
    raise AssertionError("pypiserver did not start")


@dataclass(frozen=True)
class IndexHome:
    """A data root whose snapshot holds the test advisories."""

    home: Path
    advisory_db: str


def build_index_home(root: Path) -> IndexHome:
    """Ingest the test advisory-db into a new data root."""
    repo = AdvisoryRepo(root / "advisory-db")
    index_advisories(repo)
    settings = load_settings(env={}, home=root / "home", advisory_db_url=repo.url)
    report = ingest(settings, "advisories")
    assert report.snapshot is not None, report.failures
    return IndexHome(root / "home", repo.url)


def index_settings(home: Path, upstream: str, **overrides: object) -> Settings:
    """Settings of an index over ``upstream`` (short timeouts: a test is waiting)."""
    values: dict[str, object] = {
        "home": home,
        "index_upstreams": [upstream],
        "index_timeout_seconds": 3,
        "index_attempts": 1,
    }
    values.update(overrides)
    return load_settings(env={}, **values)


@contextmanager
def serving_index(settings: Settings, poll_seconds: float = 0.1) -> Iterator[str]:
    """seckb's server (index included) over ``settings``' data root, in a thread."""
    holder = SnapshotHolder(Workspace(settings.home), poll_seconds=poll_seconds)
    holder.open()
    with running(create_app(holder, index=PackageIndex.from_settings(settings))) as url:
        yield url


def client_environment(home: Path) -> dict[str, str]:
    """An environment for pip and uv that reads no configuration of this machine's (pip.conf,
    PIP_* and UV_* variables): only the index each command is given."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("PIP_", "UV_", "SECKB_", "VIRTUAL_ENV"))
    }
    env.update(
        {
            "HOME": str(home),
            "PIP_CONFIG_FILE": os.devnull,
            "PIP_DISABLE_PIP_VERSION_CHECK": "1",
            "UV_NO_CONFIG": "1",
            "XDG_CONFIG_HOME": str(home / ".config"),
            "XDG_CACHE_HOME": str(home / ".cache"),
        }
    )
    return env

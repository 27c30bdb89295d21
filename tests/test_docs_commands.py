"""Every shell command the manual shows is run here as written, or named in ``ELSEWHERE`` with
the test that runs it (or why it cannot run on a machine without Docker or the internet).

Run here: in a scratch directory holding the files the commands name (``requirements.txt``,
``bom.json``, a uv project), against a data root built from the real advisory-db bundle and
popularity dataset, with ``seckb serve`` started where a page starts it. Only what a reader
must fill in is replaced: a snapshot id where the page shows an example id, the optional
``[...]`` brackets of a synopsis, and port 8080 by a free one (so a busy 8080 fails nothing).
A command passes with exit 0, or 1 where 1 is its documented verdict (a finding, a plan, a
release nobody lists); 2 is an error and fails the test with the page and the line.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests

from helpers import ROOT

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHARED = ROOT.parent / "shared" / "data"
BIN = ROOT / ".venv" / "bin"
BLOCK = re.compile(r"```(?:sh|bash|console|shell)\n(.*?)```", re.S)
EXAMPLE_IDS = ("20261121T030000Z-1a2b3c",)
PAGES_ELSEWHERE = {"docs/getting-started.md": "tests/test_docs.py runs the tour as written"}
ELSEWHERE: dict[str, str] = {
    "scripts/test.sh": "CI itself: .ci/run execs it on a clean clone",
    "scripts/ingest.sh  ": "the default run needs GitHub: test_project checks its failure mode",
    ".venv/bin/seckb ingest": "tests/test_docs.py runs the getting-started tour",
    "export SECKB_OSV_REPOSITORIES=": "needs GitHub: tests/sources/advisories/"
    "test_osv_repositories.py reads the same folders from a local repository",
    ".venv/bin/pip install -e": "scripts/bootstrap.sh installs these extras",
    "export AIRFLOW_HOME=": "tests/dags set the same Airflow variables for dag.test()",
    ".venv/bin/airflow": "needs a metadata database: tests/dags run the DAG (dag.test())",
    "docker compose": "no Docker engine: tests/test_compose.py checks the compose files statically",
    ".venv/bin/pytest": "development: the test suite itself",
    ".venv/bin/lint-imports": "tests/test_architecture.py checks the same layer contracts",
    ".venv/bin/python benchmarks/": "benchmarks are run by hand; their figures are in the issues",
    ".venv/bin/python scripts/docs_reference.py": "tests/test_project.py runs it with --check",
    ".venv/bin/mkdocs": "tests/test_docs.py builds the manual with --strict",
    "scripts/verify_celery.sh": "starts PostgreSQL, Redis and Celery workers: run by hand",
    "seckb fix": "uv resolves through PyPI: tests/fix run the same commands on a loopback index",
    ".venv/bin/seckb fix": "uv resolves through PyPI: tests/fix run them on a loopback index",
    "pip install --index-url": "tests/index/test_clients.py: real pip through the index",
    "pip config set": "changes the user's pip configuration: not run by a test",
    "PIP_INDEX_URL=": "tests/index/test_clients.py: real pip through the index",
    "uv pip compile": "tests/index/test_clients.py: real uv through the index",
    "UV_DEFAULT_INDEX=": "tests/index/test_clients.py: real uv through the index",
    "poetry source add": "poetry is not installed here (documented for its users)",
    "SNAP=": "no duckdb CLI: tests/test_duckdb_file.py runs the prepared statement in DuckDB",
    "duckdb -c": "no duckdb CLI: tests/test_duckdb_file.py runs the prepared statement in DuckDB",
    ".venv/bin/st ": "tests/server/test_openapi_contract.py runs Schemathesis with this config",
    "seckb query flask 0.12.2 --from s3://": "tests/store/test_remote_readers.py (loopback S3)",
    "SECKB_SNAPSHOT_URL=s3://": "tests/store/test_remote_readers.py (loopback S3)",
    'seckb sql "SELECT count(*) FROM advisories" --from s3://': "tests/store/test_remote_readers",
}
REQUIREMENTS = "flask==0.12.2\nrequests==2.19.0\n"
BOM = """{"bomFormat": "CycloneDX", "specVersion": "1.5", "version": 1,
 "metadata": {"component": {"type": "application", "name": "shop", "version": "1.4.2"}},
 "components": [{"type": "library", "name": "flask", "version": "2.2.0",
                 "purl": "pkg:pypi/flask@2.2.0"}]}
"""


def command_lines() -> Iterator[tuple[str, str]]:
    """(page, command) for every line of the manual's shell blocks (continuations joined)."""
    for page in DOCS:
        for block in BLOCK.findall(page.read_text(encoding="utf-8")):
            pending = ""
            for line in block.replace("\\\n", " ").splitlines():
                pending = f"{pending}\n{line}" if pending else line
                try:
                    shlex.split(pending, comments=True)
                except ValueError:  # a quotation that goes on on the next line
                    continue
                if pending.strip() and not pending.lstrip().startswith("#"):
                    yield page.relative_to(ROOT).as_posix(), pending.strip()
                pending = ""


def _elsewhere(page: str, line: str) -> str | None:
    if page in PAGES_ELSEWHERE:
        return PAGES_ELSEWHERE[page]
    return next((why for prefix, why in ELSEWHERE.items() if line.startswith(prefix)), None)


def test_every_command_of_the_manual_is_run_or_accounted_for() -> None:
    lines = list(command_lines())
    assert len(lines) > 60, lines
    for page, line in lines:
        assert _elsewhere(page, line) or _runnable(line), f"{page}: nothing runs `{line}`"


def _program(line: str) -> str:
    """The program a line runs (after any ``NAME=value`` assignments)."""
    words = shlex.split(line, comments=True)
    while words and "=" in words[0]:
        words = words[1:]
    return words[0] if words else ""


def _runnable(line: str) -> bool:
    return _program(line) in (
        "seckb", ".venv/bin/seckb", "curl", "pip-audit", "uv", "scripts/ingest.sh"
    )  # fmt: skip


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Scratch:
    """The reader's shell: a working directory, a data root and the environment."""

    def __init__(self, directory: Path) -> None:
        self.cwd = directory / "work"
        self.cwd.mkdir()
        (self.cwd / ".venv").symlink_to(ROOT / ".venv")
        (self.cwd / "requirements.txt").write_text(REQUIREMENTS, encoding="utf-8")
        (self.cwd / "bom.json").write_text(BOM, encoding="utf-8")
        for name in ("pyproject.toml", "uv.lock"):  # the project `uv audit --frozen` reads
            shutil.copy(ROOT / "tests/server/fixtures/uv-project" / name, self.cwd / name)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("SECKB_", "PIP_", "UV_"))}
        self.env = {
            **env,
            "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
            "SECKB_HOME": str(directory / "home"),
            "SECKB_ADVISORY_DB_URL": str(SHARED / "advisory-db-2023.bundle"),
            "SECKB_POPULARITY_URL": str(SHARED / "top-pypi-packages-2026-04.min.json"),
            "SECKB_API_TOKEN": "docs-token",
            "UV_CACHE_DIR": str(directory / "uv-cache"),
            "PIP_AUDIT_CACHE_DIR": str(directory / "pip-audit-cache"),
            "UV_PYTHON_DOWNLOADS": "never",
            "UV_NO_CONFIG": "1",
            "HOME": str(directory),
        }
        self.port = _free_port()
        self.servers: list[subprocess.Popen[bytes]] = []
        self.ids: list[str] = []

    def fill_in(self, line: str) -> str:
        """The line as a reader would type it here."""
        previous, latest = self.ids[-2], self.ids[-1]
        for example in EXAMPLE_IDS:
            line = line.replace(example, previous)
        line = line.replace(" OLD NEW", f" {previous} {latest}")
        line = line.replace("--snapshot ID", f"--snapshot {latest}")
        line = re.sub(r"\[(--[^\]]+)\]", r"\1", line)
        return line.replace("8080", str(self.port))

    def run(self, line: str) -> subprocess.CompletedProcess[str]:
        """Run one line in bash; a server line starts the server and waits until it answers."""
        words = shlex.split(line, comments=True)
        if words[:2] in (["seckb", "serve"], [".venv/bin/seckb", "serve"]):
            return self.serve(line)
        here = ROOT if _program(line).startswith("scripts/") else self.cwd  # paths from the clone
        return subprocess.run(
            ["bash", "-c", line], cwd=here, env=self.env, capture_output=True, text=True,
            timeout=300,
        )  # fmt: skip

    def serve(self, line: str) -> subprocess.CompletedProcess[str]:
        self.stop()
        command = line.split("#", 1)[0].strip().rstrip("&").strip()
        if "--port" not in command:
            command += f" --port {self.port}"
        server = subprocess.Popen(["bash", "-c", f"exec {command}"], cwd=self.cwd, env=self.env)
        self.servers.append(server)
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and server.poll() is None:
            try:
                if requests.get(f"http://127.0.0.1:{self.port}/healthz", timeout=2).ok:
                    return subprocess.CompletedProcess(command, 0, "", "")
            except requests.ConnectionError:
                time.sleep(0.2)
        return subprocess.CompletedProcess(command, 2, "", f"{command}: did not answer")

    def stop(self) -> None:
        for server in self.servers:
            server.terminate()
            server.wait(timeout=30)
        self.servers.clear()


@pytest.mark.skipif(
    not (SHARED / "advisory-db-2023.bundle").is_file(),
    reason=f"the advisory-db bundle and popularity dataset are not in {SHARED}",
)
def test_the_manuals_commands_run_as_written(tmp_path: Path) -> None:
    shell = Scratch(tmp_path)
    for sources in ("advisories", "popularity"):  # two snapshots, for diff and --snapshot
        done = shell.run(f"seckb ingest --sources {sources}")
        assert done.returncode == 0, done.stderr
    home = Path(shell.env["SECKB_HOME"]) / "snapshots"
    shell.ids = sorted(p.name for p in home.iterdir() if p.is_dir())
    failures: list[str] = []
    ran = 0
    try:
        for page, line in command_lines():
            if _elsewhere(page, line) or not _runnable(line):
                continue
            typed = shell.fill_in(line)
            done = shell.run(typed)
            ran += 1
            if done.returncode not in (0, 1) or "Traceback" in done.stderr:
                failures.append(f"{page}: `{typed}` exit {done.returncode}: {done.stderr[-400:]}")
    finally:
        shell.stop()
    assert not failures, "\n".join(failures)
    assert ran >= 35, ran

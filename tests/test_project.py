"""The project's own files: packaging metadata, the install script, documented names and
commands, and the manual's generated references."""

from __future__ import annotations

import dataclasses
import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from aggregators.cli.main import build_parser
from aggregators.core.config import Settings
from helpers import ROOT

PYPROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
README = (ROOT / "README.md").read_text(encoding="utf-8")
DOCS = sorted((ROOT / "docs").glob("*.md"))
MANUAL = README + "".join(page.read_text(encoding="utf-8") for page in DOCS)
"""The README and every page of the manual."""


def test_the_license_is_an_spdx_expression_with_a_setuptools_that_reads_it() -> None:
    """The `project.license` table is deprecated (53 lines of warnings on every install)."""
    assert PYPROJECT["project"]["license"] == "Apache-2.0"
    requires = PYPROJECT["build-system"]["requires"]
    (setuptools,) = [r for r in requires if r.startswith("setuptools")]
    version = re.search(r">=\s*(\d+)", setuptools)
    assert version is not None and int(version.group(1)) >= 77, setuptools


def test_every_seckb_variable_the_project_mentions_is_a_setting() -> None:
    """No documented SECKB_* name is rejected by the CLI (SECKB_OFFLINE was)."""
    known = {f"SECKB_{f.name.upper()}" for f in dataclasses.fields(Settings)} | {"SECKB_CONFIG"}
    for path in (
        "pyproject.toml",
        "README.md",
        *(str(page.relative_to(ROOT)) for page in DOCS),
        ".env.example",
        "docker-compose.yml",
        "docker-compose.celery.yml",
        "Dockerfile",
        "scripts/ingest.sh",
        "scripts/test.sh",
    ):
        text = (ROOT / path).read_text(encoding="utf-8")
        unknown = sorted(set(re.findall(r"\bSECKB_[A-Z0-9_]*[A-Z0-9]\b", text)) - known)
        assert unknown == [], f"{path} mentions {unknown}"


def test_network_tests_are_skipped_when_ci_is_set(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.util

    spec = importlib.util.spec_from_file_location("root_conftest", ROOT / "tests" / "conftest.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)

    class Item:
        def __init__(self, *marks: str) -> None:
            self.keywords = dict.fromkeys(marks, True)
            self.added: list[object] = []

        def add_marker(self, marker: object) -> None:
            self.added.append(marker)

    online, offline = Item("network"), Item()
    monkeypatch.setenv("CI", "1")
    module.pytest_collection_modifyitems(None, [online, offline])
    assert len(online.added) == 1 and offline.added == []
    monkeypatch.delenv("CI")
    online = Item("network")
    module.pytest_collection_modifyitems(None, [online])
    assert online.added == []


def _bootstrap_copy(tmp_path: Path, exit_code: int = 0) -> tuple[Path, Path]:
    """scripts/bootstrap.sh in a copy of the project whose .venv python only logs its calls."""
    project = tmp_path / "project"
    (project / "scripts").mkdir(parents=True)
    shutil.copy(ROOT / "scripts" / "bootstrap.sh", project / "scripts" / "bootstrap.sh")
    (project / "pyproject.toml").write_text('[project]\nname = "x"\n')
    calls = tmp_path / "calls.log"
    fake = project / ".venv" / "bin" / "python"
    fake.parent.mkdir(parents=True)
    fake.write_text(
        f'#!/bin/sh\necho "$*" >> {calls}\necho "setuptools says a lot" \nexit {exit_code}\n'
    )
    fake.chmod(0o755)
    return project, calls


def _bootstrap(project: Path, *extras: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHON": sys.executable}
    env.pop("SECKB_REINSTALL", None)
    return subprocess.run(
        ["bash", str(project / "scripts" / "bootstrap.sh"), *extras],
        capture_output=True,
        text=True,
        env=env,
        timeout=60,
    )


def test_bootstrap_installs_only_when_needed_and_quietly(tmp_path: Path) -> None:
    project, calls = _bootstrap_copy(tmp_path)
    first = _bootstrap(project)
    assert first.returncode == 0 and first.stdout == "" and first.stderr == ""  # quiet
    assert calls.read_text().count("pip install") == 1
    again = _bootstrap(project)
    assert again.returncode == 0 and again.stdout == again.stderr == ""
    assert calls.read_text().count("pip install") == 1  # nothing changed: no install
    _bootstrap(project, "dev", "airflow")  # other extras: installed once
    _bootstrap(project, "dev", "airflow")
    assert calls.read_text().count("pip install") == 2
    assert f"-e {project}[dev,airflow]" in calls.read_text()
    (project / "pyproject.toml").write_text('[project]\nname = "x"\nversion = "2"\n')
    _bootstrap(project)
    assert calls.read_text().count("pip install") == 3  # pyproject.toml changed


def test_bootstrap_shows_pip_only_when_the_install_fails(tmp_path: Path) -> None:
    project, _calls = _bootstrap_copy(tmp_path, exit_code=1)
    failed = _bootstrap(project)
    assert failed.returncode == 1
    assert "setuptools says a lot" in failed.stderr and "installing seckb" in failed.stderr
    assert not list((project / ".venv").glob(".seckb-installed-*"))  # retried next time


def test_the_manual_references_are_generated_from_the_code() -> None:
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "docs_reference.py"), "--check"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    sys.path.insert(0, str(ROOT / "scripts"))
    import docs_reference

    tables = docs_reference.TABLES.read_text(encoding="utf-8")
    stale = tables.replace("| `id` | `string` | no |", "| `id` | `string` | yes |", 1)
    assert stale != tables and docs_reference.update(stale) == tables  # a stale block is caught
    block = tables.split(docs_reference.BEGIN)[1].split(docs_reference.END)[0]
    for name in ("advisory_count", "upload_time", "summary", "is_pep440", "sdist_sha256"):
        assert f"`{name}`" in block, name
    assert "bandit_cache" not in block  # internal, not published
    settings = docs_reference.CONFIGURATION.read_text(encoding="utf-8")
    for field in dataclasses.fields(Settings):
        assert f"| `{field.name}` | `SECKB_{field.name.upper()}` |" in settings, field.name


def _readme_seckb_commands() -> list[list[str]]:
    """``seckb ...`` lines of the shell examples (```sh blocks) of the README and the manual."""
    found, inside, pending = [], False, ""
    for line in MANUAL.splitlines():
        if line.startswith("```"):
            inside, pending = not inside and line.strip() == "```sh", ""
            continue
        if not inside:
            continue
        if line.rstrip().endswith("\\"):  # a continued line
            pending += line.rstrip()[:-1] + " "
            continue
        command = (pending + line).split(" #")[0].strip()
        pending = ""
        if command.startswith(("seckb ", ".venv/bin/seckb ")) and "[" not in command.split(" #")[0]:
            words = shlex.split(command)[1:]
            ends = [i for i, w in enumerate(words) if w in (">", "&", "|", "&&", "||", "2>")]
            found.append(words[: ends[0]] if ends else words)
    return found


def test_the_readme_seckb_command_lines_parse() -> None:
    commands = _readme_seckb_commands()
    assert len(commands) >= 8, commands
    for words in commands:
        try:
            build_parser().parse_args(words)
        except SystemExit as exc:
            raise AssertionError(f"the manual: seckb {' '.join(words)} does not parse") from exc
    for needed in (["errors", "--source", "advisories"], ["report", "--html", "report.html"]):
        assert any(words[: len(needed)] == needed for words in commands), needed

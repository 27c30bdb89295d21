"""The manual's package-index example, on the real PyPI (marked ``network``: skipped in CI).

A real ``seckb serve`` over the 2023 advisory-db bundle, in front of pypi.org; real uv resolves
the README's ``requirements.in`` straight to PyPI and through the index: straight, three pins
come out vulnerable; through the index, ``flask<2`` admits no release and uv names the
advisories; relaxed, the set resolves and ``seckb audit`` finds no vulnerable pin."""

from __future__ import annotations

import json
import re
import subprocess
from pathlib import Path

import pytest
from index.support import BIN, client_environment
from server.support import ROOT, seckb, serve_process

from helpers import BUNDLE

pytestmark = [pytest.mark.network, pytest.mark.slow]


def readme_requirements() -> str:
    """The ``requirements.in`` block of the manual's package-index page."""
    text = (ROOT / "docs" / "package-index.md").read_text(encoding="utf-8")
    found = re.search(r"```text\n# requirements.in\n(.*?)```", text, re.S)
    assert found, "the package-index page's example requirements.in"
    return found.group(1)


def compile_(index: str, requirements: Path, home: Path) -> subprocess.CompletedProcess[str]:
    command = [
        str(BIN / "uv"),
        "pip",
        "compile",
        str(requirements),
        "--index-url",
        index,
        "--python-version",
        "3.11",
        "--no-header",
        "--no-annotate",
        "--cache-dir",
        str(home / "uv-cache"),
    ]
    return subprocess.run(
        command, capture_output=True, text=True, env=client_environment(home), timeout=600
    )


def vulnerable(pins: str, data: Path, tmp_path: Path) -> dict[str, list[str]]:
    locked = tmp_path / "requirements.txt"
    locked.write_text(pins, encoding="utf-8")
    done = seckb("audit", "-r", str(locked), "--json", "--home", str(data))
    assert done.returncode == 0, done.stderr
    document = json.loads(done.stdout)
    return {p["package"]: p["advisories"] for p in document["packages"] if p["advisories"]}


def test_the_readme_example_through_the_index_on_real_pypi(tmp_path: Path) -> None:
    if not BUNDLE.is_file():
        pytest.skip(f"real advisory-db bundle not found at {BUNDLE}")
    data = tmp_path / "data"
    done = seckb("ingest", "--sources", "advisories", "--home", str(data), env={
        "SECKB_ADVISORY_DB_URL": str(BUNDLE)
    })  # fmt: skip
    assert done.returncode == 0, done.stderr
    home = tmp_path / "client"
    home.mkdir()
    requirements = tmp_path / "requirements.in"
    requirements.write_text(readme_requirements(), encoding="utf-8")

    straight = compile_("https://pypi.org/simple/", requirements, home)
    assert straight.returncode == 0, straight.stderr
    assert set(vulnerable(straight.stdout, data, tmp_path)) == {"flask", "pillow", "werkzeug"}

    with serve_process(data) as url:
        lenient = compile_(f"{url}/simple/", requirements, home)
        assert lenient.returncode != 0
        assert "flask" in lenient.stderr and "was yanked (reason: seckb: blocked:" in lenient.stderr
        assert "PYSEC-2023-62" in lenient.stderr
        strict = compile_(f"{url}/strict/simple/", requirements, home)
        assert strict.returncode != 0
        assert "only flask>=2.2.5 is available and you require flask<2" in strict.stderr

        relaxed = (
            requirements.read_text().replace("flask<2", "flask<3").replace("pillow<10", "pillow<11")
        )
        requirements.write_text(relaxed, encoding="utf-8")
        through = compile_(f"{url}/strict/simple/", requirements, home)
        assert through.returncode == 0, through.stderr
        assert vulnerable(through.stdout, data, tmp_path) == {}

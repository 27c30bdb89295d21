"""Fixtures of the index tests: the test advisory-db ingested once, and a real pypiserver
serving the test wheels on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from index.support import PROJECTS, IndexHome, build_index_home, pypiserver, write_wheels


@pytest.fixture(scope="module")
def index_home(tmp_path_factory: pytest.TempPathFactory) -> IndexHome:
    """A data root whose snapshot holds the test advisories (module-wide; tests that publish
    build their own)."""
    return build_index_home(tmp_path_factory.mktemp("index"))


@pytest.fixture(scope="module")
def upstream(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """pypiserver serving the test projects' wheels: its index URL."""
    packages = write_wheels(tmp_path_factory.mktemp("packages"), PROJECTS)
    with pypiserver(packages) as url:
        yield url


@pytest.fixture
def client_home(tmp_path: Path) -> Path:
    """A home directory for pip and uv (their caches and configuration stay in it)."""
    home = tmp_path / "client-home"
    home.mkdir()
    return home

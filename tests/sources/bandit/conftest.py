"""Fixtures for the Bandit stage: a loopback file server, settings with small caps, a client."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))  # for sdist_builders (tests/ has no packages)

from sdist_builders import FakeFiles

from aggregators.core.config import Settings, load_settings
from aggregators.core.http import HttpClient, HttpSettings
from aggregators.core.workspace import Workspace


@pytest.fixture
def files() -> Iterator[FakeFiles]:
    """A running loopback file server."""
    server = FakeFiles()
    yield server
    server.close()


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """Settings with a temporary data root, two workers and small caps."""
    return load_settings(
        env={},
        home=tmp_path / "home",
        workers=2,
        bandit_timeout_seconds=60,
        archive_max_file_bytes=256 << 10,
        archive_max_total_bytes=2 << 20,
        archive_max_members=500,
        sdist_max_bytes=4 << 20,
    )


@pytest.fixture
def workspace(settings: Settings) -> Workspace:
    """The workspace of ``settings``."""
    return Workspace(settings.home)


@pytest.fixture
def client() -> HttpClient:
    """An HTTP client that retries at once (no real sleeping)."""
    return HttpClient(
        settings=HttpSettings(
            connect_timeout=5, read_timeout=5, attempts=3, backoff_initial=0, backoff_max=0
        ),
        sleep=lambda seconds: None,
    )

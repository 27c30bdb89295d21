"""Shared fixtures: local git repositories standing in for the advisory-db, settings, no network."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from aggregators.core.config import DEFAULT_POPULARITY_URL, Settings, load_settings
from helpers import BUNDLE, AdvisoryRepo


def pytest_addoption(parser: pytest.Parser) -> None:
    """``--regen-golden``: tests/golden rewrites its expected files instead of comparing."""
    parser.addoption(
        "--regen-golden",
        action="store_true",
        default=False,
        help="rewrite the expected golden files from the current code",
    )


@pytest.fixture(autouse=True)
def no_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """Unit and integration tests talk to loopback only: any other address is refused."""
    real_connect = socket.socket.connect

    def guarded(self: socket.socket, address: Any) -> Any:
        host = address[0] if isinstance(address, tuple) else address
        if (
            isinstance(host, str)
            and host not in ("127.0.0.1", "::1", "localhost")
            and not (host.startswith("127.") or self.family == socket.AF_UNIX)
        ):
            raise OSError(f"network access to {host} is not allowed in tests")
        return real_connect(self, address)

    monkeypatch.setattr(socket.socket, "connect", guarded)


POPULARITY = Path(__file__).parent / "fixtures" / "top-pypi-packages-synthetic.json"
PRODUCTION_POPULARITY_URL = DEFAULT_POPULARITY_URL
"""A small dataset in the top-pypi-packages format (made-up counts): the default of the tests,
whose runs must not reach the real dataset's host."""


@pytest.fixture
def production_defaults(monkeypatch: pytest.MonkeyPatch) -> None:
    """seckb's own defaults, the synthetic dataset's aside (for the tests that check them)."""
    import aggregators.core.config as config

    monkeypatch.setattr(config, "DEFAULT_POPULARITY_URL", PRODUCTION_POPULARITY_URL)
    monkeypatch.delenv("SECKB_POPULARITY_URL", raising=False)


@pytest.fixture(autouse=True, scope="session")
def popularity_default() -> Iterator[None]:
    """Settings built in the tests (session fixtures included) read the synthetic dataset
    unless a test says otherwise; ``seckb`` processes the tests start get it by variable."""
    import os

    import aggregators.core.config as config

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(config, "DEFAULT_POPULARITY_URL", str(POPULARITY))
        patch.setitem(os.environ, "SECKB_POPULARITY_URL", str(POPULARITY))
        yield


@pytest.fixture
def bundle() -> Path:
    """The real advisory-db bundle beside the project (skipped when it is absent)."""
    if not BUNDLE.is_file():
        pytest.skip(f"real advisory-db bundle not found at {BUNDLE}")
    return BUNDLE


@pytest.fixture
def advisory_repo(tmp_path: Path) -> AdvisoryRepo:
    """An empty advisory-db-shaped git repository."""
    return AdvisoryRepo(tmp_path / "advisory-db")


@pytest.fixture
def make_settings(tmp_path: Path) -> Callable[..., Settings]:
    """Settings with a temporary data root; keyword arguments override fields."""

    def build(url: str, **overrides: Any) -> Settings:
        values: dict[str, Any] = {"home": tmp_path / "home", "advisory_db_url": url}
        values.update(overrides)
        return load_settings(env={}, **values)

    return build


@pytest.fixture
def clean_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No SECKB_* variable from the caller's environment leaks into a test."""
    import os

    for name in list(os.environ):
        if name.startswith("SECKB_"):
            monkeypatch.delenv(name)
    yield


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Tests marked ``network`` (the only ones that reach the internet) are skipped when ``CI``
    is set, whatever the command line (pyproject.toml's marker says so)."""
    import os

    if not os.environ.get("CI"):
        return
    skip = pytest.mark.skip(reason="reaches the real internet; skipped because CI is set")
    for item in items:
        if "network" in item.keywords:
            item.add_marker(skip)

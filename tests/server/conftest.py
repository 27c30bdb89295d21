"""Fixtures of the server tests: a data root built from the real advisory-db bundle (once per
session) and a server over it."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from server.support import BundleHome, build_bundle_home, serving_home

from helpers import BUNDLE

PIN_COUNT = 40


@pytest.fixture(scope="session")
def bundle_data(tmp_path_factory: pytest.TempPathFactory) -> BundleHome:
    """The bundle's advisories, then synthetic PyPI releases of the pinned packages. Skipped,
    as the ``bundle`` fixture of tests/conftest.py is, when the bundle is absent (that fixture
    is per test; this data root is built once per session)."""
    if not BUNDLE.is_file():
        pytest.skip(f"real advisory-db bundle not found at {BUNDLE}")
    return build_bundle_home(tmp_path_factory.mktemp("bundle"), BUNDLE, PIN_COUNT)


@pytest.fixture(scope="session")
def bundle_url(bundle_data: BundleHome) -> Iterator[str]:
    """A server (uvicorn in a thread, guarded protocol) over the bundle data root."""
    with serving_home(bundle_data.home) as url:
        yield url

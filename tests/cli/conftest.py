"""Fixtures of the command-line tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from full_home import build_full_home


@pytest.fixture(scope="module")
def full_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data root where every source succeeded (built once per test module)."""
    return build_full_home(tmp_path_factory.mktemp("full"))

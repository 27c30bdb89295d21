"""Fixtures of the fix tests: the fix advisories ingested once, the wheels on a real
pypiserver, and ``seckb fix`` as a real process."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from fix.support import PROJECTS, build_fix_home
from index.support import BIN, client_environment, pypiserver, write_wheels


@pytest.fixture(scope="module")
def fix_home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A data root whose snapshot holds the fix advisories."""
    return build_fix_home(tmp_path_factory.mktemp("fix"))


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The test projects' wheels."""
    return write_wheels(tmp_path_factory.mktemp("wheels"), PROJECTS)


@pytest.fixture(scope="module")
def upstream(wheels: Path) -> Iterator[str]:
    """pypiserver serving the wheels: its index URL."""
    with pypiserver(wheels) as url:
        yield url


Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def seckb_fix(fix_home: Path, upstream: str, tmp_path: Path) -> Run:
    """``seckb fix ARGS`` as a real process over the fix data root and the upstream."""

    def run(*args: str, upstream_url: str | None = None, **extra: Any) -> Any:
        env = client_environment(tmp_path / "client")
        env.pop("UV_NO_CONFIG")  # uv lock reads the project's own index configuration
        env.update(
            {
                "SECKB_HOME": str(fix_home),
                "SECKB_INDEX_UPSTREAMS": upstream_url or upstream,
                "SECKB_INDEX_TIMEOUT_SECONDS": "5",
                "SECKB_INDEX_ATTEMPTS": "1",
                **extra,
            }
        )
        return subprocess.run(
            [str(BIN / "seckb"), "fix", *args], capture_output=True, text=True, env=env, timeout=600
        )

    return run

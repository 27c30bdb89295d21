"""Fixtures of the store tests: a real S3-compatible server on loopback (moto's, started here on
a free port for the whole session) and a fresh bucket per test, with the standard AWS variables
pointing at it."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from s3server import S3Server

from aggregators.core.config import Settings


@pytest.fixture(scope="session")
def s3_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """moto's S3 server on 127.0.0.1 (skipped only when moto[server] is not installed)."""
    pytest.importorskip("moto.server", reason="moto[server] is not installed (pip install .[dev])")
    server = S3Server(tmp_path_factory.mktemp("moto") / "moto.log")
    server.start()
    yield server
    server.stop()


@pytest.fixture
def bucket(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> str:
    """A new, empty bucket; ``AWS_*`` point at the server (as an operator would set them)."""
    for name, value in s3_server.env().items():
        monkeypatch.setenv(name, value)
    return s3_server.make_bucket()


@pytest.fixture
def store_url(bucket: str) -> str:
    """``s3://<bucket>/seckb``: a store below a prefix, as deployments use."""
    return f"s3://{bucket}/seckb"


@pytest.fixture
def remote_settings(
    make_settings: Callable[..., Settings], store_url: str, tmp_path: Path
) -> Callable[..., Settings]:
    """Settings of one worker: its own data root (scratch), the shared store; fast retries."""

    def build(url: str, home: str = "home", **overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "home": tmp_path / home,
            "store_url": store_url,
            "http_attempts": 2,
            "http_backoff_max_seconds": 0.05,
            "http_timeout_seconds": 10,
        }
        values.update(overrides)
        return make_settings(url, **values)

    return build

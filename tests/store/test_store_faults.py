"""Faults of the store, against the real S3-compatible server on loopback: unreachable at the
start (a clear error, exit 2, nothing done), going away mid-publish (``LATEST`` untouched, the
next run succeeds), wrong credentials, a bucket that does not exist."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from s3server import Proxy, S3Server, free_port

from aggregators.cli.main import main
from aggregators.core.config import load_settings
from aggregators.core.errors import StoreError
from aggregators.core.remote_objects import RemoteObjects
from aggregators.run.ingest import ingest
from aggregators.store.locations import open_store
from helpers import AdvisoryRepo, advisory_yaml


@pytest.fixture
def repo(advisory_repo: AdvisoryRepo) -> AdvisoryRepo:
    advisory_repo.write("vulns/flask/PYSEC-1.yaml", advisory_yaml("PYSEC-1"))
    advisory_repo.commit()
    return advisory_repo


@pytest.fixture
def cli_env(monkeypatch: pytest.MonkeyPatch, clean_env: None, repo: AdvisoryRepo) -> None:
    """What an operator sets for ``seckb``: the advisory-db, patient only briefly."""
    monkeypatch.setenv("SECKB_ADVISORY_DB_URL", repo.url)
    monkeypatch.setenv("SECKB_HTTP_ATTEMPTS", "2")
    monkeypatch.setenv("SECKB_HTTP_BACKOFF_MAX_SECONDS", "0.05")
    monkeypatch.setenv("SECKB_HTTP_TIMEOUT_SECONDS", "5")


def seckb(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, " ".join(capsys.readouterr().err.split())


def test_an_unreachable_store_is_a_clear_error_at_once(
    cli_env: None,
    s3_server: S3Server,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    nobody = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    for name, value in s3_server.env(nobody).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SECKB_STORE_URL", "s3://seckb-store/kb")
    home = tmp_path / "home"
    started = time.monotonic()
    code, err = seckb(capsys, "ingest", "--home", str(home), "--sources", "advisories")
    assert code == 2 and "store s3://seckb-store/kb cannot be reached" in err, err
    assert time.monotonic() - started < 30
    assert not (home / "cache" / "advisory-db.git").exists()  # nothing was done
    code, err = seckb(
        capsys, "query", "flask", "--home", str(home), "--from", "s3://seckb-store/kb"
    )
    assert code == 2 and "cannot be reached" in err, err


def test_a_bucket_that_does_not_exist_is_named(
    cli_env: None,
    s3_server: S3Server,
    bucket: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SECKB_STORE_URL", "s3://seckb-missing/kb")
    home = ["--home", str(tmp_path / "home")]
    code, err = seckb(capsys, "ingest", *home, "--sources", "advisories")
    assert code == 2 and "store s3://seckb-missing/kb: the bucket does not exist" in err, err
    code, err = seckb(capsys, "snapshots", *home, "--from", "s3://seckb-missing/kb")
    assert code == 2 and "the bucket does not exist" in err, err


@pytest.fixture
def locked_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    """A server that checks signatures: it knows no access key, so every key is refused."""
    pytest.importorskip("moto.server", reason="moto[server] is not installed (pip install .[dev])")
    server = S3Server(tmp_path_factory.mktemp("moto-auth") / "moto.log", auth=True)
    server.start()
    yield server
    server.stop()


def test_wrong_credentials_are_refused_with_a_hint(
    cli_env: None,
    locked_server: S3Server,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name, value in locked_server.env().items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("SECKB_STORE_URL", "s3://seckb-store/kb")
    home = ["--home", str(tmp_path / "home")]
    code, err = seckb(capsys, "ingest", *home, "--sources", "advisories")
    assert code == 2 and "access denied — check the credentials" in err, err
    assert "InvalidAccessKeyId" in err
    code, err = seckb(capsys, "query", "flask", *home, "--from", "s3://seckb-store/kb")
    assert code == 2 and "access denied" in err, err


def test_a_store_going_away_mid_publish_leaves_latest_and_the_next_run_succeeds(
    s3_server: S3Server,
    bucket: str,
    repo: AdvisoryRepo,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    proxy = Proxy(s3_server.port)  # the store as the worker reaches it
    proxy.up()
    monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.endpoint)
    settings = load_settings(
        env={},
        home=tmp_path / "worker",
        advisory_db_url=repo.url,
        store_url=f"s3://{bucket}/kb",
        http_attempts=2,
        http_backoff_max_seconds=0.05,
        http_timeout_seconds=5,
    )
    first = ingest(settings, "advisories").snapshot
    assert first is not None
    repo.write("vulns/flask/PYSEC-2.yaml", advisory_yaml("PYSEC-2", fixed="2.0"))
    repo.commit()

    uploads, lock, real = [0], threading.Lock(), RemoteObjects.put_file

    def failing(self: RemoteObjects, key: str, path: Path) -> None:
        with lock:
            uploads[0] += 1
            if uploads[0] == 3:  # a few files are up: the store goes away
                proxy.down()
        real(self, key, path)

    with monkeypatch.context() as patch:
        patch.setattr(RemoteObjects, "put_file", failing)
        with pytest.raises(StoreError, match="cannot be reached"):
            ingest(settings, "advisories")
    assert s3_server.get(bucket, "kb/snapshots/LATEST") == f"{first.id}\n".encode()
    partial = {k.split("/")[2] for k in s3_server.keys(bucket, "kb/snapshots/")} - {first.id}
    assert partial, "the failed publish had uploaded part of its snapshot"

    proxy.up()  # the store is back
    report = ingest(settings, "advisories")
    assert report.published and report.snapshot is not None
    assert report.snapshot.manifest["previous_snapshot"] == first.id
    assert s3_server.get(bucket, "kb/snapshots/LATEST") == f"{report.snapshot.id}\n".encode()
    store = open_store(settings, writing=True)
    assert [s.id for s in store.all()] == [first.id, report.snapshot.id]  # not the partial one
    proxy.down()

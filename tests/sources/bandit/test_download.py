"""Downloads over a loopback server: caps, digests, truncation, resets, retries."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest
from sdist_builders import FakeFiles

from aggregators.core.http import HttpClient
from aggregators.sources.bandit.download import download_sdist
from aggregators.sources.bandit.outcomes import DOWNLOAD_ERROR, TOO_LARGE, ReleaseProblem

DATA = bytes(range(256)) * 64


def _get(client: HttpClient, files: FakeFiles, tmp_path: Path, cap: int = 1 << 20, **kw: object):  # type: ignore[no-untyped-def]
    target = files.add("p", "1", DATA, **kw)  # type: ignore[arg-type]
    assert target.url
    dest = tmp_path / "sdist"
    got = download_sdist(
        client, target.url, dest, sha256=target.sha256, size=target.size, max_bytes=cap
    )
    return got, dest, target


def _problem(
    client: HttpClient, files: FakeFiles, tmp_path: Path, status: str, match: str, **kw: object
) -> ReleaseProblem:
    with pytest.raises(ReleaseProblem, match=match) as info:
        _get(client, files, tmp_path, **kw)  # type: ignore[arg-type]
    assert info.value.status == status
    assert not (tmp_path / "sdist").exists()
    return info.value


def test_download_streams_and_verifies(
    client: HttpClient, files: FakeFiles, tmp_path: Path
) -> None:
    got, dest, _ = _get(client, files, tmp_path)
    assert got == len(DATA) and dest.read_bytes() == DATA


def test_sha256_mismatch(client: HttpClient, files: FakeFiles, tmp_path: Path) -> None:
    _problem(client, files, tmp_path, DOWNLOAD_ERROR, "sha256 mismatch", sha256="0" * 64)


def test_missing_digest_is_refused(client: HttpClient, files: FakeFiles, tmp_path: Path) -> None:
    target = files.add("p", "1", DATA)
    assert target.url
    with pytest.raises(ReleaseProblem, match="no sha256") as info:
        download_sdist(
            client, target.url, tmp_path / "x", sha256=None, size=None, max_bytes=1 << 20
        )
    assert info.value.status == DOWNLOAD_ERROR
    assert files.route(target).hits == 0


def test_truncated_body(client: HttpClient, files: FakeFiles, tmp_path: Path) -> None:
    problem = _problem(client, files, tmp_path, DOWNLOAD_ERROR, "broke off", mode="truncate")
    assert "bytes" in problem.reason


def test_fewer_bytes_than_pypi_declares(
    client: HttpClient, files: FakeFiles, tmp_path: Path
) -> None:
    _problem(client, files, tmp_path, DOWNLOAD_ERROR, "truncated", size=len(DATA) + 1)


def test_connection_reset_mid_body(client: HttpClient, files: FakeFiles, tmp_path: Path) -> None:
    _problem(client, files, tmp_path, DOWNLOAD_ERROR, "broke off", mode="reset")


def test_429_then_success(client: HttpClient, files: FakeFiles, tmp_path: Path) -> None:
    got, _, target = _get(client, files, tmp_path, statuses=[429, 429])
    assert got == len(DATA) and files.route(target).hits == 3


def test_repeated_500(client: HttpClient, files: FakeFiles, tmp_path: Path) -> None:
    _problem(client, files, tmp_path, DOWNLOAD_ERROR, "HTTP 500", statuses=[500], mode="stuck")


def test_404(client: HttpClient, files: FakeFiles, tmp_path: Path) -> None:
    _problem(client, files, tmp_path, DOWNLOAD_ERROR, "HTTP 404", statuses=[404], mode="stuck")


def test_declared_size_over_cap_is_not_downloaded(
    client: HttpClient, files: FakeFiles, tmp_path: Path
) -> None:
    with pytest.raises(ReleaseProblem, match="sdist_max_bytes") as info:
        _get(client, files, tmp_path, cap=100)
    assert info.value.status == TOO_LARGE


def test_body_growing_past_the_cap_is_cut_off(
    client: HttpClient, files: FakeFiles, tmp_path: Path
) -> None:
    # PyPI says 100 bytes, the server sends no Content-Length and far more.
    problem = _problem(
        client, files, tmp_path, TOO_LARGE, "cut off", cap=1000, size=100, mode="nolength"
    )
    assert problem.status == TOO_LARGE


def test_content_length_over_cap(client: HttpClient, files: FakeFiles, tmp_path: Path) -> None:
    _problem(client, files, tmp_path, TOO_LARGE, "Content-Length", cap=1000, size=None)


def test_digest_is_case_insensitive(client: HttpClient, files: FakeFiles, tmp_path: Path) -> None:
    got, _, _ = _get(client, files, tmp_path, sha256=hashlib.sha256(DATA).hexdigest().upper())
    assert got == len(DATA)

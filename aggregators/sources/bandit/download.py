"""Download an sdist to disk, streamed, capped in size and verified against PyPI's sha256.

Nothing here looks inside the file: a release is handed on only when its bytes are exactly the
ones PyPI published.
"""

from __future__ import annotations

import hashlib
import logging
from pathlib import Path

import requests
import urllib3

from aggregators.core.errors import first_line
from aggregators.core.http import HttpClient, HttpError
from aggregators.sources.bandit.outcomes import DOWNLOAD_ERROR, TOO_LARGE, ReleaseProblem

log = logging.getLogger(__name__)

CHUNK = 1 << 16


def download_sdist(
    client: HttpClient,
    url: str,
    dest: Path,
    *,
    sha256: str | None,
    size: int | None,
    max_bytes: int,
) -> int:
    """Stream ``url`` into ``dest`` (a new file) and verify it; return the number of bytes.

    Raises :class:`ReleaseProblem` with ``too_large`` when the declared size, the
    ``Content-Length`` or the body itself exceeds ``max_bytes``, and with ``download_error``
    for HTTP failures, truncated or reset bodies, a size differing from PyPI's, a missing
    digest or a sha256 mismatch. ``dest`` is removed on any failure.
    """
    if not sha256:
        raise ReleaseProblem(DOWNLOAD_ERROR, "no sha256 digest from PyPI to verify against")
    if size is not None and size > max_bytes:
        raise ReleaseProblem(TOO_LARGE, f"sdist is {size} bytes > sdist_max_bytes {max_bytes}")
    try:
        return _fetch(client, url, dest, sha256.lower(), size, max_bytes)
    except BaseException:
        dest.unlink(missing_ok=True)
        raise


def _fetch(
    client: HttpClient, url: str, dest: Path, sha256: str, size: int | None, max_bytes: int
) -> int:
    try:
        response = client.get(url, stream=True, ok=frozenset({200}))
    except HttpError as exc:
        raise ReleaseProblem(DOWNLOAD_ERROR, str(exc)) from exc
    digest = hashlib.sha256()
    received = 0
    with response:
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > max_bytes:
            raise ReleaseProblem(
                TOO_LARGE,
                f"Content-Length {declared} bytes > sdist_max_bytes {max_bytes}",
            )
        try:
            with dest.open("xb") as out:
                # Raw bytes exactly as served: a Content-Encoding must not change the digest.
                for chunk in response.raw.stream(CHUNK, decode_content=False):
                    received += len(chunk)
                    if received > max_bytes:
                        raise ReleaseProblem(
                            TOO_LARGE, f"body exceeded sdist_max_bytes {max_bytes}; cut off"
                        )
                    digest.update(chunk)
                    out.write(chunk)
        except (requests.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
            raise ReleaseProblem(
                DOWNLOAD_ERROR, f"download broke off after {received} bytes: {first_line(exc)}"
            ) from exc
    if size is not None and received != size:
        what = "truncated" if received < size else "longer than declared"
        raise ReleaseProblem(
            DOWNLOAD_ERROR, f"download {what}: got {received} bytes, PyPI declares {size}"
        )
    if digest.hexdigest() != sha256:
        raise ReleaseProblem(
            DOWNLOAD_ERROR,
            f"sha256 mismatch: got {digest.hexdigest()}, PyPI declares {sha256}",
        )
    log.debug("downloaded %s (%d bytes)", url, received)
    return received

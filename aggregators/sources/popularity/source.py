"""The ``popularity`` source: the top-pypi-packages dataset as ``package_popularity``.

The dataset comes from ``popularity_url`` (an http(s) URL, asked with the ETag of the last
answer, or a local file). Its content decides "changed": the same bytes as the previous run's
(by sha256) carry the table forward unchanged. A dataset that cannot be fetched or read fails the
source, and the previous table carries forward with its age in the manifest.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from aggregators.core.contracts import contract
from aggregators.core.errors import SourceError
from aggregators.core.http import HttpError, HttpSource
from aggregators.core.progress import Progress
from aggregators.sources.base import UNCHANGED, UPDATED, RunState, SourceResult
from aggregators.sources.popularity.parse import parse_popularity

SOURCE = "popularity"
MAX_BYTES = 64 << 20
"""The dataset is about 1 MB; anything past this is not it."""


class PopularitySource(HttpSource):
    """The top-pypi-packages dataset as the ``popularity`` source."""

    name = SOURCE

    def _download(self, url: str, etag: str | None) -> tuple[bytes | None, str | None]:
        """The dataset's bytes (``None``: not modified since ``etag``) and its new ETag."""
        try:
            response = self.client.get(url, etag=etag, stream=True, ok=frozenset({200, 304}))
        except HttpError as exc:
            raise SourceError(f"popularity dataset not fetched: {exc}") from exc
        try:
            if response.status_code == 304:
                return None, etag
            chunks, size = [], 0
            for chunk in response.iter_content(1 << 16):
                size += len(chunk)
                if size > MAX_BYTES:
                    raise SourceError(f"popularity dataset at {url} is over {MAX_BYTES} bytes")
                chunks.append(chunk)
            return b"".join(chunks), response.headers.get("ETag")
        finally:
            response.close()

    def _read(self, location: str, etag: str | None) -> tuple[bytes | None, str | None]:
        if location.startswith(("http://", "https://")):
            return self._download(location, etag)
        path = Path(location).expanduser()
        try:
            if path.stat().st_size > MAX_BYTES:
                raise SourceError(f"popularity dataset {path} is over {MAX_BYTES} bytes")
            return path.read_bytes(), None
        except OSError as exc:
            raise SourceError(f"cannot read the popularity dataset {path}: {exc.strerror}") from exc

    def update(self, state: RunState, progress: Progress) -> SourceResult:
        """The dataset as a new table, or ``unchanged`` when it is the same as last time."""
        location = self.settings.popularity_url
        before: dict[str, Any] = {}
        if state.previous is not None:
            before = state.previous.source(SOURCE).get("lineage", {})
        had_table = state.previous is not None and "package_popularity" in state.previous.tables
        same_place = before.get("url") == location
        data, etag = self._read(location, before.get("etag") if had_table and same_place else None)
        if data is None:  # 304: the upstream says nothing changed
            return SourceResult(SOURCE, UNCHANGED, before)
        digest = hashlib.sha256(data).hexdigest()
        rows = parse_popularity(data, location)
        lineage = {
            "url": location,
            "etag": etag,
            "sha256": digest,
            "as_of": rows[0]["as_of"].isoformat(),
            "rows": len(rows),
        }
        if had_table and same_place and before.get("sha256") == digest:
            return SourceResult(SOURCE, UNCHANGED, lineage, stats={"rows": len(rows)})
        table = contract("package_popularity").table_from_rows(rows)
        tables = {
            "package_popularity": table,
            "ingest_errors": contract("ingest_errors").table_from_rows([]),
        }
        return SourceResult(SOURCE, UPDATED, lineage, tables, {"rows": len(rows)})

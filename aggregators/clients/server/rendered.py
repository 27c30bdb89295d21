"""Rendered index pages kept on disk, so a new process (a ``seckb fix``, a restarted server)
answers a page it rendered before without reading, parsing and judging the upstream page again.

A rendering is named by everything that decided it — the snapshot, the policy and the accepted
risks in force, the day, the mode, the format, and the digest of the upstream page — so one
kept under another name is never served. The files are a cache: written without flushing,
replaced atomically, and a directory that cannot be written just turns it off.
"""

from __future__ import annotations

import hashlib
import json
import logging
from pathlib import Path
from typing import Any

from aggregators.core.files import write_atomic

log = logging.getLogger(__name__)


class RenderStore:
    """Rendered pages under one directory (one file per project and rendering)."""

    def __init__(self, directory: Path | None) -> None:
        """Keep renderings in ``directory`` (``None``: keep none)."""
        self.directory = directory

    @staticmethod
    def key(parts: tuple[Any, ...]) -> str:
        """A file-name-safe digest of a rendering's identity."""
        return hashlib.sha256(repr(parts).encode()).hexdigest()[:24]

    def get(self, project: str, key: str) -> tuple[dict[str, Any], bytes] | None:
        """The kept rendering (its facts and body), or ``None``."""
        if self.directory is None:
            return None
        try:
            raw = (self.directory / f"{project}.{key}").read_bytes()
            head, _, body = raw.partition(b"\n")
            facts: dict[str, Any] = json.loads(head)
        except (OSError, ValueError):
            return None
        if facts.get("length") != len(body):
            return None
        return facts, body

    def put(self, project: str, key: str, facts: dict[str, Any], body: bytes) -> None:
        """Keep a rendering (a disk that refuses turns the store off)."""
        if self.directory is None:
            return
        head = json.dumps({**facts, "length": len(body)}).encode()
        try:
            write_atomic(self.directory / f"{project}.{key}", head + b"\n" + body, durable=False)
        except OSError as exc:
            log.info("rendered pages not kept on disk (%s): %s", self.directory, exc)
            self.directory = None

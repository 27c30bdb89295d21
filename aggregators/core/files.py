"""Durable local writes: the one place that knows how a file is replaced atomically."""

from __future__ import annotations

import os
import secrets
import shutil
from pathlib import Path


def fsync_path(path: Path) -> None:
    """Flush a file's (or a directory's) data and metadata to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(
    path: Path, data: bytes | None = None, source: Path | None = None, durable: bool = True
) -> None:
    """Write ``data`` (or a copy of ``source``) to ``path``: a temporary file beside it, flushed,
    then ``os.replace``, then the directory flushed. A crash leaves the old file or the new one,
    never a part of either. ``durable=False`` skips the flushes: for caches, which a crash may
    lose but never leaves half-written."""
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}.tmp")
    try:
        if source is not None:
            shutil.copyfile(source, temp)
        else:
            temp.write_bytes(data or b"")
        if durable:
            fsync_path(temp)
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
    if durable:
        fsync_path(path.parent)

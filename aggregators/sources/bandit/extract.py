"""Safe extraction of the Python files of an sdist, member by member.

Only regular ``.py``/``.pyw`` members are taken, and never written under their own names: each
member is read into memory (it is capped by ``max_file_bytes``) and hashed; the hashes are
collected in batches, the caller's ``keep`` says which contents of a batch it still needs (those
no cache or earlier release covers), and only those are written to ``dest`` as
``<sha256>.py``, so a member name can never become a filesystem path (no traversal, no
overwrite, identical contents stored once) and content analysed before costs no write. Names
are still sanitised, because they are reported: absolute paths and ``..`` make the archive
``unsafe_archive``. Links, devices, FIFOs and directories are skipped. Caps: member count and
total bytes (counted on the real decompressed stream, never trusting headers) make the archive
unsafe; a file over the single-file cap is skipped and reported.
"""

from __future__ import annotations

import bz2
import gzip
import hashlib
import io
import logging
import lzma
import os
import stat
import tarfile
import zipfile
import zlib
from collections.abc import Callable, Collection, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from aggregators.core.errors import first_line
from aggregators.sources.bandit.classify import (
    UnsafePath,
    common_top_dir,
    is_python_name,
    report_path,
    sanitise_member_name,
)
from aggregators.sources.bandit.outcomes import UNSAFE_ARCHIVE, ReleaseProblem

log = logging.getLogger(__name__)

CHUNK = 1 << 16
BATCH_BYTES = 8 << 20
"""Member bytes held in memory before their batch is offered to ``keep`` (and written)."""
BATCH_FILES = 512

Keep = Callable[[Collection[str]], Collection[str]]
"""Given the content hashes of a batch, the ones that must be written to ``dest``."""


@dataclass(frozen=True)
class Limits:
    """Caps applied to one archive."""

    max_members: int
    max_total_bytes: int
    max_file_bytes: int


@dataclass(frozen=True)
class ExtractedFile:
    """A Python file taken from the archive: its report path and content hash."""

    path: str
    sha256: str
    size: int


@dataclass
class Extraction:
    """What came out of an archive: files to analyse, and members skipped with a reason."""

    files: list[ExtractedFile] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)


def stored_path(dest: Path, sha256: str) -> Path:
    """Where the content with this hash is stored below ``dest``."""
    return dest / f"{sha256}.py"


class _Budget:
    """Counts real decompressed bytes across the archive; raises past the total cap."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def take(self, count: int) -> None:
        self.used += count
        if self.used > self.limit:
            raise ReleaseProblem(
                UNSAFE_ARCHIVE,
                f"more than archive_max_total_bytes ({self.limit}) bytes when decompressed",
            )


class _CountingReader(io.RawIOBase):
    """A decompressed stream that charges every byte it yields to a :class:`_Budget`."""

    def __init__(self, inner: io.BufferedIOBase, budget: _Budget) -> None:
        self.inner = inner
        self.budget = budget

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        # Never ask the decompressor for more than the budget has left (plus one byte to
        # notice the overflow): a header claiming gigabytes cannot make us buffer them.
        room = self.budget.limit - self.budget.used + 1
        want = room if size is None or size < 0 else min(size, room)
        data = self.inner.read(want)
        self.budget.take(len(data))
        return data

    def readinto(self, buffer: bytearray | memoryview) -> int:  # type: ignore[override]
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)


def _format(archive: Path) -> str:
    with archive.open("rb") as f:
        head = f.read(512)
    if head.startswith(b"\x1f\x8b"):
        return "gz"
    if head.startswith(b"BZh"):
        return "bz2"
    if head.startswith(b"\xfd7zXZ\x00"):
        return "xz"
    if head.startswith(b"PK\x03\x04") or head.startswith(b"PK\x05\x06"):
        return "zip"
    if len(head) >= 262 and head[257:262] == b"ustar":
        return "tar"
    raise ReleaseProblem(UNSAFE_ARCHIVE, "unsupported archive format (not tar.gz/bz2/xz or zip)")


def extract_python_files(
    archive: Path, dest: Path, limits: Limits, keep: Keep | None = None
) -> Extraction:
    """Take the regular Python files out of ``archive`` into ``dest`` (content-addressed).

    Every Python member is hashed and listed; only the contents ``keep`` asks for (all when
    ``keep`` is None) are written to ``dest``, once each (a content already there is not
    written again). ``keep`` is called once per batch of members, never per file; what it raises
    propagates unchanged. Raises :class:`ReleaseProblem` (``unsafe_archive``) for unsafe names,
    too many members, too many decompressed bytes, an unknown format or a corrupt archive.
    """
    kind = _format(archive)
    dest.mkdir(parents=True, exist_ok=True)
    budget = _Budget(limits.max_total_bytes)
    sink = _Sink(dest, limits, keep)
    found, skipped = sink.found, sink.skipped
    try:
        if kind == "zip":
            _from_zip(archive, limits, budget, sink)
        else:
            _from_tar(archive, kind, limits, budget, sink)
        sink.flush()
    except _KeepFailed as failed:  # the caller's own error, not the archive's
        raise failed.error from None
    except (tarfile.TarError, zipfile.BadZipFile, zlib.error, lzma.LZMAError, EOFError) as exc:
        raise ReleaseProblem(UNSAFE_ARCHIVE, f"corrupt archive: {first_line(exc)}") from exc
    except OSError as exc:  # gzip/bz2 raise OSError for bad data
        raise ReleaseProblem(UNSAFE_ARCHIVE, f"corrupt archive: {first_line(exc)}") from exc
    top = common_top_dir([p for p, _, _ in found] + [p for p, _ in skipped])
    by_path: dict[str, ExtractedFile] = {}
    for parts, sha, size in found:  # a later duplicate member wins, as tar itself would
        path = report_path(parts, top)
        by_path[path] = ExtractedFile(path, sha, size)
    return Extraction(
        files=sorted(by_path.values(), key=lambda f: f.path),
        skipped=sorted({(report_path(p, top), r) for p, r in skipped}),
    )


def _name(raw: str) -> tuple[str, ...]:
    try:
        return sanitise_member_name(raw)
    except UnsafePath as exc:
        raise ReleaseProblem(UNSAFE_ARCHIVE, str(exc)) from exc


def _too_many(limits: Limits) -> ReleaseProblem:
    return ReleaseProblem(
        UNSAFE_ARCHIVE, f"more than archive_max_members ({limits.max_members}) members"
    )


def _open_compressed(archive: Path, kind: str) -> io.BufferedIOBase:
    if kind == "gz":
        return gzip.open(archive, "rb")
    if kind == "bz2":
        return bz2.open(archive, "rb")
    if kind == "xz":
        return lzma.open(archive, "rb")
    return archive.open("rb")


def _from_tar(archive: Path, kind: str, limits: Limits, budget: _Budget, sink: _Sink) -> None:
    skipped = sink.skipped
    with _open_compressed(archive, kind) as raw:
        stream = io.BufferedReader(_CountingReader(raw, budget), CHUNK)
        # "r|": forward-only stream mode; no member is ever looked up by name or extracted
        # by tarfile itself.
        with tarfile.open(fileobj=stream, mode="r|") as tar:
            for count, member in enumerate(tar, start=1):
                if count > limits.max_members:
                    raise _too_many(limits)
                parts = _name(member.name)
                if not parts or member.isdir():
                    continue
                if not member.isreg():
                    kind_name = _tar_kind(member)
                    if is_python_name(parts) or kind_name in ("device", "fifo"):
                        skipped.append((parts, f"not a regular file ({kind_name}); skipped"))
                    continue
                if not is_python_name(parts):
                    continue
                if member.size > limits.max_file_bytes:
                    skipped.append((parts, _too_big(member.size, limits)))
                    continue
                data = tar.extractfile(member)
                if data is None:  # pragma: no cover - isreg() members always have data
                    continue
                sink.add(data, parts)


def _tar_kind(member: tarfile.TarInfo) -> str:
    if member.issym():
        return "symlink"
    if member.islnk():
        return "hardlink"
    if member.ischr() or member.isblk():
        return "device"
    if member.isfifo():
        return "fifo"
    return "special member"


def _from_zip(archive: Path, limits: Limits, budget: _Budget, sink: _Sink) -> None:
    skipped = sink.skipped
    with zipfile.ZipFile(archive) as zf:
        members = zf.infolist()
        if len(members) > limits.max_members:
            raise _too_many(limits)
        for info in members:
            parts = _name(info.filename)
            if not parts or info.is_dir():
                continue
            kind = stat.S_IFMT(info.external_attr >> 16)  # 0: no Unix type (regular)
            if kind and kind != stat.S_IFREG:
                kind_name = "symlink" if kind == stat.S_IFLNK else "special member"
                if is_python_name(parts):
                    skipped.append((parts, f"not a regular file ({kind_name}); skipped"))
                continue
            if not is_python_name(parts):
                continue
            if info.file_size > limits.max_file_bytes:
                skipped.append((parts, _too_big(info.file_size, limits)))
                continue
            with zf.open(info) as data:
                sink.add(_Charged(data, budget), parts)


class _Charged:
    """A member stream whose decompressed bytes are charged to the archive's budget."""

    def __init__(self, inner: IO[bytes], budget: _Budget) -> None:
        self.inner = inner
        self.budget = budget

    def read(self, size: int = -1) -> bytes:
        data = self.inner.read(size)
        self.budget.take(len(data))
        return data


def _too_big(size: int, limits: Limits) -> str:
    return f"file too large: {size} bytes > archive_max_file_bytes {limits.max_file_bytes}"


def _chunks(data: IO[bytes] | _Charged) -> Iterator[bytes]:
    while chunk := data.read(CHUNK):
        yield chunk


class _KeepFailed(Exception):
    """Carries an exception raised by ``keep`` past the archive error handling."""

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


class _Sink:
    """Hashes members in memory and writes the contents ``keep`` wants, a batch at a time."""

    def __init__(self, dest: Path, limits: Limits, keep: Keep | None) -> None:
        self.dest = dest
        self.limits = limits
        self.keep = keep
        self.found: list[tuple[tuple[str, ...], str, int]] = []
        self.skipped: list[tuple[tuple[str, ...], str]] = []
        self.batch: dict[str, bytes] = {}
        self.batch_bytes = 0

    def add(self, data: IO[bytes] | _Charged, parts: tuple[str, ...]) -> None:
        """Read one member (at most ``max_file_bytes``, counted as decompressed) and hash it."""
        chunks: list[bytes] = []
        size = 0
        for chunk in _chunks(data):
            size += len(chunk)
            if size > self.limits.max_file_bytes:
                self.skipped.append((parts, _too_big(size, self.limits) + " (when decompressed)"))
                return
            chunks.append(chunk)
        content = b"".join(chunks)
        sha = hashlib.sha256(content).hexdigest()
        self.found.append((parts, sha, size))
        if sha not in self.batch:
            self.batch[sha] = content
            self.batch_bytes += size
        if self.batch_bytes >= BATCH_BYTES or len(self.batch) >= BATCH_FILES:
            self.flush()

    def flush(self) -> None:
        """Write the contents of the current batch that ``keep`` asks for."""
        if not self.batch:
            return
        wanted: Collection[str] = self.batch.keys()
        if self.keep is not None:
            try:
                wanted = self.keep(list(self.batch))
            except Exception as exc:
                raise _KeepFailed(exc) from exc
        for sha in wanted:
            if sha in self.batch:
                _write(self.dest, sha, self.batch[sha])
        self.batch.clear()
        self.batch_bytes = 0


def _write(dest: Path, sha: str, content: bytes) -> None:
    """Store ``content`` as ``dest/<sha>.py`` unless it is there (temp name, then rename)."""
    final = stored_path(dest, sha)
    if final.exists():
        return
    tmp = dest / f".part-{os.getpid()}-{sha}"
    try:
        with tmp.open("xb") as out:
            out.write(content)
        tmp.replace(final)
    finally:
        tmp.unlink(missing_ok=True)

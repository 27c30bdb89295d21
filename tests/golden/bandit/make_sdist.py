"""Build tests/golden/bandit/input/goldenpkg-1.0.tar.gz, the Bandit golden fixture.

Deterministic: fixed member order, mtimes, owners and modes, and a gzip header without a name
or time, so running it again writes the same bytes (on the same zlib). Run it from anywhere:

    .venv/bin/python tests/golden/bandit/make_sdist.py

then regenerate the expected files (``pytest tests/golden --regen-golden``) and review them.
"""

from __future__ import annotations

import gzip
import io
import tarfile
from pathlib import Path

TOP = "goldenpkg-1.0"
MTIME = 1_700_000_000  # 2023-11-14T22:13:20Z
OUTPUT = Path(__file__).resolve().parent / "input" / f"{TOP}.tar.gz"

RUNNER = b'''"""Run commands (Bandit: B404 for the import, B602, B307)."""

import subprocess


def run(command: str) -> int:
    return subprocess.call(command, shell=True)


def calculate(expression: str) -> object:
    return eval(expression)
'''

FILES: dict[str, bytes] = {
    "PKG-INFO": b"Metadata-Version: 2.1\nName: goldenpkg\nVersion: 1.0\n",
    "pyproject.toml": b'[project]\nname = "goldenpkg"\nversion = "1.0"\n',
    "README.rst": b"goldenpkg\n=========\n\nA fixture with known Bandit findings.\n",
    "goldenpkg/__init__.py": b'"""A clean module: no findings."""\n\n__version__ = "1.0"\n',
    "goldenpkg/runner.py": RUNNER,
    # the same bytes again: analysed once, its findings reported under both paths
    "goldenpkg/_vendor/runner.py": RUNNER,
    "goldenpkg/settings.py": (
        b'"""Hard-coded credentials (B105 twice)."""\n\n'
        b'password = "hunter2"\n'
        b'DATABASE = {"user": "app", "password": "s3cr3t"}\n'
        b'API_TOKEN = "0123456789abcdef"\n'
    ),
    "goldenpkg/legacy.py": b'"""Python 2 only."""\n\nprint "hello from 1999"\nexec "x = 1"\n',
    "goldenpkg/huge.py": b"# padding\n" * 300,  # 3000 bytes: over the test's file cap
    "docs/conf.py": b'import pickle\n\nproject = "goldenpkg"\n',
    "tests/test_runner.py": (
        b"from goldenpkg.runner import calculate\n\n\n"
        b"def test_calculate() -> None:\n"
        b'    assert calculate("1 + 1") == 2\n'
    ),
}
SYMLINKS = {"goldenpkg/shortcut.py": "runner.py"}


def _info(name: str, kind: bytes, size: int = 0, mode: int = 0o644) -> tarfile.TarInfo:
    info = tarfile.TarInfo(f"{TOP}/{name}" if name else TOP)
    info.type, info.size, info.mode, info.mtime = kind, size, mode, MTIME
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info


def build_tar() -> bytes:
    """The uncompressed tar stream."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w", format=tarfile.USTAR_FORMAT) as tar:
        names = sorted({*FILES, *SYMLINKS})
        dirs = sorted({str(Path(n).parent) for n in names} - {"."})
        tar.addfile(_info("", tarfile.DIRTYPE, mode=0o755))
        for directory in dirs:
            tar.addfile(_info(directory, tarfile.DIRTYPE, mode=0o755))
        for name in names:
            if name in SYMLINKS:
                link = _info(name, tarfile.SYMTYPE, mode=0o777)
                link.linkname = SYMLINKS[name]
                tar.addfile(link)
            else:
                data = FILES[name]
                tar.addfile(_info(name, tarfile.REGTYPE, len(data)), io.BytesIO(data))
    return buffer.getvalue()


def build() -> bytes:
    """The .tar.gz bytes (gzip header without file name or time)."""
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, compresslevel=9, mtime=0) as gz:
        gz.write(build_tar())
    return buffer.getvalue()


if __name__ == "__main__":
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_bytes(build())

"""Pure path helpers: sanitise archive member names and classify report paths."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Final

TESTS: Final = "tests"
EXAMPLES: Final = "examples"
DOCS: Final = "docs"
VENDORED: Final = "vendored"
CODE: Final = "code"

_TEST_DIRS = frozenset({"test", "tests", "testing"})
_EXAMPLE_DIRS = frozenset({"example", "examples", "demo", "demos", "sample", "samples"})
_DOC_DIRS = frozenset({"doc", "docs", "sphinx"})
_VENDOR_DIRS = frozenset({"vendor", "vendored", "_vendor", "third_party", "extern", "external"})
_DRIVE = re.compile(r"^[A-Za-z]:")

PYTHON_SUFFIXES: Final = (".py", ".pyw")


class UnsafePath(ValueError):
    """A member name that must never be used: absolute, or climbing out with ``..``."""


def sanitise_member_name(name: str) -> tuple[str, ...]:
    """Split an archive member name into safe relative components, or raise :class:`UnsafePath`.

    Backslashes count as separators (zip files written on Windows), ``.`` and empty components
    are dropped, and absolute paths, drive letters, ``..`` components and NUL bytes are refused.
    """
    if "\x00" in name:
        raise UnsafePath(f"NUL byte in member name {name!r}")
    text = name.replace("\\", "/")
    if text.startswith("/") or _DRIVE.match(text):
        raise UnsafePath(f"absolute member path {name!r}")
    parts = tuple(p for p in text.split("/") if p not in ("", "."))
    if ".." in parts:
        raise UnsafePath(f"member path climbs out of the archive: {name!r}")
    return parts


def is_python_name(parts: Sequence[str]) -> bool:
    """Whether a sanitised member name names a Python source file (``.py``/``.pyw``)."""
    return bool(parts) and parts[-1].lower().endswith(PYTHON_SUFFIXES)


def common_top_dir(paths: Sequence[tuple[str, ...]]) -> str | None:
    """The top-level directory every path lies under (``name-version``), if there is one."""
    if not paths:
        return None
    first = paths[0][0]
    if all(len(p) > 1 and p[0] == first for p in paths):
        return first
    return None


def report_path(parts: tuple[str, ...], top: str | None) -> str:
    """The path shown in tables: the member's components without the top-level directory."""
    if top is not None and len(parts) > 1 and parts[0] == top:
        parts = parts[1:]
    return "/".join(parts)


def path_class(path: str) -> str:
    """Classify a report path by its components: tests, examples, docs, vendored or code.

    Checked in that order, so ``docs/examples/test_x.py`` is ``tests``.
    """
    parts = [p.lower() for p in path.split("/") if p]
    if not parts:
        return CODE
    dirs, name = parts[:-1], parts[-1]
    if (
        _TEST_DIRS.intersection(dirs)
        or name == "conftest.py"
        or name.startswith("test_")
        or name.endswith(("_test.py", "_tests.py"))
    ):
        return TESTS
    if _EXAMPLE_DIRS.intersection(dirs):
        return EXAMPLES
    if _DOC_DIRS.intersection(dirs):
        return DOCS
    if _VENDOR_DIRS.intersection(dirs):
        return VENDORED
    return CODE

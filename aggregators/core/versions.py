"""PEP 440 versions: parsed once, compared with ``packaging``; invalid strings stay text."""

from __future__ import annotations

import re
from functools import lru_cache

from packaging.version import VERSION_PATTERN as _PACKAGING_PATTERN
from packaging.version import InvalidVersion, Version


@lru_cache(maxsize=262_144)
def parse_version(text: str) -> Version | None:
    """Parse a PEP 440 version, or return ``None`` when ``text`` is not one (never raises)."""
    try:
        return Version(text)
    except (InvalidVersion, TypeError):
        return None


@lru_cache(maxsize=262_144)
def canonical_version(text: str) -> str:
    """Return the canonical form used to match versions by PEP 440 equality.

    The same string as ``packaging.utils.canonicalize_version(v, strip_trailing_zero=True)``,
    built from the parsed parts without re-rendering and re-matching the version.

    ``2.2``, ``2.2.0`` and ``v2.2`` all become ``2.2``. A string that is not PEP 440 is
    returned stripped but otherwise unchanged, so it still matches itself.
    """
    version = parse_version(text)
    if version is None:
        return text.strip()
    release = list(version.release)
    while len(release) > 1 and release[-1] == 0:
        release.pop()
    parts = [f"{version.epoch}!" if version.epoch else "", ".".join(map(str, release))]
    if version.pre is not None:
        parts.append(f"{version.pre[0]}{version.pre[1]}")
    if version.post is not None:
        parts.append(f".post{version.post}")
    if version.dev is not None:
        parts.append(f".dev{version.dev}")
    if version.local is not None:
        parts.append(f"+{version.local}")
    return "".join(parts)


def version_sort_key(text: str) -> tuple[int, Version | str]:
    """Sort key: PEP 440 versions in version order first, then other strings as text."""
    version = parse_version(text)
    return (0, version) if version is not None else (1, text)


def _portable(pattern: str) -> str:
    """packaging's verbose, case-insensitive ``VERSION_PATTERN`` as a compact pattern JSON
    Schema (ECMA-262) and Python read alike: comments and spaces dropped, named, atomic and
    possessive constructs made plain, each letter matched in either case."""
    text = "".join(line.split("#", 1)[0].strip() for line in pattern.splitlines())
    text = re.sub(r"\(\?P<\w+>|\(\?a:", "(?:", text)
    text = re.sub(r"([+*?])\+", r"\1", text)
    out, in_class, i = [], False, 0
    while i < len(text):
        char = text[i]
        if char == "\\":
            out.append(text[i : i + 2])
            i += 2
            continue
        if char == "[" and not in_class:
            in_class = True
        elif char == "]" and in_class:
            in_class = False
        elif in_class and text.startswith("a-z", i):
            out.append("a-zA-Z")
            i += 3
            continue
        elif not in_class and char.isalpha() and text[i - 1 : i] not in ("?", "(") and char != "v":
            char = f"[{char}{char.upper()}]"
        elif not in_class and char == "v":
            char = "[vV]"
        out.append(char)
        i += 1
    return "^" + "".join(out) + "$"


VERSION_PATTERN = _portable(_PACKAGING_PATTERN)
"""A PEP 440 version without surrounding spaces, as a regular expression (the OpenAPI
document's): the same strings as :func:`parse_version` accepts, stripped."""

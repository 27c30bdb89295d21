"""PEP 440 versions: parsed once, compared with ``packaging``; invalid strings stay text."""

from __future__ import annotations

from functools import lru_cache

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

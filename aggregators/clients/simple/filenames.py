"""Which version a distribution file is, from its name (pure), as installers read it.

Wheels by their standard name (``parse_wheel_filename``); source archives (``.tar.gz``, ``.zip``
and the older ``.tar.bz2``, ``.tgz``...) and eggs by the project's name followed by ``-`` and
the version, matched under PEP 503 normalization as pip matches them
(``Flask_Login-0.6.3.tar.gz`` is ``flask-login`` 0.6.3). Anything else (Windows installers, a
name that does not start with the project's) has no version: ``None``.
"""

from __future__ import annotations

import re

from packaging.utils import InvalidWheelFilename, parse_wheel_filename

from aggregators.core.names import normalize_name
from aggregators.core.versions import parse_version

SDIST_SUFFIXES = (
    ".tar.gz",
    ".tar.bz2",
    ".tar.xz",
    ".tar.lz",
    ".tar.lzma",
    ".tar.zst",
    ".tgz",
    ".tbz",
    ".txz",
    ".tlz",
    ".tar",
    ".zip",
)

_EGG_TAIL = re.compile(r"-py\d[^-]*(-.*)?$")
"""``-py3.8`` and a platform after it, at the end of an egg's name."""


def file_version(filename: str, project: str) -> str | None:
    """The version ``filename`` holds of ``project`` (PEP 503 name), as written in the name, or
    ``None`` when it cannot be told (not a wheel, sdist or egg of that project, or not PEP 440)."""
    lower = filename.lower()
    if lower.endswith(".whl"):
        try:
            name, version, _build, _tags = parse_wheel_filename(filename)
        except (InvalidWheelFilename, ValueError):
            return None
        return str(version) if name == project else None
    stem = None
    for suffix in SDIST_SUFFIXES:
        if lower.endswith(suffix):
            stem = filename[: -len(suffix)]
            break
    if stem is None and lower.endswith(".egg"):
        stem = _EGG_TAIL.sub("", filename[:-4])
    if stem is None:
        return None
    return _version_after_name(stem, project)


def _version_after_name(stem: str, project: str) -> str | None:
    """The version in ``<name>-<version>`` where ``<name>`` normalizes to ``project``."""
    for index, char in enumerate(stem):
        if char != "-":
            continue
        if normalize_name(stem[:index]) == project:
            version = stem[index + 1 :]
            return version if version and parse_version(version) is not None else None
    return None

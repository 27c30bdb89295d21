"""Package names, PEP 503-normalized everywhere."""

from __future__ import annotations

import re

_SEPARATORS = re.compile(r"[-_.]+")


def normalize_name(name: str) -> str:
    """Return the PEP 503 normalized form of a package name (``Flask_Login`` -> ``flask-login``)."""
    return _SEPARATORS.sub("-", name).lower()

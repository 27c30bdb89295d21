"""Package names, PEP 503-normalized everywhere."""

from __future__ import annotations

import re
from urllib.parse import urlsplit

_SEPARATORS = re.compile(r"[-_.]+")
NAME_PATTERN = "^([A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9._-]*[A-Za-z0-9])$"
"""A valid project name (PEP 508 / the core metadata spec), as a regular expression that JSON
Schema (the OpenAPI document) and Python read alike."""
PROJECT_NAME = re.compile(NAME_PATTERN)


def normalize_name(name: str) -> str:
    """Return the PEP 503 normalized form of a package name (``Flask_Login`` -> ``flask-login``)."""
    return _SEPARATORS.sub("-", name).lower()


def github_path(url: str) -> str | None:
    """``github.com/<owner>/<repo>`` (case kept) for a GitHub repository URL, else ``None``."""
    parts = urlsplit(url)
    segments = [s for s in parts.path.split("/") if s]
    if (parts.hostname or "").lower() != "github.com" or len(segments) < 2:
        return None
    return f"github.com/{segments[0]}/{segments[1]}"


def repository_key(url: str | None) -> str | None:
    """The key a repository is stored under in ``scorecards`` (``https://github.com/o/r``,
    lower case), or ``None`` when ``url`` is not a GitHub repository."""
    path = github_path(url) if url else None
    return "https://" + path.lower() if path else None

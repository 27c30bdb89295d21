"""Normalize one PyPI JSON API document (``/pypi/<name>/json``) into rows (pure).

File URLs may be relative (mirrors rewrite them): they are resolved against the URL asked.
The source repository is found from ``project_urls`` with labels normalized as in PEP 753
(well-known ``source`` labels first: Source, Repository, Source Code, GitHub), then a homepage
that points at a code forge, then any other project URL on a forge.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any
from urllib.parse import urljoin, urlsplit

from aggregators.core.clock import parse_timestamp
from aggregators.core.names import normalize_name
from aggregators.core.versions import canonical_version, parse_version

FORGES = ("github.com", "gitlab.com", "bitbucket.org", "codeberg.org")
SOURCE_LABELS = ("source", "repository", "sourcecode", "github", "code", "git")
HOMEPAGE_LABELS = ("homepage", "home")
_LABEL_DROP = str.maketrans("", "", string.punctuation + string.whitespace)
_REPO_PATH = re.compile(r"^/([^/]+)/([^/]+?)(?:\.git)?(?:/.*)?$")


class ProjectError(ValueError):
    """The document does not have the shape of a PyPI project page."""


@dataclass
class Project:
    """Rows for ``packages`` (one) and ``releases`` (one per version) from one document."""

    package: dict[str, Any]
    releases: list[dict[str, Any]] = field(default_factory=list)


def normalize_label(label: str) -> str:
    """PEP 753 label normalization: lower case, no punctuation, no whitespace."""
    return label.translate(_LABEL_DROP).lower()


def forge_repository(url: str) -> str | None:
    """``https://<forge>/<owner>/<repo>`` when ``url`` points into a repository on a known forge."""
    try:
        parts = urlsplit(url.strip())
    except ValueError:
        return None
    host = (parts.hostname or "").lower().removeprefix("www.")
    if host not in FORGES:
        return None
    match = _REPO_PATH.match(parts.path)
    if not match:
        return None
    owner, repo = match.group(1), match.group(2)
    if owner in ("sponsors", "orgs", "marketplace", "apps") or not repo:
        return None
    return f"https://{host}/{owner}/{repo}"


def find_repository(info: dict[str, Any]) -> tuple[str | None, str | None]:
    """``(repository URL, where it was found)`` from a project's ``info``; ``(None, None)``."""
    urls = info.get("project_urls") or {}
    labelled = [(normalize_label(str(k)), str(k), v) for k, v in urls.items() if isinstance(v, str)]
    for wanted in SOURCE_LABELS:
        for norm, label, url in labelled:
            if norm == wanted and (repo := forge_repository(url)):
                return repo, f"project_urls.{label}"
    for norm, label, url in labelled:
        if norm in HOMEPAGE_LABELS and (repo := forge_repository(url)):
            return repo, f"project_urls.{label}"
    home = info.get("home_page")
    if isinstance(home, str) and (repo := forge_repository(home)):
        return repo, "home_page"
    for _norm, label, url in labelled:
        if repo := forge_repository(url):
            return repo, f"project_urls.{label}"
    return None, None


def _upload_time(file: dict[str, Any]) -> datetime | None:
    value = file.get("upload_time_iso_8601") or file.get("upload_time")
    try:
        return parse_timestamp(value) if value else None
    except (ValueError, OverflowError):
        return None


def _release_row(
    package: str, version: str, files: list[dict[str, Any]], asked: str
) -> dict[str, Any]:
    parsed = parse_version(version)
    sdists = [f for f in files if f.get("packagetype") == "sdist"]
    sdist = next((f for f in sdists if not f.get("yanked")), sdists[0] if sdists else None)
    times = [t for t in (_upload_time(f) for f in files) if t is not None]
    yanked = bool(files) and all(bool(f.get("yanked")) for f in files)
    reasons = [f.get("yanked_reason") for f in files if f.get("yanked_reason")]
    requires = next((f.get("requires_python") for f in files if f.get("requires_python")), None)
    return {
        "package": package,
        "version": version,
        "version_canonical": canonical_version(version),
        "is_pep440": parsed is not None,
        "is_prerelease": parsed.is_prerelease if parsed is not None else None,
        "upload_time": min(times) if times else None,
        "yanked": yanked,
        "yanked_reason": str(reasons[0]) if yanked and reasons else None,
        "requires_python": str(requires) if requires else None,
        "sdist_filename": sdist.get("filename") if sdist else None,
        "sdist_url": urljoin(asked, sdist["url"]) if sdist and sdist.get("url") else None,
        "sdist_sha256": (sdist.get("digests") or {}).get("sha256") if sdist else None,
        "sdist_size": int(sdist["size"]) if sdist and isinstance(sdist.get("size"), int) else None,
        "has_wheel": any(f.get("packagetype") == "bdist_wheel" for f in files),
        "files": len(files),
    }


def parse_project(
    document: Any, asked: str, requested: str, etag: str | None, now: datetime
) -> Project:
    """Rows for one project document fetched from ``asked``; raise :class:`ProjectError`."""
    if not isinstance(document, dict) or not isinstance(document.get("info"), dict):
        raise ProjectError("not a PyPI project document (no 'info' mapping)")
    info = document["info"]
    name = info.get("name")
    if not isinstance(name, str) or not name:
        raise ProjectError("project has no name")
    releases = document.get("releases")
    releases = {} if releases is None else releases
    if not isinstance(releases, dict):
        raise ProjectError("'releases' is not a mapping")
    package = normalize_name(name)
    if package != normalize_name(requested):
        raise ProjectError(f"asked for {requested!r}, got project {name!r}")
    repository, found_in = find_repository(info)
    rows = []
    for version, files in releases.items():
        if not isinstance(files, list) or not all(isinstance(f, dict) for f in files):
            raise ProjectError(f"release {version!r} has no list of files")
        rows.append(_release_row(package, str(version), files, asked))
    serial = document.get("last_serial")
    latest = info.get("version")
    return Project(
        package={
            "package": package,
            "display_name": name,
            "status": "ok",
            "reason": None,
            "latest_version": latest if isinstance(latest, str) else None,
            "summary": info.get("summary") if isinstance(info.get("summary"), str) else None,
            "last_serial": serial if isinstance(serial, int) else None,
            "releases": len(rows),
            "repository_url": repository,
            "repository_found_in": found_in,
            "etag": etag,
            "fetched_at": now,
        },
        releases=rows,
    )


def status_row(package: str, status: str, reason: str, now: datetime) -> dict[str, Any]:
    """A ``packages`` row for a project that could not be read (``not_found`` or ``error``)."""
    return {
        "package": package,
        "display_name": package,
        "status": status,
        "reason": reason,
        "latest_version": None,
        "summary": None,
        "last_serial": None,
        "releases": 0,
        "repository_url": None,
        "repository_found_in": None,
        "etag": None,
        "fetched_at": now,
    }

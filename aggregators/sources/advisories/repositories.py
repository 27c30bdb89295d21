"""The OSV git repositories the advisories source reads: the PyPA advisory-db, then any others.

The advisory-db (``advisory_db_url``, files under ``vulns/``) is always first, origin ``pypa``.
``osv_repositories`` adds more, each ``name=url#path|path`` (the folders to read; files ending in
``.json``, ``.yaml`` or ``.yml``), for example the OpenSSF malicious-packages repository::

    ossf=https://github.com/ossf/malicious-packages.git#osv/malicious/pypi|osv/withdrawn/pypi

An added repository is mirrored as a partial clone (commits and trees, and the blobs of its
folders only): the malicious-packages repository holds every ecosystem and is too large to
fetch whole. Its files' paths are recorded as ``<name>:<path>`` so that paths of different
repositories never collide.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from aggregators.core.config import Settings, git_location
from aggregators.core.errors import ConfigError
from aggregators.core.workspace import Workspace

ADVISORY_SUFFIXES = (".yaml", ".yml", ".json")
DEFAULT_ORIGIN = "pypa"
PYPA_FOLDER = "vulns"
STAGING = re.compile(r"^MAL-0000-")
"""Files of the malicious-packages repository waiting to be merged into a ``MAL-YYYY-N``
record (``"id": ""``): ingestion inputs, not records; never read."""
_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,39}$")


@dataclass(frozen=True)
class OsvRepository:
    """One OSV git repository and the folders of it that hold advisories."""

    name: str
    url: str
    folders: tuple[str, ...]
    branch: str = ""
    partial: bool = False
    """Mirror commits and trees only, and fetch the blobs of :attr:`folders`."""

    def mirror(self, workspace: Workspace) -> Path:
        """Where the bare mirror of this repository lives."""
        if self.name == DEFAULT_ORIGIN:
            return workspace.advisory_db
        return workspace.cache / "osv" / f"{self.name}.git"

    def is_advisory(self, path: str) -> bool:
        """Whether ``path`` (in the repository) is an advisory file of this repository."""
        if not path.endswith(ADVISORY_SUFFIXES) or STAGING.match(PurePosixPath(path).name):
            return False
        return any(path.startswith(folder.rstrip("/") + "/") for folder in self.folders)

    def shown(self, path: str) -> str:
        """The path as the tables record it (``<name>:<path>`` except for the advisory-db)."""
        return path if self.name == DEFAULT_ORIGIN else f"{self.name}:{path}"

    def describe(self) -> str:
        """``name=url#folder|folder``, as configured."""
        return f"{self.name}={self.url}#{'|'.join(self.folders)}"


def origin_of(shown_path: str) -> str:
    """The repository a recorded path came from (see :meth:`OsvRepository.shown`)."""
    head, colon, _ = shown_path.partition(":")
    return head if colon and "/" not in head else DEFAULT_ORIGIN


def parse_repository(text: str) -> OsvRepository:
    """One ``name=url#folder|folder`` entry of ``osv_repositories``."""
    name, equals, rest = text.strip().partition("=")
    url, _, folders_text = rest.partition("#")
    name = name.strip()
    if not equals or not url.strip():
        raise ConfigError(f"osv_repositories entry {text!r} is not name=url#folder|folder")
    if not _NAME.match(name) or name == DEFAULT_ORIGIN:
        raise ConfigError(
            f"osv_repositories name {name!r} must be lowercase letters, digits and '-' "
            f"(and not {DEFAULT_ORIGIN!r}, the advisory-db's)"
        )
    folders = tuple(f.strip().strip("/") for f in folders_text.split("|") if f.strip().strip("/"))
    if not folders:
        raise ConfigError(f"osv_repositories entry {name!r} names no folder (add #folder)")
    for folder in folders:
        if ".." in PurePosixPath(folder).parts or folder.startswith("-"):
            raise ConfigError(f"osv_repositories entry {name!r}: folder {folder!r} is not allowed")
    return OsvRepository(name, git_location(url.strip()), folders, partial=True)


def configured_repositories(settings: Settings) -> list[OsvRepository]:
    """The advisory-db, then each ``osv_repositories`` entry, in order (names unique)."""
    found = [
        OsvRepository(
            DEFAULT_ORIGIN, settings.advisory_db_url, (PYPA_FOLDER,), settings.advisory_db_branch
        )
    ]
    for entry in settings.osv_repositories:
        repository = parse_repository(entry)
        if any(r.name == repository.name for r in found):
            raise ConfigError(f"osv_repositories names {repository.name!r} twice")
        found.append(repository)
    return found

"""Helpers of the watched-project tests: settings, a git remote of the real advisory-db moved
between commits, SBOMs, and an independent reading of OSV files (no seckb code)."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

import yaml
from packaging.version import InvalidVersion, Version

from aggregators.clients.projects.inputs import read_components
from aggregators.clients.projects.service import add_project
from aggregators.clients.projects.watch import WatchReport, run_after_publish
from aggregators.core.clock import utcnow
from aggregators.core.config import Settings, load_settings
from aggregators.core.workspace import Workspace
from aggregators.run.ingest import ingest
from aggregators.store.projects import ProjectStore

HEAD = "46bc8dad4f88a118785f37497f5802db364974a5"
OLD = "4b063fcd1c47ffafa7fa1109524bab3b34e652e1"
"""2023-06-06, the commit before PYSEC-2023-73 (redis) was withdrawn; 555 commits before HEAD."""


def git(*args: str, cwd: Path | None = None) -> str:
    return subprocess.run(
        ["git", *args], cwd=cwd, check=True, capture_output=True, text=True
    ).stdout


def settings_for(home: Path, advisory_db: str, **overrides: Any) -> Settings:
    """Settings of a test data root: fast retries, short timeouts."""
    values: dict[str, Any] = {
        "home": home,
        "advisory_db_url": advisory_db,
        "http_attempts": 2,
        "http_backoff_max_seconds": 0.01,
        "http_timeout_seconds": 1.5,
    }
    values.update(overrides)
    return load_settings(env={}, **values)


def bundle_remote(bundle: Path, tmp_path: Path, commit: str) -> Path:
    """A bare clone of the bundle whose ``main`` points at ``commit``."""
    remote = tmp_path / "remote"
    git("clone", "-q", "--bare", str(bundle), str(remote))
    move(remote, commit)
    return remote


def move(remote: Path, commit: str) -> None:
    """Point the remote's ``main`` at ``commit`` (what a push or a history rewrite does)."""
    git("update-ref", "refs/heads/main", commit, cwd=remote)


def cyclonedx(components: Iterable[tuple[str, str]], extra: Iterable[dict[str, Any]] = ()) -> Any:
    """A CycloneDX 1.5 JSON SBOM of PyPI ``(name, version)`` pairs (plus ``extra`` components)."""
    return {
        "bomFormat": "CycloneDX",
        "specVersion": "1.5",
        "version": 1,
        "metadata": {"component": {"type": "application", "name": "shop", "version": "1.0"}},
        "components": [
            {
                "type": "library",
                "bom-ref": f"{name}-{version}",
                "name": name,
                "version": version,
                "purl": f"pkg:pypi/{name}@{version}",
            }
            for name, version in components
        ]
        + list(extra),
    }


def add(home: Path, name: str, path: Path, kind: str, version: str | None = None) -> str:
    """Add a project from a file, as ``seckb project add`` does; return what happened."""
    store = ProjectStore(Workspace(home))
    return add_project(store, name, read_components(path, kind), version, utcnow()).change


def write_json(path: Path, document: Any) -> Path:
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


def run(settings: Settings, **kwargs: Any) -> WatchReport:
    """One run: ingest the advisories, then what runs after a publish."""
    ingest(settings, "advisories")
    return run_after_publish(settings, **kwargs)


# --- an independent reading of the OSV files: PyYAML and packaging only -----------------------


def _name(text: str) -> str:
    import re

    return re.sub(r"[-_.]+", "-", text).lower()


def _version(text: Any) -> Version | None:
    try:
        return Version(str(text))
    except InvalidVersion:
        return None


def osv_files(remote: Path, commit: str, folders: Iterable[str]) -> list[dict[str, Any]]:
    """The advisories under ``vulns/<folder>/`` at ``commit`` (any folder spelling)."""
    wanted = set(folders)
    listing = git("ls-tree", "-r", "--name-only", commit, "vulns", cwd=remote).splitlines()
    found = []
    for path in listing:
        parts = path.split("/")
        if len(parts) == 3 and _name(parts[1]) in wanted and path.endswith(".yaml"):
            text = git("show", f"{commit}:{path}", cwd=remote)
            found.append(yaml.load(text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader)))
    return found


def _in_range(events: list[Mapping[str, Any]], version: Version) -> bool:
    """OSV ECOSYSTEM range: the union of [introduced, fixed) / [introduced, last_affected]."""
    starts = [e["introduced"] for e in events if "introduced" in e]
    for start in starts:
        low = Version("0") if str(start) == "0" else _version(start)
        if low is None or version < low:
            continue
        ends = [
            (v, kind)
            for e in events
            for kind in ("fixed", "last_affected", "limit")
            if kind in e and (v := _version(e[kind])) is not None and v >= low
        ]
        ends = [(v, k) for v, k in ends if not (k == "fixed" and v == low)]
        if not ends:
            return True
        end, kind = min(ends, key=lambda item: item[0])
        if version < end or (kind == "last_affected" and version == end):
            return True
    return False


def affected_ids(advisories: Iterable[Mapping[str, Any]], package: str, version: str) -> set[str]:
    """Active advisories whose PyPI entry for ``package`` covers ``version``."""
    wanted = _version(version)
    found = set()
    for advisory in advisories:
        if advisory.get("withdrawn"):
            continue
        for entry in advisory.get("affected") or []:
            pkg = entry.get("package") or {}
            if pkg.get("ecosystem") != "PyPI" or _name(str(pkg.get("name"))) != package:
                continue
            listed = {_version(v) for v in entry.get("versions") or []} - {None}
            hit = wanted is not None and wanted in listed
            for item in entry.get("ranges") or []:
                if item.get("type") == "ECOSYSTEM" and wanted is not None:
                    hit = hit or _in_range(item.get("events") or [], wanted)
            if hit:
                found.add(str(advisory["id"]))
    return found

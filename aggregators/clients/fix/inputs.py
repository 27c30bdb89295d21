"""What ``seckb fix`` reads: a pinned requirements file (and the files it includes) or a
``uv.lock``, and, for ``relax``, the direct requirements they were resolved from.

Pins are the ``==`` lines; editable, URL and path requirements, unpinned and unreadable lines
are kept as they are and reported; option lines are never passed to uv (an
``--extra-index-url`` would reach past seckb's index). The direct requirements come from
``--in`` (a ``requirements.in`` or ``pyproject.toml``), else from the file's own header when a
compiler wrote one (``uv pip compile requirements.in``, ``pip-compile ... requirements.in``),
else they are the pins' names; for a ``uv.lock``, from its project's ``pyproject.toml``.
"""

from __future__ import annotations

import hashlib
import re
import shlex
import tomllib
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from aggregators.clients.fix.plan import FixInput, Kept, Pin
from aggregators.core.errors import SeckbError
from aggregators.core.names import normalize_name
from aggregators.core.requirements import read_requirements

_COMMAND = re.compile(r"^#\s+((?:uv pip compile|pip-compile)\b.*)$", re.M)


class InputError(SeckbError):
    """The file to fix cannot be read."""


def requirement_text(text: str) -> str:
    """A requirement line without its per-line options (``--hash``...)."""
    return re.split(r"\s+--?[a-z]", text, maxsplit=1)[0].strip()


def read_direct(path: Path) -> tuple[str, ...]:
    """The direct requirements of a ``.in`` / requirements file or a ``pyproject.toml``."""
    if path.name == "pyproject.toml":
        try:
            data = tomllib.loads(path.read_text(encoding="utf-8"))
        except (OSError, tomllib.TOMLDecodeError) as exc:
            raise InputError(f"cannot read {path}: {exc}") from exc
        dependencies = data.get("project", {}).get("dependencies", [])
        if not isinstance(dependencies, list):
            raise InputError(f"{path}: project.dependencies is not a list")
        return tuple(str(d) for d in dependencies)
    try:
        lines = read_requirements(path)
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from exc
    return tuple(
        requirement_text(line.text) for line in lines if line.status in ("pinned", "unpinned")
    )


def compiled_from(path: Path, text: str) -> Path | None:
    """The input file a compiler's header names (when it exists beside ``path``)."""
    found = _COMMAND.search(text)
    if not found:
        return None
    try:
        words = shlex.split(found.group(1))
    except ValueError:
        return None
    for word in words[2:]:
        if word.startswith("-") or not word.endswith((".in", ".txt", ".toml")):
            continue
        candidate = path.parent / word
        if candidate.resolve() != path.resolve() and candidate.is_file():
            return candidate
    return None


def read_requirements_input(path: Path, direct: Path | None = None) -> FixInput:
    """The pins of a requirements file and what else it holds."""
    try:
        text = path.read_text(encoding="utf-8")
        lines = read_requirements(path)
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise InputError(f"cannot read {path}: {reason}") from exc
    pins: list[Pin] = []
    kept: list[Kept] = []
    notes: list[str] = []
    for line in lines:
        where = f"{line.origin}:{line.line}"
        if line.status == "pinned" and line.package and line.version:
            hashed = "--hash" in line.text
            pins.append(
                Pin(line.package, line.version, line.origin, line.line, line.marker, hashed)
            )
        elif line.status in ("option", "include"):
            notes.append(f"{where}: {line.note}")
        else:
            kept.append(Kept(line.package, where, line.status, line.note or line.status))
    source = direct or compiled_from(path, text)
    found = read_direct(source) if source is not None else ()
    origins = dict.fromkeys([str(path), *(line.origin for line in lines)])
    return FixInput(
        "requirements",
        str(path),
        tuple(pins),
        tuple(kept),
        found,
        str(source) if source is not None else None,
        tuple(notes),
        tuple((origin, digest_of(Path(origin))) for origin in origins),
    )


def digest_of(path: Path) -> str:
    """The sha256 of a file's bytes (``""`` when it cannot be read)."""
    try:
        return hashlib.sha256(path.read_bytes()).hexdigest()
    except OSError:
        return ""


def read_lock_input(path: Path) -> FixInput:
    """The registry packages of a ``uv.lock`` (and its project's direct requirements)."""
    try:
        data: dict[str, Any] = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise InputError(f"cannot read {path} as a uv.lock: {exc}") from exc
    packages = data.get("package")
    if not isinstance(packages, list):
        raise InputError(f"{path} is not a uv.lock (no [[package]] entries)")
    pins: list[Pin] = []
    kept: list[Kept] = []
    for item in packages:
        name, version = item.get("name"), item.get("version")
        source = item.get("source") or {}
        if not isinstance(name, str):
            continue
        where = f"{path}#{name}"
        if "registry" in source and isinstance(version, str):
            pins.append(Pin(normalize_name(name), version, str(path), 0))
        elif "editable" in source or "virtual" in source:
            continue  # the project itself
        else:
            kind = next(iter(source), "unknown")
            kept.append(Kept(normalize_name(name), where, "direct_reference", f"{kind} source"))
    project = path.parent / "pyproject.toml"
    direct = read_direct(project) if project.is_file() else ()
    return FixInput(
        "uv.lock",
        str(path),
        tuple(pins),
        tuple(kept),
        direct,
        str(project) if project.is_file() else None,
        (),
        ((str(path), digest_of(path)),),
    )


def components_input(project: str, components: Sequence[Mapping[str, Any]]) -> FixInput:
    """The pinned components of a watched project (a plan only: nothing is written)."""
    pins: list[Pin] = []
    kept: list[Kept] = []
    for index, component in enumerate(components, 1):
        package, version = component.get("package"), component.get("version")
        where = str(component.get("where") or f"{project}#{index}")
        if component.get("problem") or component.get("reference") or not version:
            note = component.get("problem") or component.get("reference") or "not pinned"
            kept.append(Kept(package, where, "not_pinned", str(note)))
        elif isinstance(package, str):
            pins.append(Pin(normalize_name(package), str(version), project, index,
                            component.get("marker")))  # fmt: skip
    return FixInput("project", project, tuple(pins), tuple(kept))

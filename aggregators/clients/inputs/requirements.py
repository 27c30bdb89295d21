"""Requirements files (pip's format) read with ``packaging``: names and exact pins.

Only what seckb needs: each requirement's PEP 503 name and, when it is pinned with ``==`` (or
``===``) to one version, that version. Options (``--hash``, ``-i``...) are ignored, ``-r``/``-c``
includes are followed (relative to the including file), and a line that is not a valid
requirement is reported, never silently passed.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from packaging.requirements import InvalidRequirement, Requirement

from aggregators.core.names import normalize_name


@dataclass(frozen=True)
class Pin:
    """One requirement: the package, its exact pin (``None`` when not pinned) and where it was."""

    package: str
    version: str | None
    origin: str
    line: int


@dataclass(frozen=True)
class Problem:
    """A line that could not be read."""

    origin: str
    line: int
    text: str
    reason: str


def exact_pin(requirement: Requirement) -> str | None:
    """The single version ``requirement`` pins with ``==``/``===`` (no wildcard), else ``None``."""
    specs = list(requirement.specifier)
    if len(specs) == 1 and specs[0].operator in ("==", "===") and "*" not in specs[0].version:
        return specs[0].version
    return None


def _logical_lines(text: str) -> list[tuple[int, str]]:
    lines: list[tuple[int, str]] = []
    buffer, start = "", 0
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split(" #", 1)[0].rstrip() if not raw.lstrip().startswith("#") else ""
        if not buffer:
            start = number
        if line.endswith("\\"):
            buffer += line[:-1] + " "
            continue
        buffer += line
        if buffer.strip():
            lines.append((start, buffer.strip()))
        buffer = ""
    if buffer.strip():
        lines.append((start, buffer.strip()))
    return lines


def parse_requirements(
    text: str, origin: str, base: Path | None = None, _seen: frozenset[Path] = frozenset()
) -> tuple[list[Pin], list[Problem]]:
    """Read requirements ``text`` (from ``origin``); follow includes relative to ``base``."""
    pins: list[Pin] = []
    problems: list[Problem] = []
    for number, line in _logical_lines(text):
        if line.startswith(("-r ", "--requirement", "-c ", "--constraint")):
            target = line.split(None, 1)[1].strip() if " " in line else line.split("=", 1)[-1]
            path = (base or Path.cwd()) / target
            if path.resolve() in _seen:
                continue
            try:
                more, issues = read_requirements(path, _seen)
            except OSError as exc:
                problems.append(
                    Problem(origin, number, line, f"cannot read {target}: {exc.strerror}")
                )
                continue
            pins.extend(more)
            problems.extend(issues)
            continue
        if line.startswith(("-e ", "-e=", "--editable")):
            problems.append(
                Problem(origin, number, line, "editable requirement: no version to check")
            )
            continue
        if line.startswith("-"):
            continue  # an option such as --hash, -i, --extra-index-url
        requirement_text = line.split(" --hash", 1)[0].strip()
        try:
            requirement = Requirement(requirement_text)
        except InvalidRequirement as exc:
            problems.append(Problem(origin, number, line, str(exc).splitlines()[0]))
            continue
        pins.append(Pin(normalize_name(requirement.name), exact_pin(requirement), origin, number))
    return pins, problems


def read_requirements(
    path: Path, _seen: frozenset[Path] = frozenset()
) -> tuple[list[Pin], list[Problem]]:
    """Read a requirements file and the files it includes."""
    resolved = path.resolve()
    text = resolved.read_text(encoding="utf-8")
    return parse_requirements(text, str(path), resolved.parent, _seen | {resolved})

"""Requirements files (pip's format), read with ``pip-requirements-parser`` (pip's own code).

:func:`read_requirements` gives one :class:`RequirementLine` per requirement or option line of
a file and of the files it includes (``-r``/``-c``, in any spelling pip accepts: ``-rinner.txt``,
``--requirement=inner.txt``...), in file order with each include expanded where it stands.
Nothing vanishes: comments and blank lines are the only lines without a row, an option is kept
with a note saying it is ignored, and a line pip would refuse is ``invalid`` with pip's reason.

Includes are followed here, not by the library (which recurses without end on a cycle and stops
on a missing file): each file is read once, relative to the including file as pip does; an
include of a file already read is noted, one that cannot be read (missing, a URL) is ``invalid``.
Environment markers are kept as written and never evaluated.
"""

from __future__ import annotations

import errno
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pip_requirements_parser as pip_parser  # type: ignore[import-untyped]

from aggregators.core.names import normalize_name

STATUSES = ("pinned", "unpinned", "direct_reference", "editable", "invalid", "option", "include")
_GUESSED_NAME = re.compile(r"([A-Za-z0-9][A-Za-z0-9._-]*)\s*(?:[\[<>=!~;@(]|$)")
_URL = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


@dataclass(frozen=True)
class RequirementLine:
    """One requirement or option line of a requirements file, and what seckb makes of it."""

    origin: str  # file the line is in (as given / as included)
    line: int  # 1-based line number (the first physical line of a continued line)
    text: str  # the line as written (stripped; continuations joined, comment removed)
    status: str  # one of STATUSES
    package: str | None  # PEP 503-normalized name (None for options, includes, unreadable lines)
    version: str | None  # the single version pinned with == or === (no wildcard), else None
    marker: str | None  # environment marker text, kept as written
    note: str | None  # why, for every status other than pinned


def read_requirements(path: Path) -> list[RequirementLine]:
    """Every requirement and option line of ``path`` and of the files it includes.

    Raise :class:`OSError` when ``path`` itself cannot be read (a file that is not text
    included); problems with included files are ``invalid`` lines.
    """
    return _read(Path(path), str(path), set(), ())


def exact_pin(specifier: Any) -> str | None:
    """The single version a specifier set pins with ``==``/``===`` (no wildcard), else ``None``."""
    specs = list(specifier or ())
    if len(specs) == 1 and specs[0].operator in ("==", "===") and "*" not in specs[0].version:
        return str(specs[0].version)
    return None


def _load(path: Path) -> Any:
    """Parse one file without following its includes; raise OSError when it cannot be read."""
    data = path.read_bytes()
    try:
        pip_parser.auto_decode(data)
    except (UnicodeDecodeError, LookupError) as exc:
        raise OSError(errno.EILSEQ, f"not valid text: {exc}", str(path)) from exc
    try:
        return pip_parser.RequirementsFile.from_file(str(path), include_nested=False)
    except pip_parser.InstallationError as exc:  # the file vanished between the two reads
        raise OSError(errno.EIO, str(exc).split("|n", 1)[0], str(path)) from exc


def _read(
    path: Path, origin: str, seen: set[Path], reading: tuple[Path, ...]
) -> list[RequirementLine]:
    """The lines of one file, its includes expanded in place (``seen``: every file read so far,
    ``reading``: the chain of files including this one)."""
    parsed = _load(path)
    resolved = path.resolve()
    seen.add(resolved)
    entries: dict[int, list[Any]] = {}
    for item in [*parsed.requirements, *parsed.options, *parsed.invalid_lines]:
        entries.setdefault(int(item.line_number or 0), []).append(item)
    lines: list[RequirementLine] = []
    for number in sorted(entries):
        found = entries[number]
        invalid = [i for i in found if isinstance(i, pip_parser.InvalidRequirementLine)]
        if invalid:
            lines.append(_invalid(origin, number, invalid[0]))
        elif isinstance(found[0], pip_parser.OptionLine):
            lines.extend(_option(path, origin, found[0], seen, (*reading, resolved)))
        else:
            lines.append(_requirement(origin, found[0]))
    return lines


def _invalid(origin: str, number: int, item: Any) -> RequirementLine:
    text = str(item.line or "").strip()
    message = str(item.error_message or "not a requirement").strip().splitlines()[0]
    message = message.replace(": : ", ": ").removeprefix("pip_requirements_parser: error: ")
    guess = _GUESSED_NAME.match(text)
    package = normalize_name(guess.group(1)) if guess else None
    return RequirementLine(origin, number, text, "invalid", package, None, None, message)


def _option(
    path: Path, origin: str, item: Any, seen: set[Path], reading: tuple[Path, ...]
) -> list[RequirementLine]:
    """An option line: an include (followed) or an option seckb ignores."""
    text = str(item.line or "").strip()
    number = int(item.line_number or 0)
    options: dict[str, Any] = dict(item.options)
    includes = [("requirements", str(t)) for t in options.pop("requirements", None) or ()]
    includes += [("constraints", str(t)) for t in options.pop("constraints", None) or ()]
    ignored = _ignored_options(options, text)
    if not includes:
        return [RequirementLine(origin, number, text, "option", None, None, None, ignored)]
    included_as, target = includes[0]
    kind = f"{included_as} file"
    also = f"; {ignored}" if options else ""

    def line(status: str, note: str) -> RequirementLine:
        return RequirementLine(origin, number, text, status, None, None, None, note + also)

    if len(includes) > 1:
        return [line("invalid", "several includes on one line: pip reads only the first")]
    if _URL.match(target):
        return [line("invalid", f"remote {kind} {target} not read: only local files are")]
    included = path.parent / target  # relative to the including file, as pip does
    key = included.resolve()
    if key in reading:
        return [line("include", f"include cycle: {target} is already being read")]
    if key in seen:
        return [line("include", f"{kind} {target} already read above: not read again")]
    try:
        more = _read(included, str(included), seen, reading)
    except OSError as exc:
        reason = exc.strerror or str(exc)
        return [line("invalid", f"cannot read {target}: {reason}")]
    return [line("include", f"includes {kind} {target}"), *more]


def _ignored_options(options: dict[str, Any], text: str) -> str:
    """``option --index-url ignored``: the options of a line, as pip spells them."""
    names = [str(pip_parser.OPT_BY_OPTIONS_DEST.get(dest, dest)) for dest in options]
    names = names or [re.split(r"[=\s]", text, maxsplit=1)[0]]  # --hash alone has no value kept
    return f"{'option' if len(names) == 1 else 'options'} {', '.join(names)} ignored"


def _marker(item: Any) -> str | None:
    """The requirement's environment marker as written (``packaging``'s form as a fallback)."""
    if item.marker is None:
        return None
    words = []
    for word in str(item.line or "").split(" "):
        if word.startswith("-"):
            break  # per-requirement options (--hash...) follow the requirement
        words.append(word)
    spec = " ".join(words)
    parts = re.split(r"\s;" if item.link is not None else ";", spec, maxsplit=1)
    written = parts[1].strip() if len(parts) == 2 else ""
    return written or str(item.marker)


def _requirement(origin: str, item: Any) -> RequirementLine:
    """A requirement line (an ``InstallRequirement`` of pip)."""
    text = str(item.line or "").strip()
    number = int(item.line_number or 0)
    package = normalize_name(str(item.name)) if item.name else None
    marker = _marker(item)

    def line(status: str, version: str | None, note: str | None) -> RequirementLine:
        return RequirementLine(origin, number, text, status, package, version, marker, note)

    if item.is_editable:
        return line("editable", None, "editable requirement: no version to check")
    if item.link is not None:
        what = "URL" if item.is_url else "path"
        return line("direct_reference", None, f"{what} requirement: no version to check")
    if package is None:
        return line("invalid", None, "requirement without a package name")
    version = exact_pin(item.specifier)
    if version is None:
        return line("unpinned", None, "no single version pinned with ==")
    return line("pinned", version, None)

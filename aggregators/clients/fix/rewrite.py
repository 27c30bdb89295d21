"""Rewriting a requirements file with new versions (pure: text in, text out).

Only what a fix changes is touched: the version of a pinned line (``flask==1.0`` -> ``2.2.5``,
whatever its spelling: ``Flask_Login [extra] == 1.0``), and its ``--hash`` options when new
hashes are given — on the line itself or on its continuation lines, in the same layout. Every
other byte stays: comments, blank lines, order, markers, options, ``-r``/``-c`` lines, line
endings. A pin added (a new dependency) is appended at the end with a comment saying why; a pin
removed (no longer required) becomes a comment saying so, so nothing vanishes unexplained.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from aggregators.core.errors import SeckbError

_HASH = re.compile(r"\s*--hash[=\s]\s*\S+")
_COMMENT = re.compile(r"\s+#.*$")
"""A comment at the end of a line (pip: ``#`` after whitespace)."""


class RewriteError(SeckbError):
    """A line to change is not where, or not what, the plan says."""


@dataclass(frozen=True)
class Edit:
    """A new version for the pin on one line (1-based, its first physical line)."""

    line: int
    package: str
    """PEP 503 name (the line may spell it otherwise)."""
    version: str
    hashes: tuple[str, ...] | None = None
    """``sha256:...`` values to replace the line's ``--hash`` options (``None``: keep them)."""


@dataclass(frozen=True)
class Addition:
    """A pin to append."""

    package: str
    version: str
    why: str
    hashes: tuple[str, ...] = ()
    marker: str | None = None


def _name_pattern(package: str) -> str:
    parts = [re.escape(p) for p in package.split("-")]
    return r"[-_.]+".join(parts)


def _pin_pattern(package: str) -> re.Pattern[str]:
    return re.compile(
        rf"^(\s*{_name_pattern(package)}\s*(?:\[[^\]]*\])?\s*===?\s*)([^\s;\\#,]+)",
        re.IGNORECASE,
    )


def _logical_end(lines: Sequence[str], start: int) -> int:
    """The index of the last physical line of the logical line starting at ``start``."""
    end = start
    while end < len(lines) - 1 and lines[end].rstrip("\r\n").endswith("\\"):
        end += 1
    return end


def _newline(line: str) -> str:
    return line[len(line.rstrip("\r\n")) :] or "\n"


def _with_hashes(block: list[str], hashes: tuple[str, ...]) -> list[str]:
    """``block`` (the physical lines of one requirement) with its hashes replaced."""
    eol = _newline(block[-1])
    separate = len(block) > 1 and any(_HASH.match(line) for line in block[1:])
    if separate:
        indent = re.match(r"\s*", next(line for line in block[1:] if _HASH.match(line)))
        pad = indent.group(0) if indent else "    "
        head = _HASH.sub("", block[0].rstrip("\r\n").rstrip("\\").rstrip())
        kept = [
            line.rstrip("\r\n").rstrip("\\").rstrip()
            for line in block[1:]
            if not _HASH.match(line) and line.strip() not in ("", "\\")
        ]
        rows = [head, *kept, *(f"{pad}--hash={h}" for h in hashes)]
        return [row + (" \\" if i < len(rows) - 1 else "") + eol for i, row in enumerate(rows)]
    text = "".join(line.rstrip("\r\n").rstrip("\\") for line in block)
    found = _COMMENT.search(text)
    comment = found.group(0) if found else ""
    text = _HASH.sub("", text[: found.start()] if found else text).rstrip()
    return [text + "".join(f" --hash={h}" for h in hashes) + comment + eol]


def apply_edits(
    text: str,
    edits: Sequence[Edit],
    additions: Sequence[Addition] = (),
    removals: Mapping[int, str] | None = None,
) -> str:
    """``text`` with ``edits`` applied, ``additions`` appended and the lines of ``removals``
    (line -> why) commented out; :class:`RewriteError` when a line does not pin its package."""
    lines = text.splitlines(keepends=True)
    changes: dict[int, list[str]] = {}
    for edit in edits:
        start = edit.line - 1
        if not 0 <= start < len(lines):
            raise RewriteError(f"line {edit.line} is not in the file any more")
        end = _logical_end(lines, start)
        block = lines[start : end + 1]
        pattern = _pin_pattern(edit.package)
        if not pattern.match(block[0]):
            raise RewriteError(f"line {edit.line} does not pin {edit.package} any more")
        found = pattern.match(block[0])
        assert found is not None
        head = found.group(1) + edit.version + block[0][found.end() :]
        block = [head, *block[1:]]
        if edit.hashes is not None:
            block = _with_hashes(block, edit.hashes)
        changes[start] = block
        for index in range(start + 1, end + 1):
            changes.setdefault(index, [])
    for number, why in (removals or {}).items():
        start = number - 1
        end = _logical_end(lines, start)
        block = lines[start : end + 1]
        changes[start] = [f"# {line.rstrip(chr(13) + chr(10))}{_newline(line)}" for line in block]
        changes[start][0] = f"# seckb fix: {why}{_newline(block[0])}" + changes[start][0]
        for index in range(start + 1, end + 1):
            changes.setdefault(index, [])
    out: list[str] = []
    for index, line in enumerate(lines):
        out.extend(changes.get(index, [line]))
    if additions:
        eol = _newline(lines[-1]) if lines else "\n"
        if out and not out[-1].endswith(("\n", "\r")):
            out.append(eol)
        for item in additions:
            out.append(f"# seckb fix: added, {item.why}{eol}")
            marker = f" ; {item.marker}" if item.marker else ""
            hashes = "".join(f" \\{eol}    --hash={h}" for h in item.hashes)
            out.append(f"{item.package}=={item.version}{marker}{hashes}{eol}")
    return "".join(out)

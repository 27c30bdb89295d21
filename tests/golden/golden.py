"""Golden files: compare produced rows with an expected JSON snapshot, or rewrite it.

One helper for every source. ``Golden.check(path, value)`` renders ``value`` as JSON (sorted keys,
datetimes as ISO strings, two-space indent) and compares it WHOLE with the file at ``path``: any
changed, missing or extra row or field fails with a list of the first differences and a unified
diff. With ``pytest --regen-golden`` the file is rewritten from ``value`` instead and the test is
reported as skipped with a message saying so.
"""

from __future__ import annotations

import dataclasses
import difflib
import json
from collections.abc import Iterable, Mapping
from datetime import date, datetime
from pathlib import Path, PurePath
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parent
REGEN_OPTION = "--regen-golden"
MAX_DIFFERENCES = 12
MAX_DIFF_LINES = 60


def to_jsonable(value: Any) -> Any:
    """``value`` as plain JSON data: dataclasses and mappings become objects, datetimes ISO text."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: to_jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, PurePath):
        return value.as_posix()
    if isinstance(value, (set, frozenset)):
        return sorted(to_jsonable(v) for v in value)
    if isinstance(value, (list, tuple)):
        return [to_jsonable(v) for v in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise TypeError(f"cannot put {type(value).__name__} in a golden file: {value!r:.80}")


def render(value: Any) -> str:
    """The text of a golden file: stable key order, pretty-printed, newline-terminated."""
    return json.dumps(to_jsonable(value), indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def _short(value: Any) -> str:
    text = json.dumps(value, sort_keys=True, ensure_ascii=False)
    return text if len(text) <= 160 else text[:157] + "..."


def differences(expected: Any, actual: Any, where: str = "$") -> Iterable[str]:
    """Readable differences between two JSON values, in document order."""
    if isinstance(expected, dict) and isinstance(actual, dict):
        for key in sorted(expected.keys() | actual.keys()):
            here = f"{where}.{key}"
            if key not in actual:
                yield f"{here}: missing (expected {_short(expected[key])})"
            elif key not in expected:
                yield f"{here}: unexpected field, got {_short(actual[key])}"
            else:
                yield from differences(expected[key], actual[key], here)
    elif isinstance(expected, list) and isinstance(actual, list):
        yield from _list_differences(expected, actual, where)
    elif expected != actual or type(expected) is not type(actual):
        yield f"{where}: expected {_short(expected)}, got {_short(actual)}"


def _list_differences(expected: list[Any], actual: list[Any], where: str) -> Iterable[str]:
    """Align the two lists on whole items first, so one inserted row reads as one extra row."""
    keys_a = [json.dumps(v, sort_keys=True) for v in expected]
    keys_b = [json.dumps(v, sort_keys=True) for v in actual]
    matcher = difflib.SequenceMatcher(a=keys_a, b=keys_b, autojunk=False)
    for op, a0, a1, b0, b1 in matcher.get_opcodes():
        if op == "equal":
            continue
        paired = min(a1 - a0, b1 - b0) if op == "replace" else 0
        for i in range(paired):
            yield from differences(expected[a0 + i], actual[b0 + i], f"{where}[{b0 + i}]")
        for i in range(a0 + paired, a1):
            yield f"{where}: missing item (expected [{i}]) {_short(expected[i])}"
        for i in range(b0 + paired, b1):
            yield f"{where}[{i}]: extra item {_short(actual[i])}"


class Golden:
    """Compares values with expected files under ``tests/golden``, or regenerates them."""

    def __init__(self, regenerate: bool) -> None:
        """``regenerate``: write the expected files instead of comparing (``--regen-golden``)."""
        self.regenerate = regenerate

    def check(self, expected_path: Path, actual: Any) -> None:
        """Compare ``actual`` WHOLE with ``expected_path`` (fail), or rewrite it (skip)."""
        text = render(actual)
        shown = _shown(expected_path)
        if self.regenerate:
            before = expected_path.read_text(encoding="utf-8") if expected_path.exists() else None
            expected_path.parent.mkdir(parents=True, exist_ok=True)
            expected_path.write_text(text, encoding="utf-8")
            state = "created" if before is None else ("unchanged" if before == text else "changed")
            pytest.skip(f"golden file regenerated ({state}): {shown}")
        if not expected_path.exists():
            pytest.fail(
                f"golden file {shown} does not exist; run pytest {REGEN_OPTION} to create it "
                "from the current output (then review it)",
                pytrace=False,
            )
        expected_text = expected_path.read_text(encoding="utf-8")
        expected = json.loads(expected_text)
        if render(expected) == text:  # by value, but 1 != 1.0 != true (formatting is free)
            return
        produced = json.loads(text)
        found = list(differences(expected, produced))
        lines = [
            f"golden mismatch: {shown} ({len(found)} difference(s)); if the new output is "
            f"right, run pytest {REGEN_OPTION} and review the diff",
            *(f"  {line}" for line in found[:MAX_DIFFERENCES]),
        ]
        if len(found) > MAX_DIFFERENCES:
            lines.append(f"  ... and {len(found) - MAX_DIFFERENCES} more")
        diff = list(
            difflib.unified_diff(
                expected_text.splitlines(),
                text.splitlines(),
                "expected",
                "actual",
                n=2,
                lineterm="",
            )
        )
        lines.append("unified diff (first lines):")
        lines.extend(diff[:MAX_DIFF_LINES])
        if len(diff) > MAX_DIFF_LINES:
            lines.append(f"... ({len(diff) - MAX_DIFF_LINES} more diff lines)")
        pytest.fail("\n".join(lines), pytrace=False)

    def check_no_orphans(self, expected_dir: Path, wanted: Iterable[str]) -> None:
        """Every file in ``expected_dir`` is one of ``wanted``; regeneration removes the others."""
        names = set(wanted)
        orphans = sorted(p for p in expected_dir.glob("*.json") if p.name not in names)
        if not orphans:
            return
        listed = ", ".join(_shown(p) for p in orphans)
        if self.regenerate:
            for path in orphans:
                path.unlink()
            pytest.skip(f"golden files without an input removed: {listed}")
        pytest.fail(
            f"golden files without an input: {listed}; run pytest {REGEN_OPTION} to remove them",
            pytrace=False,
        )


def _shown(path: Path) -> str:
    try:
        return path.resolve().relative_to(ROOT.parent.parent).as_posix()
    except ValueError:
        return str(path)

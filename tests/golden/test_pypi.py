"""Golden tests of the PyPI source: JSON API answers -> the package row and release rows."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest
from golden.golden import Golden

from aggregators.sources.pypi.project import parse_project

HERE = Path(__file__).parent / "pypi"
INPUT = HERE / "input"
EXPECTED = HERE / "expected"
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
NAMES = sorted(p.stem for p in INPUT.glob("*.json"))


@pytest.mark.parametrize("name", NAMES)
def test_parse_project(name: str, golden: Golden) -> None:
    document = json.loads((INPUT / f"{name}.json").read_text(encoding="utf-8"))
    asked = f"https://pypi.org/pypi/{name}/json"  # the mirror's file URLs are relative to it
    project = parse_project(document, asked, name, None, NOW)
    golden.check(EXPECTED / f"{name}.json", project)


def test_every_expected_file_has_an_input(golden: Golden) -> None:
    golden.check_no_orphans(EXPECTED, [f"{name}.json" for name in NAMES])

"""Golden tests of the Scorecard source: API answers -> the result row and check rows."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from golden.golden import Golden

from aggregators.core.names import repository_key
from aggregators.sources.scorecards.parse import ScorecardError, parse_scorecard

HERE = Path(__file__).parent / "scorecards"
INPUT = HERE / "input"
EXPECTED = HERE / "expected"
NOW = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
STALE_AFTER = timedelta(days=30)  # the default scorecard_stale_days
NAMES = sorted(p.stem for p in INPUT.glob("*.json"))
"""Input files are named after the repository path asked for, ``/`` written as ``+``."""


def produced(name: str) -> Any:
    """The parsed answer, or ``{"error": message}`` when it is rejected as malformed."""
    document = json.loads((INPUT / f"{name}.json").read_text(encoding="utf-8"))
    repository = repository_key("https://" + name.replace("+", "/"))
    assert repository is not None
    try:
        return parse_scorecard(document, repository, NOW, STALE_AFTER)
    except ScorecardError as exc:
        return {"error": str(exc)}


@pytest.mark.parametrize("name", NAMES)
def test_parse_scorecard(name: str, golden: Golden) -> None:
    golden.check(EXPECTED / f"{name}.json", produced(name))


def test_every_expected_file_has_an_input(golden: Golden) -> None:
    golden.check_no_orphans(EXPECTED, [f"{name}.json" for name in NAMES])

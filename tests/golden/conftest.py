"""The ``golden`` fixture: compare with (or, with ``--regen-golden``, rewrite) expected files."""

from __future__ import annotations

import pytest
from golden.golden import REGEN_OPTION, Golden


@pytest.fixture
def golden(request: pytest.FixtureRequest) -> Golden:
    """The golden-file checker, in regenerate mode when pytest ran with ``--regen-golden``."""
    return Golden(bool(request.config.getoption(REGEN_OPTION)))

"""The thresholds of the checks beside the verdicts: suspicious names and new-release signals.

Built once from the settings by each entry point (``seckb audit``, ``seckb serve``, watched
projects), and handed to the pure rules of :mod:`aggregators.knowledge.typosquat` and
:mod:`aggregators.knowledge.signals`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from aggregators.core.clock import utcnow
from aggregators.core.config import Settings
from aggregators.knowledge.signals import SignalRules
from aggregators.knowledge.typosquat import NameRules


@dataclass(frozen=True)
class Checks:
    """Thresholds of the name and signal checks, and the time they are judged at."""

    names: NameRules = field(default_factory=NameRules)
    signals: SignalRules = field(default_factory=SignalRules)
    now: datetime | None = None
    """``None``: the time of each check."""

    def at(self) -> datetime:
        """The time the checks judge at."""
        return self.now or utcnow()


def name_rules(settings: Settings) -> NameRules:
    """The suspicious-name thresholds of ``settings``."""
    return NameRules(
        long_name=settings.names_long_length,
        min_length=settings.names_min_length,
        target_rank=settings.names_target_rank,
        ratio=settings.names_min_ratio,
    )


def checks_from(settings: Settings) -> Checks:
    """The checks ``settings`` configure."""
    return Checks(
        name_rules(settings), SignalRules(settings.new_project_days, settings.dormant_days)
    )

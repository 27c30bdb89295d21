"""New-release signals: facts worth a look, never verdicts (pure).

* ``new_project`` — the project's first release is younger than ``new_project_days``: most
  malicious packages live days, not years;
* ``after_silence`` — the release was uploaded ``dormant_days`` or more after the release
  before it: a dormant project waking up is how stolen credentials show. seckb does not know
  the source repository's release history, so the signal cannot be cleared by a matching tag
  there, and it says so.

A signal never changes a status and never fails an audit; it is shown beside the verdict
(``query``, ``audit --json``, the HTML page).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class SignalRules:
    """Thresholds of the signals (settings)."""

    new_project_days: int = 30
    dormant_days: int = 365


@dataclass(frozen=True)
class Signal:
    """One signal on a release."""

    kind: str
    """``new_project`` or ``after_silence``."""
    message: str

    def to_json(self) -> dict[str, str]:
        """``{"kind", "message"}``."""
        return {"kind": self.kind, "message": self.message}


def release_signals(
    first_upload: datetime | None,
    days_since_previous: float | None,
    now: datetime,
    rules: SignalRules,
) -> list[Signal]:
    """The signals of one release, from the project's first upload and the gap before the
    release (``None``: unknown, no signal)."""
    found = []
    if first_upload is not None:
        age = (now - first_upload).total_seconds() / 86400
        if age < rules.new_project_days:
            found.append(
                Signal(
                    "new_project",
                    f"the project's first release is {max(age, 0):.0f} days old "
                    f"(under {rules.new_project_days})",
                )
            )
    if days_since_previous is not None and days_since_previous >= rules.dormant_days:
        found.append(
            Signal(
                "after_silence",
                f"uploaded {days_since_previous:.0f} days after the release before it; the "
                "source repository's release history is not known to seckb",
            )
        )
    return found

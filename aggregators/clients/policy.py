"""The policy as configured: rules from the settings, then the policy file (I/O at the edge).

The settings give the rules (``policy_severity``, ``policy_bandit_statuses``,
``policy_bandit_max_high``, ``policy_scorecard_min``); the optional ``policy_file`` (TOML) may
override them in ``[rules]`` and lists the accepted risks::

    [rules]
    severity = "high"

    [[accept]]
    package = "django"
    advisory = "GHSA-2gwj-7jmv-h26r"        # or an alias (CVE-...); or version = "3.2.18"
    reason = "the affected feature is not used"
    expires = 2027-03-31

:class:`PolicySource` keeps the policy a long-running server applies and re-reads the file when
it changes (a broken file keeps the previous policy and says why).
"""

from __future__ import annotations

import logging
import threading
import tomllib
from pathlib import Path

from aggregators.core.config import Settings
from aggregators.core.errors import ConfigError
from aggregators.knowledge.policy import Policy, Rules
from aggregators.knowledge.policy_file import check_rules, policy_from_document

log = logging.getLogger(__name__)


def rules_from_settings(settings: Settings) -> Rules:
    """The rules the settings give (a ``-1``/``0`` threshold is off)."""
    rules = Rules(
        severity=settings.policy_severity,
        bandit_statuses=settings.policy_bandit_statuses,
        bandit_max_high=None
        if settings.policy_bandit_max_high < 0
        else settings.policy_bandit_max_high,
        scorecard_min=settings.policy_scorecard_min or None,
    )
    return check_rules(rules, "settings")


def read_policy_file(path: Path, base: Rules) -> Policy:
    """The policy in the TOML file ``path``, its rules over ``base``."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the policy file {path}: {exc.strerror}") from exc
    except UnicodeDecodeError as exc:
        raise ConfigError(f"the policy file {path} is not UTF-8 text") from exc
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"the policy file {path} is not valid TOML: {exc}") from exc
    return policy_from_document(data, str(path), base)


def load_policy(settings: Settings) -> Policy:
    """The policy of ``settings``: its rules, and the policy file's when one is set."""
    base = rules_from_settings(settings)
    if not settings.policy_file:
        return Policy(base)
    return read_policy_file(Path(settings.policy_file).expanduser(), base)


class PolicySource:
    """The policy a server applies, re-read when the policy file changes."""

    def __init__(self, settings: Settings) -> None:
        """Load the policy now (a broken file is a :class:`ConfigError` at start-up)."""
        self.settings = settings
        self.path = Path(settings.policy_file).expanduser() if settings.policy_file else None
        self.policy = load_policy(settings)
        self.error: str | None = None
        self.reloads = 0
        self._stamp = self._stat()
        self._lock = threading.Lock()

    def _stat(self) -> tuple[int, int] | None:
        if self.path is None:
            return None
        try:
            found = self.path.stat()
        except OSError:
            return None
        return found.st_mtime_ns, found.st_size

    def refresh(self) -> bool:
        """Re-read the policy file if it changed since the last read; ``True`` if the policy
        changed. A file that cannot be read keeps the previous policy (see :attr:`error`)."""
        if self.path is None:
            return False
        with self._lock:
            stamp = self._stat()
            if stamp == self._stamp:
                return False
            self._stamp = stamp
            try:
                policy = load_policy(self.settings)
            except ConfigError as exc:
                self.error = f"{exc} (still applying policy {self.policy.digest()})"
                log.warning("policy not reloaded: %s", self.error)
                return False
            self.error = None
            changed = policy != self.policy
            self.policy = policy
            self.reloads += changed
            if changed:
                log.info("policy reloaded from %s: %s", self.path, policy.digest())
            return changed

"""Bandit through its Python API, one file at a time (runs inside worker processes).

Each file gets a fresh ``BanditManager`` (cheap: the plugin set is loaded once per process), so
no state carries over between files and every result depends only on the file's bytes, the
Bandit version and :func:`config_hash` — which is what makes results cacheable by content.
"""

from __future__ import annotations

import ast
import hashlib
import json
import linecache
import logging
import time
import warnings
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any, Final

ANALYSIS_FORMAT: Final = 2
"""Bump when what we keep from a Bandit issue changes (invalidates cached results)."""
SNIPPET_LINES: Final = 3
"""Lines of context in the snippet that ``code_sha256`` hashes (Bandit's default)."""
SNIPPET_MAX_CHARS: Final = 2000
"""Longest code snippet kept with a finding (a minified line can be huge)."""
TEXT_MAX_CHARS: Final = 1000
"""Longest issue text kept with a finding."""
IGNORE_NOSEC: Final = False
"""Bandit's default: ``# nosec`` comments in the package's code are honoured."""

OK: Final = "ok"
SKIPPED: Final = "skipped"
ERROR: Final = "error"
TIMEOUT: Final = "timeout"
CRASH: Final = "crash"

log = logging.getLogger(__name__)


@dataclass
class FileResult:
    """Bandit's verdict on one file content."""

    sha256: str
    status: str
    reason: str | None = None
    loc: int = 0
    analysis_ms: int = 0
    findings: list[dict[str, Any]] = field(default_factory=list)


@cache
def load_bandit() -> None:
    """Import Bandit quietly: importing it loads its plugins through stevedore once.

    That loading logs an ERROR for every formatter plugin whose optional dependency is missing
    (``Could not load 'sarif': No module named 'sarif_om'``; we use no formatter) and Bandit's
    own calls trigger stevedore's ``verify_requirements`` DeprecationWarning. Neither says
    anything about our analysis, so both are muted while Bandit loads, and only then.
    """
    stevedore = logging.getLogger("stevedore")
    level = stevedore.level
    stevedore.setLevel(logging.CRITICAL)
    try:
        with warnings.catch_warnings():
            warnings.filterwarnings(
                "ignore", message=".*verify_requirements", category=DeprecationWarning
            )
            import bandit.core.extension_loader  # noqa: F401  (builds the plugin manager)
    finally:
        stevedore.setLevel(level)


@cache
def bandit_version() -> str:
    """The installed Bandit's version."""
    load_bandit()
    import bandit

    return str(bandit.__version__)


@cache
def config_hash() -> str:
    """A short hash of everything besides the file's bytes that shapes Bandit's results."""
    load_bandit()
    from bandit.core import config as b_config
    from bandit.core import extension_loader

    conf = b_config.BanditConfig()
    manager = extension_loader.MANAGER
    document = {
        "config": conf.config,
        "plugins": sorted(manager.plugins_by_id),
        "blacklist": sorted(manager.blacklist_by_id),
        "ignore_nosec": IGNORE_NOSEC,
        "snippet_lines": SNIPPET_LINES,
        "format": ANALYSIS_FORMAT,
    }
    text = json.dumps(document, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _syntax_reason(data: bytes) -> str | None:
    """Why Python cannot parse ``data`` (Python 2, encoding, NUL bytes), or None if it can."""
    try:
        ast.parse(data)
    except SyntaxError as exc:
        where = f" (line {exc.lineno})" if exc.lineno else ""
        return f"syntax error: {exc.msg}{where}"
    except (ValueError, UnicodeError) as exc:
        return f"cannot parse: {exc}"
    except RecursionError:
        return "cannot parse: nested too deeply"
    return None


def analyse_file(sha256: str, path: Path) -> FileResult:
    """Run every Bandit test on the file at ``path`` (whose content hashes to ``sha256``)."""
    load_bandit()
    from bandit.core import config as b_config
    from bandit.core import manager as b_manager

    started = time.monotonic()
    name = str(path)
    linecache.checkcache(name)
    manager = b_manager.BanditManager(
        b_config.BanditConfig(), "file", quiet=True, ignore_nosec=IGNORE_NOSEC
    )
    manager.files_list = [name]
    manager.run_tests()
    elapsed = int((time.monotonic() - started) * 1000)
    skipped = manager.get_skipped()
    if skipped:
        bandit_reason = str(skipped[0][1])
        syntax = _syntax_reason(path.read_bytes())
        if syntax is not None:
            return FileResult(sha256, SKIPPED, syntax, analysis_ms=elapsed)
        if "syntax" in bandit_reason:
            return FileResult(sha256, SKIPPED, bandit_reason, analysis_ms=elapsed)
        return FileResult(sha256, ERROR, f"bandit: {bandit_reason}", analysis_ms=elapsed)
    findings = []
    for issue in manager.get_issue_list():
        code = issue.get_code(SNIPPET_LINES, False) or ""
        cwe = getattr(issue.cwe, "id", 0) or None
        findings.append(
            {
                "test_id": str(issue.test_id),
                "test_name": str(issue.test),
                "severity": str(issue.severity),
                "confidence": str(issue.confidence),
                "cwe": int(cwe) if cwe else None,
                "line": int(issue.lineno),
                "line_range": [int(n) for n in issue.linerange],
                "code_sha256": hashlib.sha256(code.encode("utf-8", "replace")).hexdigest(),
                "issue_text": str(issue.text)[:TEXT_MAX_CHARS],
                "code": code[:SNIPPET_MAX_CHARS],
            }
        )
    loc = int(manager.metrics.data.get(name, {}).get("loc", 0))
    linecache.clearcache()
    return FileResult(sha256, OK, loc=loc, analysis_ms=elapsed, findings=findings)


def quiet_bandit_logging() -> None:
    """Bandit logs per-file errors itself; we record them as rows instead."""
    logging.getLogger("bandit").setLevel(logging.CRITICAL)

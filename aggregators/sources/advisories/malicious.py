"""Whether an OSV record is a malicious-package record (pure): the one place that says so.

The conventions of the OSV malicious-package records (the OpenSSF malicious-packages
repository, osv.dev's ``MAL-`` ids, the advisory-db's re-publications):

* the id, or one of its aliases, is a ``MAL-`` id;
* ``database_specific`` has ``malicious-packages-origins`` (the reports the record merges);
* the summary reads ``Malicious code in <name> (PyPI)``;
* an affected entry is tagged CWE-506 (embedded malicious code) in its ``database_specific``.

Any one of them is enough. A withdrawn malicious record (a false positive) is still one, and is
never active, like any withdrawn advisory.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import Any

PREFIX = "MAL-"
ORIGINS = "malicious-packages-origins"
MALICIOUS_CODE_CWE = "CWE-506"
_SUMMARY = re.compile(r"^\s*malicious code in\s", re.IGNORECASE)


def _tagged(doc: dict[str, Any]) -> bool:
    """Whether an affected entry's ``database_specific.cwes`` names CWE-506."""
    affected = doc.get("affected")
    for entry in affected if isinstance(affected, list) else ():
        specific = entry.get("database_specific") if isinstance(entry, dict) else None
        cwes = specific.get("cwes") if isinstance(specific, dict) else None
        if isinstance(cwes, list) and any(
            (c.get("cweId") if isinstance(c, dict) else c) == MALICIOUS_CODE_CWE for c in cwes
        ):
            return True
    return False


def is_malicious(doc: dict[str, Any], advisory_id: str, aliases: Sequence[str]) -> bool:
    """Whether the OSV document ``doc`` (id ``advisory_id``) is a malicious-package record."""
    if advisory_id.upper().startswith(PREFIX) or any(a.upper().startswith(PREFIX) for a in aliases):
        return True
    specific = doc.get("database_specific")
    if isinstance(specific, dict) and ORIGINS in specific:
        return True
    summary = doc.get("summary")
    if isinstance(summary, str) and _SUMMARY.match(summary):
        return True
    return _tagged(doc)

"""Fix plans for watched projects: what ``seckb project show NAME --fix`` prints, and what a
"newly affected" notification carries, so a nightly message says what to change.

Each plan is ``seckb fix``'s ``in-place`` plan of the project's pinned components, resolved by
uv through seckb's index (the upstream index of the settings). A plan that cannot be made (the
upstream is down, uv fails) is reported as such in the summary; it never holds back the
evaluation or its notifications.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from datetime import datetime
from typing import Any

from aggregators.clients.fix.inputs import components_input
from aggregators.clients.fix.plan import Plan
from aggregators.clients.fix.service import make_plan
from aggregators.clients.fix.uv import Uv, default_python
from aggregators.clients.server.index import PackageIndex
from aggregators.clients.server.view import build_view
from aggregators.core.config import Settings
from aggregators.core.errors import SeckbError
from aggregators.core.workspace import Workspace
from aggregators.store.projects import StoredProject
from aggregators.store.snapshots import Snapshot

log = logging.getLogger(__name__)


def plan_summary(plan: Plan) -> dict[str, Any]:
    """What a notification says of a plan: the changes, what cannot be fixed, the counts."""
    return {
        "strategy": plan.strategy,
        "error": None,
        "changes": [
            {"package": c.package, "from": c.old, "to": c.new, "kind": c.kind} for c in plan.changes
        ],
        "unfixable": [
            {"package": u.package, "version": u.version, "reason": u.reason, "message": u.message}
            for u in plan.unfixable
        ],
        "blocked_before": plan.before.blocked,
        "blocked_after": plan.after.blocked,
    }


def project_plans(
    snapshot: Snapshot,
    projects: Iterable[StoredProject],
    settings: Settings,
    now: datetime,
    strategy: str = "in-place",
) -> dict[str, dict[str, Any]]:
    """A plan summary per project (``error`` set when it could not be made)."""
    chosen = list(projects)
    if not chosen:
        return {}
    view = build_view(snapshot, now)
    index = PackageIndex.from_settings(settings)
    found: dict[str, dict[str, Any]] = {}
    failed: str | None = None
    for project in chosen:
        if failed is not None:  # the upstream is down: not asked again for every project
            found[project.name] = {"strategy": strategy, "error": failed}
            continue
        uv = Uv(default_python(), 120.0)
        source = components_input(project.name, project.components)
        try:
            plan = make_plan(source, view, index, strategy, uv, Workspace(settings.home))
        except SeckbError as exc:
            log.warning("no fix plan for project %s: %s", project.name, exc)
            found[project.name] = {"strategy": strategy, "error": str(exc)}
            failed = str(exc) if "did not answer" in str(exc) else None
            continue
        found[project.name] = plan_summary(plan)
    return found

"""``seckb fix``: a plan for one file, resolved by uv through seckb's own index.

The index uv resolves through is a private server on a loopback port, over the snapshot being
read and the policy in force, with the upstream index of the settings (or the running server's
own, for ``POST /v1/fix``): ``/strict/simple/`` offers no blocked release; ``/simple/`` (yank
mode) is used only to hold, exactly pinned, a blocked pin that cannot be fixed.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from aggregators.clients.fix.plan import FixInput, Plan
from aggregators.clients.fix.strategies import (
    Work,
    changes_of,
    counts,
    finish,
    in_place,
    judge_pins,
    relax,
)
from aggregators.clients.fix.uv import Resolution, Uv
from aggregators.clients.server.holder import SnapshotHolder
from aggregators.clients.server.index import PackageIndex
from aggregators.clients.server.verdicts import Judge
from aggregators.clients.server.view import View
from aggregators.clients.simple.filenames import file_version
from aggregators.clients.simple.pages import JSON_V1
from aggregators.clients.upstream import NotFound, UpstreamError
from aggregators.core.errors import SeckbError
from aggregators.core.workspace import Workspace
from aggregators.knowledge.policy import Verdict


class FixError(SeckbError):
    """A plan could not be made (the upstream index is down, uv failed...)."""


class IndexKnowledge:
    """What a strategy asks, answered from the index: verdicts of the policy in force on the
    snapshot, the versions the upstream offers files of, a release's Bandit and Scorecard."""

    def __init__(self, index: PackageIndex, view: View) -> None:
        """Judge with ``index``'s policy on ``view``."""
        self.index = index
        self.view = view
        self.judge: Judge = index.judge(view)[0]
        self._versions: dict[str, list[str]] = {}

    def verdict(self, package: str, version: str) -> Verdict:
        """The policy's verdict on a release."""
        return self.judge.verdict(package, version)

    def allowed(self, package: str) -> Sequence[str]:
        """The versions the policy allows that the index offers files of: read from a strict
        page an earlier run rendered when one is kept, else judged now."""
        kept = self.index.kept_page(self.view, package, "hide", JSON_V1)
        if kept is not None:
            files = json.loads(kept.rendered.body).get("files", [])
            names = [f["filename"] for f in files if f.get("yanked") is False]
            return sorted({v for n in names if (v := file_version(n, package)) is not None})
        return [v for v in self.versions(package) if not self.verdict(package, v).blocked]

    def versions(self, package: str) -> Sequence[str]:
        """The versions the upstream index offers (not yanked) files of."""
        if package not in self._versions:
            try:
                page = self.index.upstream.project(package).entry.content
            except NotFound:
                self._versions[package] = []
            except UpstreamError as exc:
                raise FixError(f"the upstream index did not answer for {package}: {exc}") from exc
            else:
                files = getattr(page, "files", ())
                found = {f.version for f in files if f.version and f.yanked is False}
                self._versions[package] = sorted(found)
        return self._versions[package]

    def release(self, package: str, version: str) -> tuple[str | None, float | None]:
        """Bandit status and Scorecard score of a release (``None`` when unknown)."""
        kb = self.view.kb
        row = kb.listed(package, version) if kb is not None else None
        if row is None:
            return None, None
        return row.bandit_status, row.scorecard_score


@dataclass
class UvResolver:
    """uv through the private index: strict, or yanking when pins are held."""

    uv: Uv
    base: str

    def compile(
        self,
        requirements: Sequence[str],
        preferences: Mapping[str, str],
        constraints: Sequence[str],
        holding: bool,
        hashes: bool = False,
        lowest: bool = False,
    ) -> Resolution:
        """Resolve through ``/simple/`` when ``holding`` blocked pins, else ``/strict/simple/``."""
        index = f"{self.base}/simple/" if holding else f"{self.base}/strict/simple/"
        return self.uv.compile(index, requirements, preferences, constraints, hashes, lowest)


def make_plan(
    source: FixInput, view: View, index: PackageIndex, strategy: str, uv: Uv, workspace: Workspace
) -> Plan:
    """The plan for ``source``, resolved by ``uv`` through a private index over ``view``."""
    from aggregators.clients.server.app import create_app, running  # the server includes fixes

    knowledge = IndexKnowledge(index, view)
    private = PackageIndex(index.upstream, index.policy, "yank", 0)
    app = create_app(SnapshotHolder.of_view(workspace, view), index=private)
    with running(app) as base:
        work = Work(source, knowledge, UvResolver(uv, base))
        judge_pins(work)
        plan = Plan(strategy, source, index="seckb (private loopback index)")
        current = {p: pin.version for p, pin in work.pins.items()}
        plan.before = counts(knowledge, current)
        plan.accepted = _accepted(work)
        if not plan.needed:
            plan.final = current
            plan.after = plan.before
            return plan
        result = in_place(work) if strategy == "in-place" else relax(work)
        final = finish(work, result)
        if source.hashed:
            hashed = work.resolver.compile(
                sorted(f"{p}=={v}" for p, v in final.pins.items()), {}, [], bool(work.held), True
            )
            plan.hashes = hashed.hashes
        plan.changes = changes_of(work, final, strategy == "relax")
        plan.unfixable = work.unfixable
        plan.final = dict(final.pins)
        plan.after = counts(knowledge, final.pins)
        plan.resolutions = uv.runs
        return plan


def _accepted(work: Work) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = []
    for package, pin in work.pins.items():
        verdict = work.verdicts[package]
        for reason, risk in verdict.accepted:
            found.append(
                {
                    "package": package,
                    "version": pin.version,
                    "where": pin.where,
                    "advisory": reason.advisory,
                    "reason": risk.reason,
                    "expires": risk.expires.isoformat(),
                }
            )
    return found

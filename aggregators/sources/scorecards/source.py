"""The ``scorecards`` source: OpenSSF Scorecard results for the tracked packages' repositories.

Repositories come from the ``packages`` table (GitHub only; several packages may share one).
Each repository is asked for at most once per run, and not at all while its stored result is
younger than ``scorecard_refresh_days``. A 404 means "not scanned"; paths are case-sensitive at
the API, so a 404 is retried once in lower case. When the API answers nothing at all the source
fails and its previous tables carry forward.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import pyarrow as pa

from aggregators.core.clock import utcnow
from aggregators.core.contracts import contract
from aggregators.core.errors import SourceError
from aggregators.core.http import HttpError, HttpSource
from aggregators.core.names import github_path, repository_key
from aggregators.core.progress import Progress
from aggregators.sources.base import (
    UNCHANGED,
    UPDATED,
    RunState,
    SourceResult,
    error_row,
    same_content,
)
from aggregators.sources.registry import SOURCE_TABLES
from aggregators.sources.scorecards.parse import ScorecardError, parse_scorecard

log = logging.getLogger(__name__)

SOURCE = "scorecards"
TABLES = SOURCE_TABLES[SOURCE]
UNREACHABLE = "unreachable"  # internal: an error where the API did not answer at all


@dataclass
class Repository:
    """A repository to know about: its key, the path to ask for, and its packages."""

    key: str
    path: str
    packages: set[str] = field(default_factory=set)


def repositories(packages: pa.Table | None, only: Iterable[str] | None) -> dict[str, Repository]:
    """GitHub repositories of the tracked packages (optionally only of ``only``)."""
    found: dict[str, Repository] = {}
    if packages is None:
        return found
    wanted = set(only) if only is not None else None
    for row in packages.select(["package", "repository_url"]).to_pylist():
        url = row["repository_url"]
        path, key = (github_path(url), repository_key(url)) if url else (None, None)
        if path is None or key is None or (wanted is not None and row["package"] not in wanted):
            continue
        found.setdefault(key, Repository(key, path)).packages.add(row["package"])
    return found


class ScorecardSource(HttpSource):
    """The Scorecard REST API as the ``scorecards`` source."""

    name = SOURCE

    def _ask(self, repo: Repository, now: datetime) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        stale_after = timedelta(days=self.settings.scorecard_stale_days)
        base = self.settings.scorecard_url.rstrip("/")
        paths = [repo.path] + ([repo.path.lower()] if repo.path.lower() != repo.path else [])
        row: dict[str, Any] = {
            "repository": repo.key,
            "asked_as": repo.path,
            "packages": sorted(repo.packages),
            "fetched_at": now,
        }
        for path in paths:
            row["asked_as"] = path
            try:
                status, document, _etag = self.client.get_json(f"{base}/projects/{path}")
            except HttpError as exc:
                # status 200 here means a body that was not JSON: the API did answer
                kind = "error" if exc.status == 200 else UNREACHABLE
                return {**row, **_empty(kind, str(exc))}, []
            if status == 404:
                continue
            try:
                card = parse_scorecard(document, repo.key, now, stale_after)
            except ScorecardError as exc:
                return {**row, **_empty("error", f"unexpected answer: {exc}")}, []
            return {**row, **card.result}, card.checks
        return {**row, **_empty("not_scanned", "Scorecard has no result (404)")}, []

    def update(self, state: RunState, progress: Progress) -> SourceResult:
        """Ask about every repository that needs it and return the new tables."""
        now = utcnow()
        wanted = repositories(state.table("packages"), state.packages)
        everyone = wanted if state.packages is None else repositories(state.table("packages"), None)
        before = {
            name: state.previous.read(name) if state.previous else None
            for name in ("scorecards", "scorecard_checks")
        }
        old_rows, old_checks = _by_repository(before["scorecards"], before["scorecard_checks"])
        due = self._due(wanted, old_rows, now)
        answers = self._ask_all(due, now, progress)
        self._check_outage(answers, old_rows)
        statuses = [a[0]["status"] for a in answers.values()]
        rows, checks = self._assemble(everyone, answers, old_rows, old_checks, now)
        stats = {s: statuses.count(s) for s in ("ok", "not_scanned", "error")}
        stats.update(
            repositories=len(rows),
            requests=self.client.requests_sent,
            skipped_fresh=len(wanted) - len(due),
            stale=sum(1 for r in rows if r.get("stale")),
        )
        errors = [
            error_row(SOURCE, r["repository"], r["reason"]) for r in rows if r["status"] == "error"
        ]
        tables = {
            "scorecards": contract("scorecards").table_from_rows(rows),
            "scorecard_checks": contract("scorecard_checks").table_from_rows(checks),
            "ingest_errors": contract("ingest_errors").table_from_rows(errors),
        }
        dates = [r["result_date"] for r in rows if r.get("result_date") is not None]
        lineage = {
            "url": self.settings.scorecard_url,
            "repositories": len(rows),
            "oldest_result": min(dates).isoformat() if dates else None,
            "newest_result": max(dates).isoformat() if dates else None,
        }
        unchanged = state.previous is not None and all(
            same_content(old, tables[name], ("fetched_at",)) for name, old in before.items()
        )
        return SourceResult(SOURCE, UNCHANGED if unchanged else UPDATED, lineage, tables, stats)

    def _due(
        self, wanted: dict[str, Repository], old_rows: dict[str, dict[str, Any]], now: datetime
    ) -> list[Repository]:
        """Repositories to ask about: those without a result younger than the refresh age."""
        refresh = timedelta(days=self.settings.scorecard_refresh_days)
        return [
            r
            for k, r in sorted(wanted.items())
            if not (
                k in old_rows
                and old_rows[k]["status"] in ("ok", "not_scanned")
                and now - old_rows[k]["fetched_at"] < refresh
            )
        ]

    def _ask_all(
        self, due: list[Repository], now: datetime, progress: Progress
    ) -> dict[str, tuple[dict[str, Any], list[dict[str, Any]]]]:
        progress.stage(f"asking Scorecard about {len(due)} repositories", len(due))
        answers: dict[str, tuple[dict[str, Any], list[dict[str, Any]]]] = {}
        with ThreadPoolExecutor(max_workers=self.settings.scorecard_concurrency) as pool:
            for repo, answer in zip(due, pool.map(lambda r: self._ask(r, now), due), strict=True):
                answers[repo.key] = answer
                progress.advance()
        return answers

    def _check_outage(
        self,
        answers: dict[str, tuple[dict[str, Any], list[dict[str, Any]]]],
        old_rows: dict[str, dict[str, Any]],
    ) -> None:
        """Fail the source when the API answered nothing at all, or 404 for repositories it
        had results for (a wrong ``scorecard_url``); otherwise unreachable ones are errors."""
        statuses = [a[0]["status"] for a in answers.values()]
        if statuses and all(s == UNREACHABLE for s in statuses):
            first = next(a[0]["reason"] for a in answers.values())
            raise SourceError(
                f"Scorecard API unavailable at {self.settings.scorecard_url}: {first}"
            )
        scanned_before = {k for k, r in old_rows.items() if r.get("result_date") is not None}
        if statuses and all(s == "not_scanned" for s in statuses) and scanned_before & set(answers):
            raise SourceError(
                f"Scorecard API at {self.settings.scorecard_url} answered 404 for every "
                "repository, including ones it had results for; check scorecard_url"
            )
        for row, _checks in answers.values():
            if row["status"] == UNREACHABLE:
                row["status"] = "error"

    def _assemble(
        self,
        everyone: dict[str, Repository],
        answers: dict[str, tuple[dict[str, Any], list[dict[str, Any]]]],
        old_rows: dict[str, dict[str, Any]],
        old_checks: dict[str, list[dict[str, Any]]],
        now: datetime,
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
        """Rows for every repository: new answers, else what was known (an error keeps the
        last good result and checks)."""
        stale_after = timedelta(days=self.settings.scorecard_stale_days)
        rows, checks = [], []
        for key, repo in sorted(everyone.items()):
            if key in answers:
                row, found = answers[key]
                if row["status"] == "error" and old_rows.get(key, {}).get("result_date"):
                    row = {**old_rows[key], "status": "error", "reason": row["reason"]}
                    found = old_checks.get(key, [])  # keep the last good checks
            elif key in old_rows:
                row, found = dict(old_rows[key]), old_checks.get(key, [])
            else:
                continue  # narrowed run: never asked about, nothing known
            row["packages"] = sorted(repo.packages)
            if row.get("result_date") is not None:
                row["stale"] = now - row["result_date"] > stale_after
            rows.append(row)
            checks.extend(found)
        return rows, checks


def _by_repository(
    cards: pa.Table | None, checks: pa.Table | None
) -> tuple[dict[str, dict[str, Any]], dict[str, list[dict[str, Any]]]]:
    """The previous snapshot's results and checks, keyed by repository."""
    rows = {r["repository"]: r for r in cards.to_pylist()} if cards is not None else {}
    by_repo: dict[str, list[dict[str, Any]]] = {}
    if checks is not None:
        for row in checks.to_pylist():
            by_repo.setdefault(row["repository"], []).append(row)
    return rows, by_repo


def _empty(status: str, reason: str) -> dict[str, Any]:
    return {
        "status": status,
        "reason": reason,
        "result_date": None,
        "repo_name": None,
        "repo_commit": None,
        "scorecard_version": None,
        "scorecard_commit": None,
        "score": None,
        "stale": False,
    }


__all__ = ["ScorecardSource", "repositories"]

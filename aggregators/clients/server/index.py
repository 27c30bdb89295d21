"""seckb's package index: upstream pages with the policy applied, and why (``/v1/policy``).

A project page is the upstream's page (:mod:`aggregators.clients.upstream`) gated by the
verdicts of the policy on the snapshot being served (:mod:`.verdicts`,
:mod:`aggregators.clients.simple.gate`), rendered in the negotiated format. Rendered pages are
kept with the upstream page, keyed by snapshot, policy (and which accepted risks are still in
force), mode and format: a new snapshot, a policy reload or an expiring accepted risk renders
afresh, nothing else does. Every answer says which snapshot and policy decided it, how the
upstream page was obtained, and what was blocked (``X-Seckb-*`` headers).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from aggregators.clients.checks import name_rules
from aggregators.clients.documents import snapshot_info, suspicion_json
from aggregators.clients.policy import PolicySource
from aggregators.clients.server.rendered import RenderStore
from aggregators.clients.server.verdicts import UNKNOWN, Judge, knowledge_of
from aggregators.clients.server.view import View
from aggregators.clients.simple.gate import gate
from aggregators.clients.simple.pages import ProjectList, ProjectPage
from aggregators.clients.simple.render import Rendered, render_project, render_root
from aggregators.clients.upstream import Answer, NotFound, UpstreamError, UpstreamIndex
from aggregators.core.clock import utcnow
from aggregators.core.config import Settings
from aggregators.core.versions import parse_version, version_sort_key
from aggregators.knowledge.policy import Policy
from aggregators.knowledge.typosquat import NameRules

POLICY_SCHEMA = "seckb.policy/1"
RENDERS_PER_PAGE = 16
POLICY_CHECK_SECONDS = 1.0


@dataclass(frozen=True)
class Served:
    """A page to send: body, type, ETag and the ``X-Seckb-*`` headers."""

    rendered: Rendered
    etag: str
    headers: dict[str, str]


@dataclass(frozen=True)
class _Render:
    rendered: Rendered
    etag: str
    facts: dict[str, Any]
    """What the page's headers say of it (knowledge, what was blocked), kept with it."""


class PackageIndex:
    """The index's state: upstreams, policy, the memoized judge, counters (thread-safe)."""

    def __init__(
        self,
        upstream: UpstreamIndex,
        policy: PolicySource,
        mode: str = "yank",
        client_max_age: int = 60,
        names: NameRules | None = None,
    ) -> None:
        """Serve ``upstream``'s pages under ``policy``; ``mode`` is the default index's;
        ``names``: the suspicious-name thresholds."""
        self.upstream = upstream
        self.policy = policy
        self.mode = mode
        self.client_max_age = client_max_age
        self.names = names or NameRules()
        self.counts: dict[tuple[str, ...], int] = defaultdict(int)
        self._lock = threading.Lock()
        self._judge: tuple[tuple[Any, ...], Judge] | None = None
        self._digests: tuple[Policy, str] | None = None
        self._checked = 0.0
        disk = upstream.disk
        self.rendered = RenderStore(disk / "renders" if disk is not None else None)

    @classmethod
    def from_settings(cls, settings: Settings) -> PackageIndex:
        """The index the settings describe: upstreams, policy (file read now), mode, caching."""
        return cls(
            UpstreamIndex.from_settings(settings),
            PolicySource(settings),
            settings.index_mode,
            settings.index_client_max_age,
            name_rules(settings),
        )

    def _count(self, *key: str, by: int = 1) -> None:
        with self._lock:
            self.counts[key] += by

    def current_policy(self) -> tuple[Policy, str]:
        """The policy in force (the file re-read at most once a second) and its digest."""
        now = time.monotonic()
        if now - self._checked >= POLICY_CHECK_SECONDS:
            self._checked = now
            self.policy.refresh()
        policy = self.policy.policy
        cached = self._digests
        if cached is None or cached[0] is not policy:
            cached = (policy, policy.digest())
            self._digests = cached
        return cached

    def judge(self, view: View, today: date | None = None) -> tuple[Judge, tuple[Any, ...]]:
        """The judge of the policy in force on ``view`` today, and its cache key."""
        policy, digest = self.current_policy()
        today = today or utcnow().date()
        key = (view.id, digest, policy.in_force(today), today)
        current = self._judge
        if current is not None and current[0] == key:
            return current[1], key
        judge = Judge.of(view, policy, today)
        self._judge = (key, judge)
        return judge, key

    def page(
        self, view: View, answer: Answer, mode: str, kind: str, render: bool = True
    ) -> Served | None:
        """The gated, rendered page of ``answer``'s project, rendered once per key (with
        ``render`` false: ``None`` unless it is rendered already)."""
        page = answer.entry.content
        assert isinstance(page, ProjectPage)
        judge, key = self.judge(view)
        cache_key = (key, mode, kind, answer.entry.generation)
        found = answer.entry.renders.get(cache_key)
        if found is None and not render:
            return None
        if found is None:
            disk_key = _disk_key(key, mode, kind, answer.entry.digest, self.names)
            kept = self.rendered.get(page.name, disk_key)
            if kept is not None:
                facts, body = kept
                found = _Render(Rendered(body, facts["content_type"]), facts["etag"], facts)
            else:
                found = self._render(view, page, judge, key[1], mode, kind)
                self.rendered.put(page.name, disk_key, found.facts, found.rendered.body)
            with self._lock:
                _keep(answer.entry.renders, cache_key, found)
        state, error = answer.state, answer.error
        return self._served(view, key[1], mode, found, answer.entry.upstream, state, error,
                            answer.entry.fetched_at)  # fmt: skip

    def _render(
        self, view: View, page: ProjectPage, judge: Judge, digest: str, mode: str, kind: str
    ) -> _Render:
        knowledge = knowledge_of(view, page.name)
        if knowledge == UNKNOWN:
            gated = gate(page, lambda _v: None, mode)
        else:
            gated = gate(page, lambda v: judge.verdict(page.name, v), mode)
        suspicion = view.kb.popularity.check(page.name, self.names) if view.kb else None
        extras = {
            "snapshot": view.id,
            "policy": digest,
            "knowledge": knowledge,
            "suspicious_name": suspicion_json(suspicion),
        }
        rendered = render_project(gated, kind, extras)
        etag = '"' + hashlib.sha256(rendered.body).hexdigest()[:32] + '"'
        facts: dict[str, Any] = {
            "content_type": rendered.content_type,
            "etag": etag,
            "knowledge": knowledge,
            "blocked_versions": len(gated.blocked),
            "hidden_files": gated.hidden_files,
            "yanked_files": gated.yanked_files,
            "suspicious_name": suspicion.message() if suspicion else None,
        }
        return _Render(rendered, etag, facts)

    def kept_page(self, view: View, project: str, mode: str, kind: str) -> Served | None:
        """A page rendered by an earlier process and kept on disk, when the upstream page it
        was rendered from is still fresh there (no upstream page read, parsed or judged)."""
        meta = self.upstream.kept(project)
        if meta is None:
            return None
        _, key = self.judge(view)
        kept = self.rendered.get(project, _disk_key(key, mode, kind, meta["digest"], self.names))
        if kept is None:
            return None
        facts, body = kept
        found = _Render(Rendered(body, facts["content_type"]), facts["etag"], facts)
        fetched = datetime.fromisoformat(meta["fetched_at"])
        return self._served(view, key[1], mode, found, meta["upstream"], "fresh", None, fetched)

    def _served(
        self,
        view: View,
        digest: str,
        mode: str,
        found: _Render,
        upstream: str,
        state: str,
        error: str | None,
        fetched_at: datetime,
    ) -> Served:
        facts = found.facts
        self._count("pages", mode, facts["knowledge"], state)
        self._count("blocked_files", mode, "hidden", by=facts["hidden_files"])
        self._count("blocked_files", mode, "yanked", by=facts["yanked_files"])
        headers = self._headers(view, digest, mode, upstream, state, error, fetched_at)
        headers["X-Seckb-Knowledge"] = facts["knowledge"]
        headers["X-Seckb-Blocked-Versions"] = str(facts["blocked_versions"])
        headers["X-Seckb-Blocked-Files"] = str(facts["hidden_files"] + facts["yanked_files"])
        if facts.get("suspicious_name"):
            headers["X-Seckb-Suspicious-Name"] = _header_text(facts["suspicious_name"])
        return Served(found.rendered, found.etag, headers)

    def root(self, view: View, answer: Answer, mode: str, kind: str, base: str) -> Served:
        """The root page: the upstreams' projects."""
        projects = answer.entry.content
        assert isinstance(projects, ProjectList)
        _, key = self.judge(view)
        cache_key = (key[0], mode, kind, base, answer.entry.generation)
        found = answer.entry.renders.get(cache_key)
        if found is None:
            extras = {"snapshot": view.id, "mode": mode}
            found = _finish(render_root(projects, kind, base, extras))
            with self._lock:
                _keep(answer.entry.renders, cache_key, found)
        self._count("roots", mode, answer.state)
        headers = self._headers(
            view, key[1], mode, answer.entry.upstream, answer.state, answer.error,
            answer.entry.fetched_at,
        )  # fmt: skip
        return Served(found.rendered, found.etag, headers)

    def _headers(
        self,
        view: View,
        digest: str,
        mode: str,
        upstream: str,
        state: str,
        error: str | None,
        fetched_at: datetime,
    ) -> dict[str, str]:
        age = max(0.0, (utcnow() - fetched_at).total_seconds())
        headers = {
            "Vary": "Accept",
            "Cache-Control": f"max-age={self.client_max_age}, must-revalidate",
            "X-Seckb-Snapshot": view.id,
            "X-Seckb-Policy": digest,
            "X-Seckb-Mode": mode,
            "X-Seckb-Upstream": upstream,
            "X-Seckb-Upstream-State": state,
            "X-Seckb-Upstream-Age": f"{age:.0f}",
        }
        if error:
            headers["X-Seckb-Upstream-Error"] = _header_text(error)
        return headers

    def explain(self, view: View, package: str, version: str | None) -> dict[str, Any]:
        """The ``seckb.policy/1`` document: each version's verdict and why."""
        judge, key = self.judge(view)
        policy = judge.policy
        upstream: dict[str, Any] = {"state": None, "error": None, "url": None}
        files: dict[str, int] = defaultdict(int)
        versions: list[str]
        if version is not None:
            versions, source = [version], "asked"
        else:
            try:
                answer = self.upstream.project(package)
            except (NotFound, UpstreamError) as exc:
                upstream["error"] = str(exc)
                answer = None
            if answer is not None:
                page = answer.entry.content
                assert isinstance(page, ProjectPage)
                upstream.update(state=answer.state, error=answer.error, url=answer.entry.upstream)
                for item in page.files:
                    files[item.version or ""] += 1
                versions, source = [*page.versions, *(v for v in files if v)], "upstream"
            else:
                known = view.kb.versions(package) if view.kb is not None else []
                versions, source = [r.version for r in known], "snapshot"
        ordered = sorted(set(versions), key=version_sort_key, reverse=True)
        verdicts = [judge.verdict(package, v) for v in ordered if parse_version(v) is not None]
        entries = [
            {**v.to_json(), "files": files.get(v.version) if source == "upstream" else None}
            for v in verdicts
        ]
        if files.get(""):
            entries.append({**judge.verdict(package, None).to_json(), "files": files[""]})
        return {
            "schema": POLICY_SCHEMA,
            "snapshot": snapshot_info(view.snapshot),
            "package": package,
            "knowledge": knowledge_of(view, package),
            "policy": _policy_json(policy, key[1], self.policy, package),
            "versions_from": source,
            "upstream": upstream,
            "counts": {
                "allowed": sum(not v.blocked for v in verdicts),
                "blocked": sum(v.blocked for v in verdicts),
            },
            "versions": entries,
        }

    def metrics_lines(self) -> Iterable[str]:
        """Prometheus lines of the index (pages, blocked files, upstream, policy)."""
        with self._lock:
            counts = dict(self.counts)
        yield "# HELP seckb_index_pages_total Project pages served, by mode, knowledge, upstream."
        yield "# TYPE seckb_index_pages_total counter"
        for key, value in sorted(counts.items()):
            if key[0] == "pages":
                labels = f'mode="{key[1]}",knowledge="{key[2]}",upstream="{key[3]}"'
                yield f"seckb_index_pages_total{{{labels}}} {value}"
        yield "# HELP seckb_index_blocked_files_total Files yanked or hidden in pages served."
        yield "# TYPE seckb_index_blocked_files_total counter"
        for key, value in sorted(counts.items()):
            if key[0] == "blocked_files":
                labels = f'mode="{key[1]}",action="{key[2]}"'
                yield f"seckb_index_blocked_files_total{{{labels}}} {value}"
        with self.upstream._lock:
            upstream = dict(self.upstream.counts)
        yield "# HELP seckb_index_upstream_total Upstream page look-ups, by outcome."
        yield "# TYPE seckb_index_upstream_total counter"
        for outcome in ("fresh", "requests", "revalidated", "not_found", "errors", "stale_served"):
            yield f'seckb_index_upstream_total{{outcome="{outcome}"}} {upstream.get(outcome, 0)}'
        yield "# HELP seckb_index_cached_pages Upstream pages held in memory."
        yield "# TYPE seckb_index_cached_pages gauge"
        yield f"seckb_index_cached_pages {self.upstream.cached_pages}"
        yield "# HELP seckb_index_policy_reloads_total Policy file reloads that changed the policy."
        yield "# TYPE seckb_index_policy_reloads_total counter"
        yield f"seckb_index_policy_reloads_total {self.policy.reloads}"
        yield "# HELP seckb_index_policy_error The policy file could not be reloaded (1)."
        yield "# TYPE seckb_index_policy_error gauge"
        yield f"seckb_index_policy_error {int(self.policy.error is not None)}"


def _finish(rendered: Rendered) -> _Render:
    etag = '"' + hashlib.sha256(rendered.body).hexdigest()[:32] + '"'
    return _Render(rendered, etag, {})


def _disk_key(key: tuple[Any, ...], mode: str, kind: str, digest: str, names: NameRules) -> str:
    """The name of a rendering on disk: snapshot, policy, risks in force, day, mode, format,
    the upstream page's digest and the suspicious-name thresholds."""
    view_id, policy, in_force, today = key
    return RenderStore.key((view_id, policy, sorted(in_force), today.isoformat(), mode, kind,
                            digest, repr(names)))  # fmt: skip


def _keep(renders: dict[Any, Any], key: Any, value: _Render) -> None:
    renders[key] = value
    while len(renders) > RENDERS_PER_PAGE:
        renders.pop(next(iter(renders)))


def _header_text(text: str) -> str:
    """``text`` as a header value: printable ASCII on one line, at most 300 characters."""
    cleaned = "".join(c if 32 <= ord(c) < 127 else "?" for c in " ".join(text.split()))
    return cleaned[:300]


def _policy_json(policy: Policy, digest: str, source: PolicySource, package: str) -> dict[str, Any]:
    rules = policy.rules
    return {
        "digest": digest,
        "file": str(source.path) if source.path else None,
        "reload_error": source.error,
        "rules": {
            "severity": rules.severity,
            "bandit_statuses": list(rules.bandit_statuses),
            "bandit_max_high": rules.bandit_max_high,
            "scorecard_min": rules.scorecard_min,
        },
        "accepted_risks": [a.to_json() for a in policy.accepted if a.package == package],
    }

"""``GET /packages/{name}``: a package's page for people, server-rendered HTML with SVG charts.

The same ``seckb.package/1`` document as ``GET /v1/packages/{name}``, drawn: the releases over
time with the advisories affecting them and where each was fixed, the Bandit status of the
analysed releases, the Scorecard checks; then the tables. No script, no build step; a strict
Content-Security-Policy (no script, no remote resource).
"""

from __future__ import annotations

from collections.abc import Sequence
from html import escape
from typing import Any

from fastapi import APIRouter, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse

from aggregators.clients.server.chart import scorecard_svg, timeline_svg
from aggregators.clients.server.packages import package_document
from aggregators.clients.server.state import package_name, server_state
from aggregators.knowledge.policy import Verdict

router = APIRouter(tags=["pages"])
HEADERS = {
    "Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; img-src data:",
    "X-Content-Type-Options": "nosniff",
}
STYLE = """
body{font:14px/1.45 system-ui,sans-serif;margin:24px 32px;color:#1f2328}
h1{font-size:22px;margin:0 0 4px}h2{font-size:16px;margin:22px 0 6px}
.meta{color:#59636e}.lane{font-size:11px;fill:#1f2328}.axis{font-size:11px;fill:#59636e}
.tick{stroke:#d1d9e0;stroke-dasharray:2 3}.rule{stroke:#eef1f4}
table{border-collapse:collapse;font-size:13px}
td,th{padding:3px 10px;border-bottom:1px solid #d1d9e0;text-align:left;vertical-align:top}
.bad{color:#cf222e;font-weight:600}.ok{color:#1a7f37}
.legend span{margin-right:16px}.dot{display:inline-block;width:10px;height:10px;border-radius:5px}
.charts{display:flex;gap:32px;flex-wrap:wrap}
.alarm{background:#cf222e;color:#fff;padding:8px 12px;font-weight:600;border-radius:4px}
.warn{background:#fff8c5;border:1px solid #d4a72c;padding:6px 12px;border-radius:4px}
"""
LEGEND = (
    '<p class="legend"><span><i class="dot" style="background:#cf222e"></i> affected</span>'
    '<span><i class="dot" style="background:#1a7f37"></i> no known advisory</span>'
    '<span><i class="dot" style="border:2px solid #8c959f;width:7px;height:7px"></i> yanked</span>'
    '<span><b style="color:#1a7f37">&#9670;</b> fixed in</span>'
    "<span>&#9632; Bandit: green scanned, amber partial, grey other; "
    "no square: not analysed</span>"
    "</p>"
)


def _t(value: Any) -> str:
    return escape("" if value is None else str(value), quote=True)


def _table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    if not rows:
        return '<p class="meta">none</p>'
    head = "".join(f"<th>{_t(h)}</th>" for h in headers)
    body = "".join("<tr>" + "".join(f"<td>{cell}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _advisory_rows(document: dict[str, Any]) -> list[list[str]]:
    rows = []
    for a in document["advisories"]:
        severity = a.get("severity") or {}
        state = "withdrawn" if a.get("withdrawn") else ""
        if a.get("merged_into"):
            state += f" (same issue as {a['merged_into']})"
        badge = ' <span class="bad">malicious</span>' if a.get("malicious") else ""
        rows.append(
            [
                f"<b>{_t(a['id'])}</b>{badge} {_t(state)}"
                + f'<br><span class="meta">{_t(a.get("origin"))}</span>',
                _t(", ".join(a.get("aliases") or [])),
                _t(f"{severity.get('rating') or ''} {severity.get('score') or ''}".strip() or "-"),
                _t(", ".join(a.get("fixed_versions") or []) or "not fixed"),
                _t(a.get("affected_versions")),
                _t((a.get("summary") or "")[:120]),
            ]
        )
    return rows


def _scan_rows(document: dict[str, Any]) -> list[list[str]]:
    return [
        [
            _t(s["version"]),
            _t(s["status"]) + (f" ({_t(s['reason'])})" if s.get("reason") else ""),
            _t(f"{s.get('files_analysed')} / {s.get('files')}"),
            _t(s.get("files_skipped")),
            _t(" / ".join(str(s["findings"][k]) for k in ("high", "medium", "low"))),
        ]
        for s in document["bandit_scans"]
    ]


def _summary(document: dict[str, Any]) -> str:
    releases = document["releases"]
    affected = sum(1 for r in releases if r.get("vulnerable"))
    active = sum(
        1 for a in document["advisories"] if not a.get("withdrawn") and not a.get("merged_into")
    )  # one issue counted once, whichever repositories publish it
    repository = document.get("repository") or {}
    card = ""
    if repository.get("url"):
        score = repository.get("score")
        card = f' · repository <a href="{_t(repository["url"])}">{_t(repository["url"])}</a>'
        card += f" · Scorecard {_t(score)}/10" if score is not None else " · no Scorecard score"
    snapshot = document["snapshot"]
    return (
        f'<p class="meta">{len(releases)} release(s) known, <span class="bad">{affected} '
        f"affected</span> · {active} active advisory(ies){card}<br>snapshot {_t(snapshot['id'])} "
        f"({_t(snapshot.get('created_at'))}), advisory-db {_t(snapshot.get('advisory_db_commit'))}"
        "</p>"
    )


def _warnings(document: dict[str, Any]) -> str:
    """What must be seen first: a malicious project or releases, a suspicious name, and the
    releases' new-release signals."""
    parts = []
    malicious = [r["version"] for r in document["releases"] if r.get("malicious")]
    if document.get("malicious_project"):
        parts.append(
            '<p class="alarm">Malicious project: a malicious-package record covers every version'
            " of it. Do not install any release.</p>"
        )
    elif malicious:
        parts.append(
            f'<p class="alarm">Malicious release(s): {_t(", ".join(malicious))}: '
            "do not install.</p>"
        )
    suspicion = document.get("suspicion")
    if suspicion:
        parts.append(f'<p class="warn">Suspicious name: {_t(suspicion["message"])}</p>')
    elif not document.get("names_checked"):
        parts.append('<p class="meta">Name not checked: the snapshot has no popularity table.</p>')
    signals = [
        [_t(r["version"]), _t(s["kind"]), _t(s["message"])]
        for r in reversed(document["releases"])
        for s in r.get("signals", ())
    ]
    if signals:
        parts.append(
            '<h2>Signals</h2><p class="meta">facts worth a look, not verdicts</p>'
            + _table(("release", "signal", "why"), signals)
        )
    return "".join(parts)


SCAN_HEADERS = ("release", "status", "files analysed", "skipped", "findings H / M / L")
ADVISORY_HEADERS = ("id", "aliases", "severity", "fixed in", "versions", "summary")


def _policy_section(verdicts: Sequence[Verdict] | None, digest: str) -> str:
    """The index policy's verdict on each release, newest first (blocked ones marked)."""
    if verdicts is None:
        return ""
    blocked = sum(v.blocked for v in verdicts)
    rows = [
        [
            _t(v.version),
            '<span class="bad">blocked</span>' if v.blocked else '<span class="ok">allowed</span>',
            _t(
                v.message(300)
                if v.blocked
                else "; ".join(
                    [
                        f"accepted risk: {risk.reason} (until {risk.expires})"
                        for _r, risk in v.accepted
                    ]
                    + list(v.notes)
                )
            ),
        ]
        for v in verdicts
    ]
    return (
        f'<h2>Under the index policy</h2><p class="meta">policy {_t(digest)}: '
        f'<span class="bad">{blocked} blocked</span> of {len(verdicts)} release(s): '
        "<code>/simple/</code> yanks them, <code>/strict/simple/</code> leaves them out</p>"
        f"{_table(('release', 'verdict', 'why'), rows)}"
    )


def render_page(
    document: dict[str, Any], verdicts: Sequence[Verdict] | None = None, digest: str = ""
) -> str:
    """The HTML page of a ``seckb.package/1`` document (with the index policy's ``verdicts``
    on its releases, newest first, when the server has an index)."""
    name = _t(document["package"])
    checks = document["scorecard_checks"]
    timeline = timeline_svg(document["releases"], document["advisories"], document["bandit_scans"])
    scans = _table(SCAN_HEADERS, _scan_rows(document))
    advisories = _table(ADVISORY_HEADERS, _advisory_rows(document))
    return (
        f"<!doctype html><html lang=en><head><meta charset=utf-8><title>{name} — seckb</title>"
        f"<style>{STYLE}</style></head><body><h1>{name}</h1>{_summary(document)}"
        f"{_warnings(document)}"
        f"<h2>Releases over time and the advisories affecting them</h2>{LEGEND}{timeline}"
        f'<div class="charts"><div><h2>Scorecard checks</h2>{scorecard_svg(checks)}</div>'
        f"<div><h2>Bandit analyses</h2>{scans}</div></div>"
        f"<h2>Advisories</h2>{advisories}{_policy_section(verdicts, digest)}</body></html>"
    )


@router.get("/packages/{name}", response_class=HTMLResponse)
async def package_page(name: str, request: Request) -> HTMLResponse:
    """A package's page: releases, advisories, fixes, Bandit and Scorecard, drawn."""
    state = server_state(request)
    view = state.holder.require()
    package = package_name(name)
    document = await run_in_threadpool(package_document, view, package, state.checks)
    verdicts, digest = None, ""
    if state.index is not None:
        judge, key = state.index.judge(view)
        digest = key[1]
        verdicts = [judge.verdict(package, r["version"]) for r in reversed(document["releases"])]
    return HTMLResponse(render_page(document, verdicts, digest), headers=HEADERS)

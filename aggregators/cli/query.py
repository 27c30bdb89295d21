"""``seckb query``: the advisories affecting a package (at a version), as a table or JSON."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from aggregators.cli.common import (
    EXIT_OK,
    add_snapshot_options,
    print_json,
    read_snapshot,
    settings_from,
)

if TYPE_CHECKING:
    from aggregators.clients.query import QueryResult


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    """Add ``seckb query`` and its options."""
    p = sub.add_parser("query", parents=[common], help="advisories affecting a package version")
    p.add_argument("package")
    p.add_argument("version", nargs="?")
    p.add_argument("--json", action="store_true", help="print the seckb.query/1 JSON document")
    p.add_argument("--include-withdrawn", action="store_true", help="also list withdrawn ones")
    add_snapshot_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace, out: Console, err: Console) -> int:
    """Answer the query from the snapshot; always 0 (errors raise)."""
    from aggregators.clients.checks import checks_from
    from aggregators.clients.query import query

    snapshot, _warnings = read_snapshot(args, err)
    checks = checks_from(settings_from(args))
    result = query(snapshot, args.package, args.version, args.include_withdrawn, checks)
    if args.json:
        print_json(result.to_json())
        return EXIT_OK
    subject = result.package + (f" {result.version}" if result.version else "")
    for line in knowledge_lines(result):
        out.print(line, highlight=False)
    if result.repository is not None:
        out.print(_repository_line(result.repository), highlight=False)
    if not result.known_package:
        out.print(f"{subject}: no advisory names this package (snapshot {snapshot.id})")
        if result.version is not None:
            out.print(bandit_line(result.bandit))
        return EXIT_OK
    if result.version_is_pep440 is False:
        err.print(
            f"[yellow]warning:[/] {result.version!r} is not a PEP 440 version; "
            "only explicit version lists can match it"
        )
    if result.version is not None:
        verdict = "[bold red]VULNERABLE[/]" if result.vulnerable else "[green]no known advisory[/]"
        out.print(f"{subject}: {verdict} (snapshot {snapshot.id})")
        out.print(bandit_line(result.bandit))
    else:
        out.print(f"{subject}: {len(result.advisories)} advisory(ies) (snapshot {snapshot.id})")
    if result.advisories:
        out.print(_advisory_table(result))
    return EXIT_OK


def knowledge_lines(result: QueryResult) -> list[str]:
    """What the knowledge base says beside the advisories (rich markup): malicious, suspect,
    a suspicious name, the signals."""
    lines = []
    if result.malicious:
        lines.append("[bold white on red]MALICIOUS[/] — a malicious-package record names it")
    elif result.suspect:
        lines.append("[bold red]SUSPECT[/] — a version of a malicious project (no record lists it)")
    elif result.malicious_project:
        lines.append("[bold red]malicious project[/] — a malicious-package record covers it")
    if result.suspicion is not None:
        lines.append(f"[yellow]suspicious name[/]: {escape(result.suspicion.message())}")
    elif not result.names_checked:
        lines.append("[yellow]name not checked[/]: the snapshot has no popularity table")
    lines.extend(f"[yellow]signal[/] {s.kind}: {escape(s.message)}" for s in result.signals)
    return lines


def bandit_line(analysis: dict[str, Any] | None) -> str:
    """``bandit: partial — 3 of 9 Python file(s) not analysed ...``: one line (rich markup)
    on the release's Bandit analysis; only ``scanned`` reads as a whole analysis."""
    if analysis is None:
        return "bandit: [yellow]not analysed[/] — the snapshot lists no such PyPI release"
    status = analysis["status"]
    analysed, skipped = analysis["files_analysed"], analysis["files_skipped"]
    high = analysis["high_findings"]
    findings = f"{high} high-severity, high-confidence finding(s)" if high is not None else ""
    if status == "scanned":
        files = f"{analysed} Python file(s) analysed, " if analysed is not None else ""
        return f"bandit: [green]scanned[/] — {files}{findings}"
    if status == "partial":
        if analysed is not None and skipped is not None:
            line = f"{skipped} of {analysed + skipped} Python file(s) not analysed"
        else:
            line = escape(analysis["reason"] or "some Python files not analysed")
        line += f"; at least {findings} in the files analysed" if findings else ""
        return f"bandit: [yellow]partial[/] — {line} (see bandit_errors)"
    if status == "not_analysed":
        return "bandit: [yellow]not analysed[/] — this release's sdist was not analysed"
    reason = escape(analysis["reason"] or "no analysis")
    return f"bandit: [yellow]{escape(status)}[/] — {reason}: not analysed"


def _repository_line(repo: dict[str, Any]) -> str:
    """``repository: URL — Scorecard 6.5/10 (2026-11-16); weakest: ...``"""
    line = f"repository: {repo['url']}"
    if repo["score"] is not None:
        weak = ", ".join(f"{c['check']} {c['score']:g}" for c in repo["weakest_checks"])
        stale = " [stale]" if repo["stale"] else ""
        line += f" — Scorecard {repo['score']:g}/10 ({repo['result_date'][:10]}{stale})"
        line += f"; weakest: {weak}" if weak else ""
    elif repo["status"]:
        line += f" — Scorecard: {repo['status']}"
    return line


def _advisory_table(result: QueryResult) -> Table:
    """One row per advisory: id, aliases, severity, fixed versions, how it matched, summary."""
    table = Table(
        "id",
        "aliases",
        "severity",
        "fixed in",
        "affects" if result.version else "versions",
        "summary",
        box=None,
    )
    for m in result.advisories:
        sev = m.severity or {}
        severity = f"{sev.get('rating') or ''} {sev.get('score') or ''}".strip() or "-"
        table.add_row(
            m.id + (" (withdrawn)" if m.withdrawn else ""),
            ", ".join(m.aliases),
            severity,
            ", ".join(m.fixed_versions) or "-",
            m.affected_by or "-" if result.version else str(m.affected_versions),
            (m.summary or "")[:60],
        )
    return table

"""The client commands of ``seckb``: audit, recommend and diff, and the freshness warnings."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import timedelta
from typing import Any

from rich.console import Console
from rich.table import Table

from aggregators.cli.common import EXIT_FAILED, EXIT_OK, _latest, _settings
from aggregators.core.config import Settings
from aggregators.core.errors import SeckbError

CHANGE_KINDS = (  # the order seckb diff shows them in
    "advisory_added",
    "advisory_changed",
    "advisory_withdrawn",
    "advisory_removed",
    "version_newly_affected",
    "version_no_longer_affected",
    "new_high_findings",
    "scorecard_drop",
)


def _warn_stale(snapshot: Any, settings: Settings, err: Console) -> list[str]:
    """Print the snapshot's freshness warnings on stderr as ``warning: ...``; return them."""

    from aggregators.clients.freshness import staleness_warnings
    from aggregators.core.clock import utcnow

    max_age = timedelta(hours=settings.max_age_hours)
    warnings = staleness_warnings(snapshot, max_age, utcnow())
    for line in warnings:
        err.print(f"[yellow]warning:[/] {line}", highlight=False, soft_wrap=True)
    return warnings


def _snapshot_info(snapshot: Any) -> dict[str, Any]:
    lineage = snapshot.source("advisories").get("lineage", {})
    return {
        "id": snapshot.id,
        "created_at": snapshot.manifest.get("created_at"),
        "advisory_db_commit": lineage.get("commit"),
    }


def _cmd_audit(args: argparse.Namespace, out: Console, err: Console) -> int:
    from aggregators.clients.audit import (
        advisory_scores,
        audit,
        audit_document,
        from_requirements,
        mark_failures,
    )
    from aggregators.clients.lookup import KnowledgeBase

    notes: list[str] = []
    if args.sbom is not None:
        from aggregators.clients.inputs.sbom import read_sbom

        requirements, notes = read_sbom(args.sbom)
        source = {"kind": "cyclonedx", "path": str(args.sbom)}
    else:
        from aggregators.clients.inputs.requirements import read_requirements

        try:
            pins, problems = read_requirements(args.requirements)
        except (OSError, UnicodeDecodeError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            raise SeckbError(f"cannot read {args.requirements}: {reason}") from exc
        requirements = from_requirements(pins, problems)
        source = {"kind": "requirements", "path": str(args.requirements)}
    settings = _settings(args)
    snapshot = _latest(settings, args.snapshot)
    warnings = _warn_stale(snapshot, settings, err)
    wanted = {r.package for r in requirements if r.package}
    rows = audit(requirements, KnowledgeBase(snapshot, wanted), advisory_scores(snapshot))
    failing = mark_failures(rows, args.fail_on, args.allow_unknown)
    code = EXIT_FAILED if failing else EXIT_OK
    for note in notes:
        err.print(f"note: {note}", highlight=False, soft_wrap=True)
    if args.json:
        doc = audit_document(
            _snapshot_info(snapshot),
            source,
            rows,
            notes,
            warnings,
            args.fail_on,
            args.allow_unknown,
            code,
        )
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        return code
    styles = {"vulnerable": "bold red", "ok": "green"}
    table = Table(
        "package",
        "version",
        "status",
        "advisories",
        "max severity",
        "fixed in",
        "bandit",
        "note",
        box=None,
    )
    for row in rows:
        status = row.status.replace("_", " ")
        style = styles.get(row.status, "yellow")
        severity = (
            f"{row.max_cvss_rating or ''} {row.max_cvss_score or ''}".strip()
            if row.max_cvss_rating
            else ""
        )
        if row.unscored_advisories:
            severity = (
                severity + ", " if severity else ""
            ) + f"{len(row.unscored_advisories)} unscored"
        bandit = row.bandit_status or ""
        if row.bandit_high_findings:
            bandit += f" ({row.bandit_high_findings} high)"
        table.add_row(
            row.package,
            row.version or "-",
            f"[{style}]{status}[/]" + (" [red]✗[/]" if row.fails else ""),
            ", ".join(row.advisories) or "-",
            severity or "-",
            row.fixed_in or "-",
            bandit or "-",
            row.note or "",
        )
    out.print(table)
    counts = ", ".join(
        f"{sum(r.status == s for r in rows)} {s.replace('_', ' ')}"
        for s in dict.fromkeys(r.status for r in rows)
    )
    out.print(f"{len(rows)} requirement(s): {counts} (snapshot {snapshot.id})", highlight=False)
    if args.fail_on:
        verdict = f"{failing} failing --fail-on {args.fail_on}"
        if not args.allow_unknown:
            verdict += " (unpinned, unknown and invalid entries count; see --allow-unknown)"
        (err if failing else out).print(verdict, highlight=False)
    return code


def _cmd_recommend(args: argparse.Namespace, out: Console, err: Console) -> int:
    from aggregators.clients.lookup import KnowledgeBase

    settings = _settings(args)
    snapshot = _latest(settings, args.snapshot)
    warnings = _warn_stale(snapshot, settings, err)
    kb = KnowledgeBase(snapshot)
    rec = kb.recommend(args.package, args.specifier or "", prereleases=args.pre)
    chosen = kb.lookup(rec.package, rec.version) if rec.version else None
    code = EXIT_OK if rec.version else EXIT_FAILED
    if args.json:
        doc = {
            "schema": "seckb.recommend/1",
            "snapshot": _snapshot_info(snapshot),
            "package": rec.package,
            "specifier": rec.specifier,
            "prereleases": args.pre,
            "known_package": kb.knows(rec.package),
            "version": rec.version,
            "release": chosen.to_json() if chosen else None,
            "skipped": [{"version": v, "reason": r} for v, r in rec.skipped],
            "warnings": warnings,
        }
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        return code
    subject = rec.package + (f" {rec.specifier}" if rec.specifier else "")
    if not kb.knows(rec.package):
        out.print(f"{subject}: no release of this package in snapshot {snapshot.id}")
        return code
    if rec.version:
        out.print(
            f"{subject}: recommend [bold green]{rec.version}[/] (snapshot {snapshot.id})",
            highlight=False,
        )
    else:
        out.print(
            f"{subject}: [bold red]no version qualifies[/] (snapshot {snapshot.id})",
            highlight=False,
        )
    if rec.skipped:
        out.print("skipped (newest first):")
        for version, reason in rec.skipped:
            out.print(f"  {version}: {reason}", highlight=False)
    elif rec.version:
        out.print("no newer matching release was skipped")
    return code


def _cmd_diff(args: argparse.Namespace, out: Console, err: Console) -> int:
    from aggregators.core.workspace import Workspace
    from aggregators.knowledge.changes import diff_rows
    from aggregators.store.snapshots import SnapshotStore

    store = SnapshotStore(Workspace(_settings(args).home))
    new = store.get(args.new) if args.new else store.latest()
    if new is None:
        raise SeckbError("no snapshot yet; run 'seckb ingest' first")
    if args.old:
        old = store.get(args.old)
    else:
        earlier = [
            s
            for s in store.all()
            if s.id != new.id
            and s.manifest.get("created_at", "") <= new.manifest.get("created_at", "")
        ]
        if not earlier:
            raise SeckbError(f"no snapshot before {new.id} to compare with")
        old = earlier[-1]
    rows = diff_rows(old.read, new.read, old.id)
    kinds: dict[str, list[dict[str, Any]]] = {kind: [] for kind in CHANGE_KINDS}
    for row in rows:
        kinds.setdefault(row["change"], []).append(row)
    kinds = {kind: items for kind, items in kinds.items() if items}
    if args.json:
        doc = {
            "schema": "seckb.diff/1",
            "old": _snapshot_info(old),
            "new": _snapshot_info(new),
            "counts": {kind: len(items) for kind, items in kinds.items()},
            "changes": [{k: v for k, v in row.items() if k != "previous_snapshot"} for row in rows],
        }
        sys.stdout.write(json.dumps(doc, indent=2) + "\n")
        return EXIT_OK
    out.print(f"changes from {old.id} to {new.id}: {len(rows)}", highlight=False)
    for kind, items in kinds.items():
        out.print(f"\n[bold]{kind}[/] ({len(items)})", highlight=False)
        for row in items:
            subject = " ".join(
                str(row[key]) for key in ("package", "version", "advisory_id") if row[key]
            )
            change = ""
            if row["old_value"] is not None or row["new_value"] is not None:
                change = f": {row['old_value'] or '-'} -> {row['new_value'] or '-'}"
            out.print(f"  {subject}{change}", highlight=False)
    return EXIT_OK

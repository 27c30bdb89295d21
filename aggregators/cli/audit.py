"""``seckb audit``: check a requirements file or a CycloneDX SBOM against a snapshot."""

from __future__ import annotations

import argparse
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from aggregators.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    add_snapshot_options,
    print_json,
    read_snapshot,
    settings_from,
)
from aggregators.clients.audit import THRESHOLDS
from aggregators.core.errors import SeckbError

if TYPE_CHECKING:
    from aggregators.clients.audit import AuditRow, Requirement

STYLES = {
    "malicious": "bold white on red",
    "vulnerable": "bold red",
    "suspect": "bold red",
    "ok": "green",
}
"""Every other status: yellow."""


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    """Add ``seckb audit`` and its options."""
    p = sub.add_parser(
        "audit", parents=[common], help="check pinned requirements or an SBOM against a snapshot"
    )
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("-r", "--requirements", type=Path, help="a requirements file (pip format)")
    what.add_argument("--sbom", type=Path, help="a CycloneDX JSON SBOM (syft, cyclonedx-py)")
    add_failure_options(p)
    p.add_argument("--json", action="store_true", help="print the seckb.audit/1 JSON document")
    add_snapshot_options(p)
    p.set_defaults(func=run)


def add_failure_options(p: argparse.ArgumentParser) -> None:
    """``--fail-on``, ``--allow-unknown`` and ``--allow-suspicious`` (audit, project show)."""
    p.add_argument(
        "--fail-on",
        choices=THRESHOLDS,
        help="exit 1 when a vulnerable pin reaches this CVSS rating (unscored always does), "
        "when a pin is malicious or suspect (always), when a name is suspicious (unless "
        "--allow-suspicious), or when a pin is unpinned, a direct reference, unknown or "
        "invalid (unless --allow-unknown)",
    )
    p.add_argument(
        "--allow-unknown",
        action="store_true",
        help="with --fail-on: do not fail on unpinned, direct-reference, unknown or invalid "
        "entries (malicious and suspect ones still fail)",
    )
    p.add_argument(
        "--allow-suspicious",
        action="store_true",
        help="with --fail-on: do not fail on names that look like a more popular project's",
    )


def run(args: argparse.Namespace, out: Console, err: Console) -> int:
    """Audit every entry; 1 when one breaks ``--fail-on``, else 0 (errors raise)."""
    from aggregators.clients.audit import AuditOptions, audit_snapshot
    from aggregators.clients.checks import checks_from
    from aggregators.clients.documents import audit_document

    requirements, notes, source = _read_input(args)
    snapshot, warnings = read_snapshot(args, err)
    options = AuditOptions(args.fail_on, args.allow_unknown, args.allow_suspicious)
    rows, failing, unchecked = audit_snapshot(
        snapshot, requirements, options, checks_from(settings_from(args))
    )
    notes = [*notes, *unchecked]
    code = EXIT_FAILED if failing else EXIT_OK
    for note in notes:
        err.print(f"note: {note}", highlight=False, markup=False, soft_wrap=True)
    if args.json:
        print_json(audit_document(snapshot, source, rows, notes, warnings, options, code))
        return code
    out.print(_table(rows))
    counts = ", ".join(
        f"{sum(r.status == s for r in rows)} {s.replace('_', ' ')}"
        for s in dict.fromkeys(r.status for r in rows)
    )
    out.print(f"{len(rows)} requirement(s): {counts} (snapshot {snapshot.id})", highlight=False)
    if args.fail_on or failing:
        verdict = (
            f"{failing} failing --fail-on {args.fail_on}"
            if args.fail_on
            else (f"{failing} failing: a malicious release fails every audit")
        )
        why = [
            what
            for what, allowed in (
                ("unpinned, direct-reference, unknown and invalid entries count; see "
                 "--allow-unknown", args.allow_unknown),
                ("suspicious names count; see --allow-suspicious", args.allow_suspicious),
            )
            if args.fail_on and not allowed
        ]  # fmt: skip
        verdict += f" ({'; '.join(why)})" if why else ""
        (err if failing else out).print(verdict, highlight=False)
    return code


def _read_input(args: argparse.Namespace) -> tuple[list[Requirement], list[str], dict[str, Any]]:
    """The entries to audit, the notes on what was not audited, and the ``source`` of the
    document; raise :class:`SeckbError` (one line) when the file cannot be read."""
    if args.sbom is not None:
        from aggregators.clients.inputs.sbom import read_sbom

        requirements, notes = read_sbom(args.sbom)
        return requirements, notes, {"kind": "cyclonedx", "path": str(args.sbom)}
    from aggregators.clients.inputs.requirements import read_requirements

    try:
        requirements, notes = read_requirements(args.requirements)
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise SeckbError(f"cannot read {args.requirements}: {reason}") from exc
    return requirements, notes, {"kind": "requirements", "path": str(args.requirements)}


def _table(rows: Sequence[AuditRow]) -> Table:
    """One line per entry: package, version, status (✗ when failing), advisories, severity,
    fixed version, Bandit, note (with the environment marker)."""
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
        style = STYLES.get(row.status, "yellow")
        bandit = row.bandit_status or ""
        if row.bandit_high_findings:
            bandit += f" ({row.bandit_high_findings} high)"
        note = "; ".join(
            part for part in (row.note, f"marker: {row.marker}" if row.marker else None) if part
        )
        table.add_row(
            escape(row.package),
            escape(row.version or "-"),
            f"[{style}]{row.status.replace('_', ' ')}[/]" + (" [red]✗[/]" if row.fails else ""),
            ", ".join(row.advisories) or "-",
            _severity(row) or "-",
            row.fixed_in or "-",
            bandit or "-",
            escape(note),
        )
    return table


def _severity(row: AuditRow) -> str:
    """``High 7.5``, plus how many advisories have no score."""
    severity = (
        f"{row.max_cvss_rating or ''} {row.max_cvss_score or ''}".strip()
        if row.max_cvss_rating
        else ""
    )
    if row.unscored_advisories:
        unscored = f"{len(row.unscored_advisories)} unscored"
        severity = f"{severity}, {unscored}" if severity else unscored
    return severity

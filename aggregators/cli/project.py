"""``seckb project``: watched projects — add, list, show, remove, triage, vex.

A project is a stored CycloneDX SBOM or requirements file. Every run that publishes (and every
run after a project changed) re-evaluates all projects and notifies the configured receivers of
what changed (see :mod:`aggregators.clients.projects.watch`); ``show`` judges one now.
"""

from __future__ import annotations

import argparse
import getpass
import json
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from aggregators.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    add_from,
    open_snapshot,
    print_json,
    settings_from,
    warn_stale,
)
from aggregators.clients.audit import THRESHOLDS
from aggregators.core.errors import SeckbError

if TYPE_CHECKING:
    from aggregators.clients.fix.plan import Plan
    from aggregators.clients.projects.evaluate import ProjectResult
    from aggregators.core.config import Settings
    from aggregators.store.projects import ProjectStore
    from aggregators.store.snapshots import Snapshot

STATES = ("in_triage", "exploitable", "false_positive", "not_affected", "resolved")
STYLES = {"vulnerable": "bold red", "ok": "green"}


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    """Add ``seckb project`` and its subcommands."""
    p = sub.add_parser("project", help="watched projects: stored SBOMs re-evaluated every run")
    commands = p.add_subparsers(dest="project_command", required=True)
    add = commands.add_parser("add", parents=[common], help="store (or replace) a project")
    add.add_argument("name", help="project name (letters, digits, '.', '_', '-')")
    what = add.add_mutually_exclusive_group(required=True)
    what.add_argument("--sbom", type=Path, help="a CycloneDX JSON SBOM")
    what.add_argument("-r", "--requirements", type=Path, help="a pinned requirements file")
    add.add_argument("--version", dest="project_version", help="the project's own version")
    add.add_argument("--vex", type=Path, help="import the decisions of a CycloneDX VEX file")
    listing = commands.add_parser("list", parents=[common], help="list the projects")
    listing.add_argument("--json", action="store_true", help="print seckb.projects/1")
    show = commands.add_parser("show", parents=[common], help="judge a project now")
    show.add_argument("name")
    show.add_argument("--json", action="store_true", help="print seckb.project/1")
    show.add_argument("--fail-on", choices=THRESHOLDS, help="exit 1 as seckb audit does")
    show.add_argument("--allow-unknown", action="store_true", help="as seckb audit")
    show.add_argument("--allow-suspicious", action="store_true", help="as seckb audit")
    show.add_argument("--snapshot", help="snapshot id (default: LATEST)")
    show.add_argument(
        "--fix", action="store_true", help="also plan the fix of its components (as seckb fix)"
    )
    show.add_argument(
        "--strategy", choices=("in-place", "relax"), default="in-place", help="with --fix"
    )
    add_from(show)
    remove = commands.add_parser("remove", parents=[common], help="delete a project")
    remove.add_argument("name")
    triage = commands.add_parser("triage", parents=[common], help="record an analysis decision")
    triage.add_argument("name")
    triage.add_argument("advisory", help="advisory id or alias (CVE, GHSA)")
    triage.add_argument("--package", help="only this component (default: every one affected)")
    triage.add_argument("--state", required=True, choices=STATES)
    triage.add_argument("--justification", help="CycloneDX justification (code_not_reachable...)")
    triage.add_argument("--reason", help="why, in words")
    triage.add_argument("--until", help="the decision expires on this date (YYYY-MM-DD)")
    vex = commands.add_parser("vex", parents=[common], help="print the decisions as CycloneDX VEX")
    vex.add_argument("name")
    for command in (add, listing, show, remove, triage, vex):
        command.set_defaults(func=run)


def run(args: argparse.Namespace, out: Console, err: Console) -> int:
    """Run the chosen subcommand."""
    from aggregators.core.workspace import Workspace
    from aggregators.store.projects import ProjectStore

    settings = settings_from(args)
    store = ProjectStore(Workspace(settings.home))
    handlers = {
        "add": _add,
        "list": _list,
        "show": _show,
        "remove": _remove,
        "triage": _triage,
        "vex": _vex,
    }
    code: int = handlers[args.project_command](args, store, settings, out, err)
    return code


def _who() -> str:
    try:
        return getpass.getuser()
    except (KeyError, OSError):
        return "unknown"


def _add(
    args: argparse.Namespace, store: ProjectStore, settings: Settings, out: Console, err: Console
) -> int:
    from aggregators.clients.projects.inputs import CYCLONEDX, REQUIREMENTS, read_components
    from aggregators.clients.projects.service import add_project
    from aggregators.core.clock import utcnow

    path, kind = (args.sbom, CYCLONEDX) if args.sbom else (args.requirements, REQUIREMENTS)
    read = read_components(path, kind)
    vex = None
    if args.vex is not None:
        try:
            vex = (json.loads(args.vex.read_bytes()), args.vex.name, _who())
        except (OSError, ValueError) as exc:
            raise SeckbError(f"cannot read the VEX file {args.vex}: {exc}") from exc
    added = add_project(store, args.name, read, args.project_version, utcnow(), vex)
    for note in added.notes:
        err.print(f"note: {note}", highlight=False, markup=False, soft_wrap=True)
    project = added.project
    out.print(
        f"project {project.name}: {added.change} (revision {project.revision}, "
        f"{len(project.components)} component(s))",
        highlight=False,
    )
    if args.vex is not None:
        out.print(f"imported {len(added.imported)} decision(s) from {args.vex}", highlight=False)
    out.print("it is evaluated and notified on by the next run (seckb ingest, or the DAG)")
    return EXIT_OK


def _list(
    args: argparse.Namespace, store: ProjectStore, settings: Settings, out: Console, err: Console
) -> int:
    from aggregators.clients.projects.service import list_projects

    document = list_projects(store)
    if args.json:
        print_json(document)
        return EXIT_OK
    table = Table("project", "version", "rev", "components", "findings", "updated", box=None)
    for item in document["projects"]:
        evaluation = item["evaluation"]
        findings = (
            f"{evaluation['findings']} (+{evaluation['suppressed']} triaged)"
            if evaluation
            else "not evaluated yet"
        )
        table.add_row(
            escape(item["name"]),
            escape(item["version"] or "-"),
            str(item["revision"]),
            str(item["components"]),
            findings,
            item["updated_at"][:19],
        )
    out.print(table)
    pending = document["outbox"]["pending"]
    out.print(f"{len(document['projects'])} project(s); outbox: {pending} document(s) pending")
    return EXIT_OK


def _show(
    args: argparse.Namespace, store: ProjectStore, settings: Settings, out: Console, err: Console
) -> int:
    from aggregators.clients.projects.documents import project_document
    from aggregators.clients.projects.service import show_project
    from aggregators.core.clock import utcnow

    snapshot = open_snapshot(settings, args.snapshot)
    warnings = warn_stale(snapshot, settings, err)
    from aggregators.clients.audit import AuditOptions

    options = AuditOptions(args.fail_on, args.allow_unknown, args.allow_suspicious)
    result, failing = show_project(store, args.name, snapshot, options, utcnow())
    code = EXIT_FAILED if failing else EXIT_OK
    plan = _plan(result, snapshot, settings, args) if args.fix else None
    if args.json:
        document = project_document(result, snapshot, options, code, warnings)
        if plan is not None:
            from aggregators.clients.documents import snapshot_info
            from aggregators.clients.fix.plan import fix_document

            document["fix"] = fix_document(plan, snapshot_info(snapshot), int(plan.needed), False)
        print_json(document, default=str)
        return code
    out.print(_table(result))
    if plan is not None:
        from aggregators.cli.fix import render

        render(plan, out, [], asked=True)
    project = result.project
    out.print(
        f"project {project.name} {project.version or ''} (revision {project.revision}): "
        f"{len(result.rows)} component(s), snapshot {snapshot.id}",
        highlight=False,
    )
    if args.fail_on:
        (err if failing else out).print(f"{failing} failing --fail-on {args.fail_on}")
    return code


def _plan(
    result: ProjectResult, snapshot: Snapshot, settings: Settings, args: argparse.Namespace
) -> Plan:
    """The fix plan of a project's components (as ``seckb fix`` makes it; nothing written)."""
    from aggregators.clients.fix.inputs import components_input
    from aggregators.clients.fix.service import make_plan
    from aggregators.clients.fix.uv import Uv, default_python
    from aggregators.clients.server.index import PackageIndex
    from aggregators.clients.server.view import build_view
    from aggregators.core.clock import utcnow
    from aggregators.core.workspace import Workspace

    project = result.project
    source = components_input(project.name, project.components)
    index = PackageIndex.from_settings(settings)
    uv = Uv(default_python(), 120.0)
    view = build_view(snapshot, utcnow())
    plan = make_plan(source, view, index, args.strategy, uv, Workspace(settings.home))
    plan.uv = uv.version()
    return plan


def _table(result: ProjectResult) -> Table:
    """One line per component: its advisories (with the decision on each), Bandit, Scorecard."""
    decided: dict[tuple[str, str], list[str]] = {}
    for finding in result.findings:
        state = finding["analysis_state"]
        text = finding["advisory_id"] + (f" ({state})" if state else "")
        decided.setdefault((finding["package"], finding["version"]), []).append(text)
    table = Table("package", "version", "status", "advisories", "fixed in", "bandit", "scorecard")
    table.box = None
    for row in result.rows:
        style = STYLES.get(row.status, "yellow")
        bandit = (row.bandit_status or "-") + (
            f" ({row.bandit_high_findings} high)" if row.bandit_high_findings else ""
        )
        table.add_row(
            escape(row.package),
            escape(row.version or "-"),
            f"[{style}]{row.status.replace('_', ' ')}[/]" + (" [red]✗[/]" if row.fails else ""),
            escape(", ".join(decided.get((row.package, row.version or ""), [])) or "-"),
            row.fixed_in or "-",
            bandit,
            "-" if row.scorecard_score is None else f"{row.scorecard_score:.1f}",
        )
    return table


def _remove(
    args: argparse.Namespace, store: ProjectStore, settings: Settings, out: Console, err: Console
) -> int:
    from aggregators.clients.projects.service import remove_project

    if not remove_project(store, args.name):
        raise SeckbError(f"no project named {args.name!r}")
    out.print(f"project {args.name} removed (with its history and decisions)", highlight=False)
    return EXIT_OK


def _triage(
    args: argparse.Namespace, store: ProjectStore, settings: Settings, out: Console, err: Console
) -> int:
    from aggregators.clients.projects.service import record_decision
    from aggregators.clients.projects.triage import parse_until
    from aggregators.core.clock import utcnow

    snapshot = open_snapshot(settings, None)
    fields: dict[str, Any] = {
        "package": args.package,
        "state": args.state,
        "justification": args.justification,
        "reason": args.reason,
        "until": parse_until(args.until),
    }
    decision = record_decision(store, args.name, snapshot, args.advisory, fields, _who(), utcnow())
    scope = decision.package or "every affected component"
    until = f" until {decision.until}" if decision.until else ""
    out.print(
        f"{args.name}: {decision.advisory_id} ({scope}) is {decision.state}{until}, "
        f"decided by {decision.by}",
        highlight=False,
    )
    return EXIT_OK


def _vex(
    args: argparse.Namespace, store: ProjectStore, settings: Settings, out: Console, err: Console
) -> int:
    from aggregators.clients.projects.service import vex_document
    from aggregators.core.clock import utcnow
    from aggregators.store.locations import open_store

    snapshot = open_store(settings).latest()
    print_json(vex_document(store, args.name, snapshot, utcnow()))
    return EXIT_OK

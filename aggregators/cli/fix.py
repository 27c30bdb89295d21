"""``seckb fix``: the smallest safe change to a requirements file or a uv.lock, resolved by uv
through seckb's index; ``--write`` applies it (atomically).

Exit codes as ``audit``'s: 0 nothing to fix, 1 a plan exists (or was written), 2 error (the
file untouched).
"""

from __future__ import annotations

import argparse
import logging
from pathlib import Path
from typing import TYPE_CHECKING

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

if TYPE_CHECKING:
    from aggregators.clients.fix.plan import Plan


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    """Add ``seckb fix`` and its options."""
    p = sub.add_parser(
        "fix",
        parents=[common],
        help="propose (and --write) the smallest change that leaves no blocked release, "
        "resolved by uv",
    )
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("-r", "--requirements", type=Path, help="a pinned requirements file")
    what.add_argument("--lock", type=Path, help="a uv.lock (rewritten through uv itself)")
    p.add_argument(
        "--strategy",
        choices=("in-place", "relax"),
        default="in-place",
        help="in-place: change only the blocked pins and what they force (default); relax: "
        "re-resolve the direct requirements, moving as few pins as possible",
    )
    p.add_argument(
        "--in",
        dest="direct",
        type=Path,
        help="relax: the requirements.in or pyproject.toml the pins came from (default: the "
        "one the file's header names)",
    )
    p.add_argument("--write", action="store_true", help="rewrite the file with the plan")
    p.add_argument("--json", action="store_true", help="print the seckb.fix/1 JSON document")
    p.add_argument(
        "--python-version", help="the Python the file is for (default: this interpreter's)"
    )
    p.add_argument("--python-platform", help="the platform, as uv names it (default: this one)")
    p.add_argument(
        "--timeout", type=float, default=120.0, help="seconds one uv run may take (default: 120)"
    )
    p.add_argument(
        "--allow-build",
        action="store_true",
        help="let uv build source distributions to read their metadata (runs their setup code; "
        "default: never)",
    )
    add_snapshot_options(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace, out: Console, err: Console) -> int:
    """Plan (and write); 1 when there was something to fix, else 0 (errors raise)."""
    from aggregators.clients.documents import snapshot_info
    from aggregators.clients.fix.inputs import read_lock_input, read_requirements_input
    from aggregators.clients.fix.plan import fix_document
    from aggregators.clients.fix.service import IndexKnowledge, make_plan
    from aggregators.clients.fix.uv import Uv, default_python
    from aggregators.clients.fix.write import apply
    from aggregators.clients.server.index import PackageIndex
    from aggregators.clients.server.view import build_view
    from aggregators.core.clock import utcnow
    from aggregators.core.workspace import Workspace

    if args.timeout <= 0:
        from aggregators.core.errors import SeckbError

        raise SeckbError("--timeout must be positive")
    if not args.verbose:  # an upstream failure is this command's one-line error, not a log line
        logging.getLogger("aggregators.clients.upstream").setLevel(logging.ERROR)
    settings = settings_from(args)
    source = (
        read_lock_input(args.lock)
        if args.lock is not None
        else read_requirements_input(args.requirements, args.direct)
    )
    index = PackageIndex.from_settings(settings)  # a broken policy file stops here
    snapshot, warnings = read_snapshot(args, err)
    view = build_view(snapshot, utcnow())
    uv = Uv(args.python_version or default_python(), args.timeout, args.python_platform)
    uv.build = args.allow_build
    plan = make_plan(source, view, index, args.strategy, uv, Workspace(settings.home))
    plan.uv = uv.version()
    written = []
    if args.write:
        written = apply(plan, IndexKnowledge(index, view), uv.binary, args.timeout)
    code = EXIT_FAILED if plan.needed else EXIT_OK
    if args.json:
        document = fix_document(plan, snapshot_info(snapshot), code, bool(written))
        document["warnings"] = warnings
        print_json(document)
        return code
    render(plan, out, written, args.write)
    return code


def _version(value: str | None) -> str:
    return value if value is not None else "-"


def render(plan: Plan, out: Console, written: list[str], asked: bool) -> None:
    """The plan, for people."""
    before, after = plan.before, plan.after
    out.print(
        f"{plan.source.path}: {before.pins} pins, {before.blocked} blocked "
        f"({before.advisories} advisories) -> after the plan: {after.blocked} blocked "
        f"({after.advisories} advisories); strategy {plan.strategy}, {plan.resolutions} uv "
        f"resolution(s)",
        highlight=False,
        soft_wrap=True,
    )
    if not plan.needed:
        out.print("nothing to fix: no pin is blocked by the policy", highlight=False)
    if plan.changes:
        table = Table("package", "from", "to", "change", "removes", "bandit", "score", "why")
        for c in plan.changes:
            removes = ", ".join(f"{a.id} ({a.severity})" for a in c.removes) or "-"
            table.add_row(
                c.package,
                _version(c.old),
                _version(c.new),
                c.kind,
                escape(removes),
                c.bandit_status or "not analysed",
                "-" if c.scorecard_score is None else f"{c.scorecard_score:g}",
                escape(c.because),
            )
        out.print(table)
    for u in plan.unfixable:
        ids = ", ".join(a.id for a in u.advisories)
        out.print(
            f"[red]cannot be fixed:[/] {u.package} {u.version} ({u.where}; {escape(ids)}): "
            f"{u.reason}: {escape(u.message)}",
            highlight=False,
            soft_wrap=True,
        )
    for a in plan.accepted:
        out.print(
            f"accepted risk: {a['package']} {a['version']} {a['advisory']}: {escape(a['reason'])}"
            f" (until {a['expires']})",
            highlight=False,
            soft_wrap=True,
        )
    for k in plan.source.kept:
        out.print(f"kept as it is: {k.where} ({k.status}: {escape(k.note)})", highlight=False)
    if written:
        out.print(f"written: {', '.join(written)}", highlight=False)
    elif plan.changes and not asked:
        out.print("run again with --write to apply the plan", highlight=False)

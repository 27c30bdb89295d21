"""``seckb report --html FILE``: one self-contained HTML page with charts of a snapshot."""

from __future__ import annotations

import argparse
from pathlib import Path

from rich.console import Console

from aggregators.cli.common import EXIT_OK, add_from, open_snapshot, settings_from
from aggregators.core.errors import SeckbError


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    """Add ``seckb report`` and its options."""
    p = sub.add_parser(
        "report", parents=[common], help="write an HTML report with charts of the latest snapshot"
    )
    p.add_argument("--html", type=Path, required=True, metavar="FILE", help="where to write it")
    p.add_argument("--snapshot", help="snapshot id (default: the latest)")
    add_from(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace, out: Console, err: Console) -> int:
    """Render the report and write it to ``--html``."""
    from aggregators.clients.report import render
    from aggregators.core.clock import utcnow

    snapshot = open_snapshot(settings_from(args), args.snapshot)
    page = render(snapshot, utcnow())
    try:
        args.html.write_text(page, encoding="utf-8")
    except OSError as exc:
        raise SeckbError(f"cannot write {args.html}: {(exc.strerror or str(exc)).lower()}") from exc
    out.print(
        f"wrote {args.html} ({len(page.encode()) / 1e3:.0f} kB) for snapshot {snapshot.id}",
        highlight=False,
    )
    return EXIT_OK

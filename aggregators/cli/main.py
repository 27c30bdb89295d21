"""The ``seckb`` command line: one module per command (see :data:`COMMANDS`).

Exit codes: 0 success; 1 the run published but some source failed (its previous tables carried
forward); 2 nothing was published because of an error (bad configuration or arguments, lock held,
a failed source and nothing else new, or an unexpected error). ``audit`` exits 1 when a pin
breaks ``--fail-on``, ``recommend`` when no version qualifies; both exit 2 on errors.

Each command is a module of this package with ``add_parser(sub, common)`` and
``run(args, out, err) -> int``; this module builds the parser and runs the chosen command.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.markup import escape

from aggregators import __version__
from aggregators.cli import (
    audit,
    diff,
    errors,
    fix,
    ingest,
    project,
    query,
    recommend,
    report,
    serve,
    snapshots,
    sql,
)
from aggregators.cli.common import EXIT_ERROR, one_line
from aggregators.cli.progress import setup_logging
from aggregators.core.errors import SeckbError

log = logging.getLogger("seckb")
COMMANDS = (
    ingest, query, sql, snapshots, errors, report, audit, fix, recommend, diff, serve, project,
)  # fmt: skip
"""The command modules, in the order ``seckb --help`` lists them."""


def command_names() -> list[str]:
    """The names of the commands (``ingest``, ``query``...), in :data:`COMMANDS` order."""
    return [module.__name__.rsplit(".", 1)[-1] for module in COMMANDS]


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``seckb`` (exposed for the tests and the manual)."""
    parser = argparse.ArgumentParser(
        prog="seckb",
        description="seckb: a security knowledge base for Python packages. "
        "Commands: " + ", ".join(command_names()) + ".",
        epilog="Exit codes: 0 success; 1 a partial run, or a check that failed (audit, fix, "
        "recommend); 2 an error. The manual: docs/ (mkdocs serve), docs/cli.md.",
    )
    parser.add_argument("--version", action="version", version=f"seckb {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", type=Path, help="TOML config file (default: $SECKB_CONFIG)")
    common.add_argument(
        "--home", help="data root (default: $SECKB_HOME, else $XDG_DATA_HOME/seckb)"
    )
    common.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True)
    for command in COMMANDS:
        command.add_parser(sub, common)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``seckb`` console script."""
    args = build_parser().parse_args(argv)
    out, err = Console(), Console(stderr=True)
    if not out.is_terminal:  # piped or captured: never truncate ids to 80 columns
        out = Console(width=240)
    if not err.is_terminal:  # cron mail, CI logs: one line per message, never wrapped
        err = Console(stderr=True, soft_wrap=True)
    setup_logging(err, args.verbose)  # on a terminal, log lines print above the progress bar
    try:
        code: int = args.func(args, out, err)
    except SeckbError as exc:
        err.print(
            f"[red]error:[/] {escape(one_line(str(exc)))}",
            highlight=False,
            markup=True,
            soft_wrap=True,
        )
        return EXIT_ERROR
    except KeyboardInterrupt:
        err.print("[red]interrupted[/]")
        return 130
    except Exception as exc:  # one line for people, the traceback with -v
        log.debug("unexpected error", exc_info=True)
        hint = "" if args.verbose else " (run with -v for the traceback)"
        err.print(
            f"[red]error:[/] unexpected {type(exc).__name__}: {escape(one_line(str(exc)))}{hint}",
            markup=True,
            highlight=False,
            soft_wrap=True,
        )
        if args.verbose:
            log.error("traceback", exc_info=True)
        return EXIT_ERROR
    return code


if __name__ == "__main__":
    raise SystemExit(main())

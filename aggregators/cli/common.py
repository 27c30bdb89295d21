"""What the ``seckb`` commands share: exit codes, settings from the options, opening the
snapshot, the freshness warnings and JSON output."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from rich.console import Console

from aggregators.core.config import Settings, load_settings

if TYPE_CHECKING:
    from aggregators.store.snapshots import Snapshot

EXIT_OK, EXIT_PARTIAL, EXIT_ERROR = 0, 1, 2
EXIT_FAILED = 1  # audit: a pin breaks --fail-on; recommend: no version qualifies


def human_bytes(count: float) -> str:
    """``460.7 kB``, ``12.3 MB``, ``1.2 GB``: a size for people (decimal units)."""
    for unit, size in (("GB", 1e9), ("MB", 1e6), ("kB", 1e3)):
        if abs(count) >= size:
            return f"{count / size:.1f} {unit}"
    return f"{int(count)} bytes"


def one_line(text: str) -> str:
    """A message on one line: inner line breaks and runs of spaces become single spaces."""
    return " ".join(text.split())


def settings_from(args: argparse.Namespace) -> Settings:
    """The settings: defaults, ``--config`` (or ``SECKB_CONFIG``), ``SECKB_*``, ``--home``,
    and ``--from`` (the ``snapshot_url`` readers read) on the commands that have it."""
    return load_settings(
        config_file=args.config, home=args.home, snapshot_url=getattr(args, "from_url", None)
    )


def add_from(parser: argparse.ArgumentParser) -> None:
    """Add ``--from URL``: read the snapshots published there instead of the data root's."""
    parser.add_argument(
        "--from",
        dest="from_url",
        metavar="URL",
        help="where the snapshots are published: s3://bucket/prefix, gs://bucket/prefix, a data "
        "root or a snapshot directory (default: $SECKB_SNAPSHOT_URL, else the store)",
    )


def add_snapshot_options(parser: argparse.ArgumentParser) -> None:
    """Add ``--snapshot ID`` and ``--from URL``: which published snapshot a reader reads."""
    parser.add_argument("--snapshot", help="snapshot id (default: LATEST)")
    add_from(parser)


def read_snapshot(args: argparse.Namespace, err: Console) -> tuple[Snapshot, list[str]]:
    """The snapshot ``--snapshot``/``--from`` name (else the latest) and its freshness
    warnings, printed on stderr: what every reading command starts with."""
    settings = settings_from(args)
    snapshot = open_snapshot(settings, args.snapshot)
    return snapshot, warn_stale(snapshot, settings, err)


def open_snapshot(settings: Settings, snapshot_id: str | None) -> Snapshot:
    """The snapshot ``snapshot_id``, or the latest, where readers read (``--from``,
    ``snapshot_url``, the store); raise :class:`SeckbError` when there is none."""
    from aggregators.store.locations import open_published

    return open_published(settings, None, snapshot_id)


def warn_stale(snapshot: Snapshot, settings: Settings, err: Console) -> list[str]:
    """Print the snapshot's freshness warnings on stderr as ``warning: ...``; return them."""
    from aggregators.clients.freshness import staleness_warnings
    from aggregators.core.clock import utcnow

    max_age = timedelta(hours=settings.max_age_hours)
    warnings = staleness_warnings(snapshot, max_age, utcnow())
    for line in warnings:
        err.print(f"[yellow]warning:[/] {line}", highlight=False, soft_wrap=True)
    return warnings


def print_json(document: Any, default: Callable[[Any], Any] | None = None) -> None:
    """Write ``document`` to stdout as indented JSON (never through rich: no wrapping)."""
    sys.stdout.write(json.dumps(document, indent=2, default=default) + "\n")

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
from aggregators.core.errors import SeckbError

if TYPE_CHECKING:
    from aggregators.store.snapshots import Snapshot

EXIT_OK, EXIT_PARTIAL, EXIT_ERROR = 0, 1, 2
EXIT_FAILED = 1  # audit: a pin breaks --fail-on; recommend: no version qualifies


def settings_from(args: argparse.Namespace) -> Settings:
    """The settings: defaults, ``--config`` (or ``SECKB_CONFIG``), ``SECKB_*``, ``--home``."""
    return load_settings(config_file=args.config, home=args.home)


def open_snapshot(settings: Settings, snapshot_id: str | None) -> Snapshot:
    """The snapshot ``snapshot_id``, or the latest; raise :class:`SeckbError` when there is none."""
    from aggregators.core.workspace import Workspace
    from aggregators.store.snapshots import SnapshotStore

    store = SnapshotStore(Workspace(settings.home))
    snapshot = store.get(snapshot_id) if snapshot_id else store.latest()
    if snapshot is None:
        raise SeckbError(f"no snapshot in {settings.home}; run 'seckb ingest' first")
    return snapshot


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

"""What the ``seckb`` commands share: exit codes, settings from the options, the snapshot."""

from __future__ import annotations

import argparse
from typing import Any

from aggregators.core.config import Settings, load_settings
from aggregators.core.errors import SeckbError

EXIT_OK, EXIT_PARTIAL, EXIT_ERROR = 0, 1, 2
EXIT_FAILED = 1  # audit: a pin breaks --fail-on; recommend: no version qualifies


def _settings(args: argparse.Namespace) -> Settings:
    return load_settings(config_file=args.config, home=args.home)


def _latest(settings: Settings, snapshot_id: str | None) -> Any:
    from aggregators.core.workspace import Workspace
    from aggregators.store.snapshots import SnapshotStore

    store = SnapshotStore(Workspace(settings.home))
    snapshot = store.get(snapshot_id) if snapshot_id else store.latest()
    if snapshot is None:
        raise SeckbError(f"no snapshot in {settings.home}; run 'seckb ingest' first")
    return snapshot

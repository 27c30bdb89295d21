"""``seckb serve``: the knowledge base over HTTP — OSV API v1 for pip-audit and uv, seckb's own
JSON API, package pages, and a package index that keeps blocked releases out of pip and uv
resolutions — from the latest snapshot, following new ones without a restart."""

from __future__ import annotations

import argparse
from datetime import timedelta

from rich.console import Console

from aggregators.cli.common import EXIT_OK, add_from, settings_from
from aggregators.core.errors import SeckbError

LOOPBACK = ("127.0.0.1", "::1", "localhost")


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    """Add ``seckb serve`` and its options."""
    p = sub.add_parser(
        "serve",
        parents=[common],
        help="serve the knowledge base over HTTP (OSV API for pip-audit and uv, a package index "
        "for pip and uv, JSON, HTML)",
    )
    p.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: 127.0.0.1, loopback only; 0.0.0.0 for all)",
    )
    p.add_argument("--port", type=int, default=8080, help="port (default: 8080)")
    p.add_argument(
        "--snapshot", help="serve this snapshot id, fixed (default: follow LATEST as it moves)"
    )
    add_from(p)
    p.set_defaults(func=run)


def run(args: argparse.Namespace, out: Console, err: Console) -> int:
    """Serve until stopped. A signal shuts the server down gracefully, then ends the process as
    the signal says (130 for Ctrl-C, 143 for SIGTERM); errors raise."""
    from aggregators.clients.server.app import create_app, serve
    from aggregators.clients.server.holder import SnapshotHolder
    from aggregators.clients.server.index import PackageIndex
    from aggregators.core.workspace import Workspace
    from aggregators.store.locations import open_store
    from aggregators.store.locations import where as published_in

    if not 0 < args.port < 65536:
        raise SeckbError(f"--port must be between 1 and 65535, not {args.port}")
    settings = settings_from(args)
    index = PackageIndex.from_settings(settings)  # a broken policy file stops the start
    store = open_store(settings)  # --from, snapshot_url, the store or the data root
    holder = SnapshotHolder(Workspace(settings.home), snapshot_id=args.snapshot, store=store)
    holder.open()
    view = holder.view
    if view is None:
        reason = holder.status.last_error or f"none published in {published_in(store)}"
        err.print(
            f"[yellow]warning:[/] no snapshot served yet ({reason}); "
            "answering 503 until one is published",
            highlight=False,
            soft_wrap=True,
        )
    if args.host not in LOOPBACK:
        err.print(
            f"[yellow]note:[/] listening on {args.host}, not on loopback only", highlight=False
        )
    where = f"http://{'[' + args.host + ']' if ':' in args.host else args.host}:{args.port}"
    following = "following LATEST" if args.snapshot is None else "fixed"
    out.print(
        f"seckb serve: {where} (snapshot {view.id if view else 'none yet'}, {following}); "
        f"OSV API: {where}/v1/query, index: {where}/simple/ ({settings.index_mode}) and "
        f"{where}/strict/simple/ (hide) over {', '.join(settings.index_upstreams)}, "
        f"docs: {where}/docs",
        highlight=False,
        soft_wrap=True,
    )
    from aggregators.clients.checks import checks_from

    app = create_app(
        holder,
        max_age=timedelta(hours=settings.max_age_hours),
        api_token=settings.api_token,
        index=index,
        checks=checks_from(settings),
    )
    serve(app, args.host, args.port)
    return EXIT_OK

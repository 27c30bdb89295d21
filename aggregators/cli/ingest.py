"""``seckb ingest``: sync the sources, build the tables, publish a snapshot if anything changed."""

from __future__ import annotations

import argparse
from typing import Any

from rich.console import Console

from aggregators.cli.common import EXIT_ERROR, EXIT_OK, EXIT_PARTIAL, settings_from
from aggregators.cli.progress import RichProgress

HIDDEN = frozenset({"seconds_ms", "advisories", "files_parsed"})
"""Statistics of a source result left out of the summary line."""


def add_parser(
    sub: argparse._SubParsersAction[argparse.ArgumentParser], common: argparse.ArgumentParser
) -> None:
    """Add ``seckb ingest`` and its options."""
    p = sub.add_parser("ingest", parents=[common], help="fetch sources and publish a snapshot")
    p.add_argument(
        "--sources",
        help="comma-separated: advisories,pypi,bandit,scorecards (default: all implemented)",
    )
    p.add_argument("--packages", help="comma-separated package names to narrow per-package sources")
    p.set_defaults(func=run)


def run(args: argparse.Namespace, out: Console, err: Console) -> int:
    """Run the pipeline in this process; print what it did; 0, 1 (partial) or 2."""
    from aggregators.run.ingest import ingest

    settings = settings_from(args)
    if err.is_terminal:
        with RichProgress(err) as progress:
            report = ingest(settings, args.sources, args.packages, progress=progress)
    else:
        report = ingest(settings, args.sources, args.packages)
    snap = report.snapshot
    if report.published and snap is not None:
        out.print(f"[bold green]published[/] snapshot {snap.id} in {settings.snapshots_dir}")
    elif snap is not None:
        out.print(f"nothing changed; snapshot {snap.id} is current")
    else:
        out.print(
            "nothing published: a snapshot needs the advisories tables, and that source "
            "has not succeeded yet in this data root"
        )
    for name, result in report.results.items():
        out.print(_result_line(name, result), highlight=False)
    for name, error in report.failures.items():
        out.print(f"{name}: [red]failed[/]: {error}", highlight=False)
    if snap is not None:
        rows = ", ".join(f"{n} {i['rows']:,}" for n, i in sorted(snap.manifest["tables"].items()))
        out.print(f"rows: {rows}")
    if report.pruned:
        out.print(f"pruned {len(report.pruned)} old snapshot(s)")
    out.print(f"time: {report.seconds:.2f} s")
    return _verdict(report, err)


def _result_line(name: str, result: Any) -> str:
    """``advisories: updated (main@46bc8dad4f88, incremental): 2 new, ...``"""
    st, lin = result.stats, result.lineage
    counts = ", ".join(
        f"{value} {key.replace('_', ' ')}" for key, value in st.items() if key not in HIDDEN
    )
    where = (
        f"{lin.get('branch', '')}@{str(lin['commit'])[:12]}"
        if lin.get("commit")
        else str(lin.get("url") or f"bandit {lin.get('bandit_version', '')}".strip())
    )
    mode = f", {lin['mode']}" if result.status == "updated" and lin.get("mode") else ""
    return f"{name}: {result.status} ({where}{mode})" + (f": {counts}" if counts else "")


def _verdict(report: Any, err: Console) -> int:
    """Print the warnings and failures of the run on stderr; return the exit code."""
    if report.warnings:
        err.print(
            f"[yellow]warning:[/] {report.warnings} problem(s) recorded in ingest_errors "
            f"(see: SELECT * FROM ingest_errors)"
        )
    if report.failures and report.published:
        err.print(
            f"[red]error:[/] {len(report.failures)} source(s) failed; their previous "
            "tables were carried forward"
        )
        return EXIT_PARTIAL
    if report.failures:
        why = "nothing else changed" if report.snapshot is not None else "no snapshot yet"
        err.print(
            f"[red]error:[/] {len(report.failures)} source(s) failed and {why}: "
            "nothing was published"
        )
        return EXIT_ERROR
    return EXIT_OK

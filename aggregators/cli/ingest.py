"""``seckb ingest``: sync the sources, build the tables, publish a snapshot if anything changed.

The summary is for a person reading it at a glance: one line per source saying what changed,
the tables the run changed (not every table), the upstream data problems counted once by kind,
sizes in human units. Internal counters (requests, processes, cache parts) only with ``-v``.
"""

from __future__ import annotations

import argparse
import errno
from collections.abc import Callable, Mapping
from typing import Any

from rich.console import Console

from aggregators.cli.common import EXIT_ERROR, EXIT_OK, EXIT_PARTIAL, human_bytes, settings_from
from aggregators.cli.progress import progress_for
from aggregators.core.config import Settings
from aggregators.core.errors import SeckbError

UNWRITABLE = frozenset({errno.EACCES, errno.EPERM, errno.EROFS})


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


def _ingest(settings: Settings, args: argparse.Namespace, err: Console) -> Any:
    """Run the pipeline with a progress display; a data root seckb cannot write to is one
    line in the user's words."""
    from aggregators.run.ingest import ingest

    try:
        with progress_for(err, settings.heartbeat_seconds) as progress:
            return ingest(settings, args.sources, args.packages, progress=progress)
    except OSError as exc:
        if exc.errno not in UNWRITABLE:
            raise
        what = (exc.strerror or "permission denied").lower()
        where = (
            f" ({exc.filename})" if exc.filename and str(exc.filename) != str(settings.home) else ""
        )
        raise SeckbError(f"cannot write to the data root {settings.home}: {what}{where}") from exc


def run(args: argparse.Namespace, out: Console, err: Console) -> int:
    """Run the pipeline in this process; print what it did; 0, 1 (partial) or 2."""
    settings = settings_from(args)
    report = _ingest(settings, args, err)
    snap = report.snapshot
    store = settings.store_url.rstrip("/")  # the object store (or path) runs publish to, if set
    where = f"{store}/snapshots" if store else settings.snapshots_dir
    if report.published and snap is not None:
        out.print(f"[bold green]published[/] snapshot {snap.id} in {where}")
    elif snap is not None:
        out.print(f"nothing changed; snapshot {snap.id} in {where} is current")
    else:
        out.print(
            "nothing published: a snapshot needs the advisories tables, and that source "
            f"has not succeeded yet in the data root {settings.home}"
        )
    for name, result in report.results.items():
        out.print(f"{name}: {source_line(name, result)}", highlight=False, soft_wrap=True)
        if args.verbose and (extra := internals(name, result)):
            out.print(f"  internals: {extra}", highlight=False)
    for name, error in report.failures.items():
        out.print(f"{name}: [red]failed[/]: {error}", highlight=False, soft_wrap=True)
    _print_summary(report, out)
    if report.pruned:
        out.print(f"pruned {len(report.pruned)} old snapshot(s)")
    out.print(f"time: {report.seconds:.1f} s")
    return _projects(settings, out, err, _verdict(report, err))


def _print_summary(report: Any, out: Console) -> None:
    """The tables the run changed and the data problems by kind (only after a publish)."""
    from aggregators.run.summary import problem_lines, table_text

    summary = report.summary
    if summary is None:
        return
    if summary.tables:
        changed = ", ".join(table_text(t) for t in summary.tables)
        out.print(f"tables changed: {changed}", highlight=False, soft_wrap=True)
    for line in problem_lines(summary):
        out.print(line, highlight=False, markup=False, soft_wrap=True)


def _count(stats: Mapping[str, int], *pairs: tuple[str, str]) -> str:
    """``12 scanned, 2 failed`` from the non-zero stats named in ``pairs``."""
    return ", ".join(f"{stats[key]:,} {label}" for key, label in pairs if stats.get(key))


def _advisories(result: Any) -> str:
    st, lin = result.stats, result.lineage
    where = f"{lin.get('branch') or 'HEAD'}@{str(lin.get('commit', ''))[:12]}"
    if result.status != "updated":
        return f"unchanged at {where}"
    mode = f", {lin['mode']}" if lin.get("mode") else ""
    changed = _count(
        st,
        ("new", "new"),
        ("changed", "changed"),
        ("withdrawn", "withdrawn"),
        ("deleted", "deleted"),
    )
    return (
        f"updated to {where}{mode}: "
        + (changed or "no advisory changed")
        + (f"; {st['advisories']:,} advisories" if st.get("advisories") else "")
    )


def _pypi(result: Any) -> str:
    st = result.stats
    asked = sum(st.get(k, 0) for k in ("ok", "unchanged", "not_found", "error"))
    parts = _count(
        st,
        ("ok", "answered"),
        ("unchanged", "not modified"),
        ("not_found", "not found"),
        ("error", "failed"),
    )
    text = f"{result.status}: {asked:,} projects asked" + (f" ({parts})" if parts else "")
    if st.get("projects", asked) != asked:
        text += f"; {st['projects']:,} tracked"
    return text + (f"; {st['releases']:,} releases" if st.get("releases") else "")


def _bandit(result: Any) -> str:
    st = result.stats
    carried = st.get("carried_forward", 0)
    if not st.get("releases"):
        text = f"{result.status}: nothing new to analyse"
    else:
        text = f"{result.status}: {st['releases']:,} releases analysed (" + _count(
            st, ("scanned", "scanned whole"), ("not_scanned", "partial or not analysed")
        )
        text += f"), {st.get('files', 0):,} files, {st.get('findings', 0):,} findings"
        if st.get("bytes_downloaded"):
            text += f", {human_bytes(st['bytes_downloaded'])} downloaded"
    return text + (f"; {carried:,} analyses carried forward" if carried else "")


def _scorecards(result: Any) -> str:
    st = result.stats
    asked = sum(st.get(k, 0) for k in ("ok", "not_scanned", "error"))
    parts = _count(st, ("ok", "scored"), ("not_scanned", "not scanned"), ("error", "failed"))
    text = f"{result.status}: {asked:,} repositories asked" + (f" ({parts})" if parts else "")
    if st.get("skipped_fresh"):
        text += f", {st['skipped_fresh']:,} still fresh"
    return text + (f"; {st['stale']:,} results stale" if st.get("stale") else "")


LINES: dict[str, Callable[[Any], str]] = {
    "advisories": _advisories,
    "pypi": _pypi,
    "bandit": _bandit,
    "scorecards": _scorecards,
}
INTERNALS = {
    "advisories": ("files_parsed", "seconds_ms"),
    "pypi": ("requests",),
    "bandit": (
        "files_analysed",
        "files_from_cache",
        "bandit_processes",
        "cache_parts_written",
        "errors",
        "targets",
    ),
    "scorecards": ("requests", "repositories"),
}


def source_line(name: str, result: Any) -> str:
    """What one source did, in a line a person reads at a glance."""
    line = LINES.get(name)
    if line is not None:
        return line(result)
    counts = _count(result.stats, *((k, k.replace("_", " ")) for k in result.stats))
    return f"{result.status}" + (f": {counts}" if counts else "")


def internals(name: str, result: Any) -> str:
    """The source's internal counters (shown with ``-v``)."""
    keys = INTERNALS.get(name, ())
    return ", ".join(
        f"{k.replace('_', ' ')} {result.stats[k]:,}" for k in keys if k in result.stats
    )


def _verdict(report: Any, err: Console) -> int:
    """Print new data problems and failures on stderr; return the exit code."""
    summary = report.summary
    if summary is not None and summary.new_problems and not summary.first:
        err.print(
            f"[yellow]warning:[/] {summary.new_problems:,} new upstream data problem(s) since "
            "the previous snapshot (seckb errors lists them)",
            soft_wrap=True,
        )
    if report.failures and report.published:
        err.print(
            f"[red]error:[/] {len(report.failures)} source(s) failed; their previous "
            "tables were carried forward",
            soft_wrap=True,
        )
        return EXIT_PARTIAL
    if report.failures:
        why = "nothing else changed" if report.snapshot is not None else "no snapshot yet"
        err.print(
            f"[red]error:[/] {len(report.failures)} source(s) failed and {why}: "
            "nothing was published",
            soft_wrap=True,
        )
        return EXIT_ERROR
    return EXIT_OK


def _projects(settings: Settings, out: Console, err: Console, code: int) -> int:
    """After the run: re-evaluate the watched projects if anything moved and deliver the
    notification outbox; a failure here makes the exit code at least 1."""
    from aggregators.clients.projects.watch import run_after_publish

    try:
        report = run_after_publish(settings)
    except SeckbError as exc:
        err.print(f"[red]error:[/] watched projects: {exc}", highlight=False, soft_wrap=True)
        return max(code, EXIT_PARTIAL)
    for line in report.lines():
        out.print(line, highlight=False, soft_wrap=True)
    for receiver, why in report.delivery.failed.items() if report.delivery else ():
        err.print(
            f"[yellow]warning:[/] {receiver}: not delivered, kept in the outbox ({why})",
            highlight=False,
            soft_wrap=True,
        )
    return code

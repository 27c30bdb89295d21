"""The ``seckb`` command line: ingest, query, sql, snapshots, audit, recommend, diff.

Exit codes: 0 success; 1 the run published but some source failed (its previous tables carried
forward); 2 nothing was published because of an error (bad configuration or arguments, lock held,
a failed source and nothing else new, or an unexpected error). ``audit`` exits 1 when a pin
breaks ``--fail-on``, ``recommend`` when no version qualifies; both exit 2 on errors.
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
from collections.abc import Sequence
from pathlib import Path

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    SpinnerColumn,
    TaskID,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table

from aggregators import __version__
from aggregators.cli.clients import _cmd_audit, _cmd_diff, _cmd_recommend, _warn_stale
from aggregators.cli.common import EXIT_ERROR, EXIT_OK, EXIT_PARTIAL, _latest, _settings
from aggregators.clients.audit import THRESHOLDS
from aggregators.core.errors import SeckbError

log = logging.getLogger("seckb")
HIDDEN = frozenset({"seconds_ms", "advisories", "files_parsed"})


class RichProgress:
    """The pipeline's progress, shown on stderr while a person watches (hidden when piped)."""

    def __init__(self, console: Console) -> None:
        """Create an idle progress display on ``console``."""
        self._progress = Progress(
            SpinnerColumn(),
            TextColumn("{task.description}"),
            BarColumn(),
            MofNCompleteColumn(),
            TimeElapsedColumn(),
            console=console,
            transient=True,
        )
        self._task: TaskID | None = None

    def __enter__(self) -> RichProgress:
        """Start drawing."""
        self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        """Stop drawing and clear the display."""
        self._progress.stop()

    def stage(self, description: str, total: int | None = None) -> None:
        """Replace the current stage with a new one."""
        if self._task is not None:
            self._progress.remove_task(self._task)
        self._task = self._progress.add_task(description, total=total)

    def advance(self, steps: int = 1) -> None:
        """Advance the current stage."""
        if self._task is not None:
            self._progress.advance(self._task, steps)


def _cmd_ingest(args: argparse.Namespace, out: Console, err: Console) -> int:
    from aggregators.run.ingest import ingest

    settings = _settings(args)
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
    for name, result in report.results.items():
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
        out.print(
            f"{name}: {result.status} ({where}{mode})" + (f": {counts}" if counts else ""),
            highlight=False,
        )
    for name, error in report.failures.items():
        out.print(f"{name}: [red]failed[/]: {error}", highlight=False)
    if snap is not None:
        rows = ", ".join(f"{n} {i['rows']:,}" for n, i in sorted(snap.manifest["tables"].items()))
        out.print(f"rows: {rows}")
    if report.pruned:
        out.print(f"pruned {len(report.pruned)} old snapshot(s)")
    out.print(f"time: {report.seconds:.2f} s")
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
        err.print(
            f"[red]error:[/] {len(report.failures)} source(s) failed and nothing else changed: "
            "nothing was published"
        )
        return EXIT_ERROR
    return EXIT_OK


def _cmd_query(args: argparse.Namespace, out: Console, err: Console) -> int:
    from aggregators.clients.query import query

    settings = _settings(args)
    snapshot = _latest(settings, args.snapshot)
    _warn_stale(snapshot, settings, err)
    result = query(snapshot, args.package, args.version, include_withdrawn=args.include_withdrawn)
    if args.json:
        sys.stdout.write(json.dumps(result.to_json(), indent=2) + "\n")
        return EXIT_OK
    subject = result.package + (f" {result.version}" if result.version else "")
    repo = result.repository
    if repo is not None:
        line = f"repository: {repo['url']}"
        if repo["score"] is not None:
            weak = ", ".join(f"{c['check']} {c['score']:g}" for c in repo["weakest_checks"])
            stale = " [stale]" if repo["stale"] else ""
            line += f" — Scorecard {repo['score']:g}/10 ({repo['result_date'][:10]}{stale})"
            line += f"; weakest: {weak}" if weak else ""
        elif repo["status"]:
            line += f" — Scorecard: {repo['status']}"
        out.print(line, highlight=False)
    if not result.known_package:
        out.print(f"{subject}: no advisory names this package (snapshot {snapshot.id})")
        return EXIT_OK
    if result.version_is_pep440 is False:
        err.print(
            f"[yellow]warning:[/] {result.version!r} is not a PEP 440 version; "
            "only explicit version lists can match it"
        )
    if result.version is not None:
        verdict = "[bold red]VULNERABLE[/]" if result.vulnerable else "[green]no known advisory[/]"
        out.print(f"{subject}: {verdict} (snapshot {snapshot.id})")
    else:
        out.print(f"{subject}: {len(result.advisories)} advisory(ies) (snapshot {snapshot.id})")
    if result.advisories:
        table = Table(
            "id",
            "aliases",
            "severity",
            "fixed in",
            "affects" if result.version else "versions",
            "summary",
            box=None,
        )
        for m in result.advisories:
            sev = m.severity or {}
            severity = f"{sev.get('rating') or ''} {sev.get('score') or ''}".strip() or "-"
            table.add_row(
                m.id + (" (withdrawn)" if m.withdrawn else ""),
                ", ".join(m.aliases),
                severity,
                ", ".join(m.fixed_versions) or "-",
                m.affected_by or "-" if result.version else str(m.affected_versions),
                (m.summary or "")[:60],
            )
        out.print(table)
    return EXIT_OK


def _cmd_snapshots(args: argparse.Namespace, out: Console, err: Console) -> int:
    from aggregators.core.workspace import Workspace
    from aggregators.store.snapshots import SnapshotStore

    store = SnapshotStore(Workspace(_settings(args).home))
    latest = store.latest()
    snapshots = store.all()
    if args.json:
        docs = [dict(s.manifest, latest=bool(latest and s.id == latest.id)) for s in snapshots]
        sys.stdout.write(json.dumps(docs, indent=2) + "\n")
        return EXIT_OK
    table = Table(
        "", "snapshot", "created", "advisory-db", "advisories", "size", "sources", box=None
    )
    for s in snapshots:
        lineage = s.source("advisories").get("lineage", {})
        tables = s.manifest.get("tables", {})
        size = sum(t["bytes"] for t in tables.values())
        statuses = ", ".join(
            f"{n}:{v.get('status')}" for n, v in s.manifest.get("sources", {}).items()
        )
        table.add_row(
            "*" if latest and s.id == latest.id else "",
            s.id,
            s.manifest.get("created_at", "")[:19],
            str(lineage.get("commit", ""))[:12],
            f"{tables.get('advisories', {}).get('rows', 0):,}",
            f"{size / 1e6:.1f} MB",
            statuses,
        )
    out.print(table if snapshots else "no snapshots yet")
    return EXIT_OK


def _cmd_sql(args: argparse.Namespace, out: Console, err: Console) -> int:
    import duckdb

    from aggregators.core.workspace import Workspace

    database = Workspace(_settings(args).home).duckdb
    if not database.is_file():
        raise SeckbError(f"no {database}; run 'seckb ingest' first")
    con = duckdb.connect(str(database), read_only=True)
    try:
        cursor = con.execute(args.query)
        columns = [d[0] for d in cursor.description or []]
        rows = cursor.fetchall()
    except duckdb.Error as exc:
        raise SeckbError(f"SQL error: {exc}") from exc
    finally:
        con.close()
    if args.json:
        docs = [dict(zip(columns, row, strict=True)) for row in rows]
        sys.stdout.write(json.dumps(docs, indent=2, default=str) + "\n")
        return EXIT_OK
    table = Table(*columns, box=None)
    for row in rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    out.print(table)
    return EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of ``seckb`` (exposed for the tests and the README)."""
    parser = argparse.ArgumentParser(prog="seckb", description=__doc__.splitlines()[0])
    parser.add_argument("--version", action="version", version=f"seckb {__version__}")
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--config", type=Path, help="TOML config file (default: $SECKB_CONFIG)")
    common.add_argument("--home", help="data root (default: $SECKB_HOME or ./warehouse/data)")
    common.add_argument("-v", "--verbose", action="store_true", help="log progress details")
    sub = parser.add_subparsers(dest="command", required=True)

    p = sub.add_parser("ingest", parents=[common], help="fetch sources and publish a snapshot")
    p.add_argument(
        "--sources",
        help="comma-separated: advisories,pypi,bandit,scorecards (default: all implemented)",
    )
    p.add_argument("--packages", help="comma-separated package names to narrow per-package sources")
    p.set_defaults(func=_cmd_ingest)

    p = sub.add_parser("query", parents=[common], help="advisories affecting a package version")
    p.add_argument("package")
    p.add_argument("version", nargs="?")
    p.add_argument("--json", action="store_true", help="print the seckb.query/1 JSON document")
    p.add_argument("--include-withdrawn", action="store_true", help="also list withdrawn ones")
    p.add_argument("--snapshot", help="snapshot id (default: LATEST)")
    p.set_defaults(func=_cmd_query)

    p = sub.add_parser("sql", parents=[common], help="run a read-only SQL query on seckb.duckdb")
    p.add_argument("query")
    p.add_argument("--json", action="store_true", help="print rows as a JSON list of objects")
    p.set_defaults(func=_cmd_sql)

    p = sub.add_parser("snapshots", parents=[common], help="list snapshots and their lineage")
    p.add_argument("--json", action="store_true", help="print the manifests as JSON")
    p.set_defaults(func=_cmd_snapshots)

    p = sub.add_parser(
        "audit", parents=[common], help="check pinned requirements or an SBOM against a snapshot"
    )
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("-r", "--requirements", type=Path, help="a requirements file (pip format)")
    what.add_argument("--sbom", type=Path, help="a CycloneDX JSON SBOM (syft, cyclonedx-py)")
    p.add_argument(
        "--fail-on",
        choices=THRESHOLDS,
        help="exit 1 when a vulnerable pin reaches this CVSS rating (unscored always does), "
        "or when a pin is unpinned, unknown or invalid (unless --allow-unknown)",
    )
    p.add_argument(
        "--allow-unknown",
        action="store_true",
        help="with --fail-on: do not fail on unpinned, unknown or invalid entries",
    )
    p.add_argument("--json", action="store_true", help="print the seckb.audit/1 JSON document")
    p.add_argument("--snapshot", help="snapshot id (default: LATEST)")
    p.set_defaults(func=_cmd_audit)

    p = sub.add_parser(
        "recommend", parents=[common], help="greatest version with no active advisory, not yanked"
    )
    p.add_argument("package")
    p.add_argument("specifier", nargs="?", help="PEP 440 specifier, e.g. '>=2,<3'")
    p.add_argument("--pre", action="store_true", help="consider pre-releases")
    p.add_argument("--json", action="store_true", help="print the seckb.recommend/1 document")
    p.add_argument("--snapshot", help="snapshot id (default: LATEST)")
    p.set_defaults(func=_cmd_recommend)

    p = sub.add_parser("diff", parents=[common], help="what changed between two snapshots")
    p.add_argument("old", nargs="?", help="older snapshot id (default: the one before NEW)")
    p.add_argument("new", nargs="?", help="newer snapshot id (default: LATEST)")
    p.add_argument("--json", action="store_true", help="print the seckb.diff/1 JSON document")
    p.set_defaults(func=_cmd_diff)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``seckb`` console script."""
    args = build_parser().parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    out, err = Console(), Console(stderr=True)
    if not out.is_terminal:  # piped or captured: never truncate ids to 80 columns
        out = Console(width=240)
    try:
        code: int = args.func(args, out, err)
    except SeckbError as exc:
        err.print(f"[red]error:[/] {exc}", highlight=False, markup=True, soft_wrap=True)
        return EXIT_ERROR
    except KeyboardInterrupt:
        err.print("[red]interrupted[/]")
        return 130
    except Exception as exc:  # one line for people, the traceback with -v
        log.debug("unexpected error", exc_info=True)
        hint = "" if args.verbose else " (run with -v for the traceback)"
        err.print(
            f"[red]error:[/] unexpected {type(exc).__name__}: {exc}{hint}",
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

"""Resolver look-up and ``seckb audit`` speed (the figures of issue 6).

Snapshot: the real advisory-db bundle and the real top-pypi-packages dataset ingested with
``--sources advisories,popularity`` into a temporary data root (so ``audit`` also checks every
name against 15,000 popular projects), plus a synthetic PyPI release list — every advisory
package with ~50 versions (the versions its advisories name, filled up with made-up ones) —
from which ``package_version_security`` is built with the real
``build_package_version_security`` and published as a new snapshot.

Measured in one run, each against the naive way (one DuckDB query per pin):
  lookup   10,000 (package, version) pairs through KnowledgeBase.lookup_many after opening,
           vs one parameterized DuckDB query per pair on seckb.duckdb (same process, connected)
  audit    `seckb audit -r` of a 200-line requirements file as a whole process (start-up
           included), vs a Python process that connects to seckb.duckdb and runs one query per pin

Usage: .venv/bin/python benchmarks/lookup_speed.py [--bundle PATH] [--repeat N]
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BUNDLE = ROOT.parent / "shared" / "data" / "advisory-db-2023.bundle"
POPULARITY = ROOT.parent / "shared" / "data" / "top-pypi-packages-2026-04.min.json"
"""The real popularity dataset: audit checks every name against its 15,000 projects."""
SECKB = Path(sys.executable).with_name("seckb")
VERSIONS_PER_PACKAGE = 50
NAIVE_SQL = (
    "SELECT advisory_ids, max_cvss_score, fixed_in FROM package_version_security "
    "WHERE package = ? AND version_canonical = ?"
)
NAIVE_SCRIPT = """
import sys, duckdb
from packaging.utils import canonicalize_name, canonicalize_version
con = duckdb.connect(sys.argv[1], read_only=True)
for line in open(sys.argv[2]):
    name, _, version = line.strip().partition("==")
    key = [canonicalize_name(name), canonicalize_version(version, strip_trailing_zero=True)]
    print(name, version, con.execute({sql!r}, key).fetchall())
"""


def build(home: Path, bundle: Path) -> tuple[int, int]:
    """Ingest the bundle, add synthetic releases and the knowledge table: (packages, rows)."""
    import pyarrow as pa

    from aggregators.core.config import load_settings
    from aggregators.core.contracts import contract
    from aggregators.core.versions import canonical_version, parse_version
    from aggregators.core.workspace import Workspace
    from aggregators.knowledge.security import build_package_version_security
    from aggregators.run.ingest import ingest
    from aggregators.store.snapshots import SnapshotStore
    from aggregators.store.views import refresh

    settings = load_settings(
        env={}, home=home, advisory_db_url=str(bundle), popularity_url=str(POPULARITY)
    )
    report = ingest(settings, "advisories,popularity")
    base = report.snapshot
    assert base is not None and not report.failures
    tables: dict[str, pa.Table] = {name: t for name in base.tables if (t := base.read(name))}
    named: dict[str, set[str]] = {}
    affected = tables["affected_versions"].select(["package", "version"]).to_pylist()
    for row in affected:
        named.setdefault(row["package"], set()).add(row["version"])
    for package in tables["advisory_packages"].column("package").to_pylist():
        named.setdefault(package, set())
    rows = []
    for package, mentioned in sorted(named.items()):
        versions = sorted(v for v in mentioned if parse_version(v) is not None)[:40]
        versions += [f"99.{i}" for i in range(VERSIONS_PER_PACKAGE - len(versions))]
        for version in versions:
            parsed = parse_version(version)
            rows.append(
                {
                    "package": package,
                    "version": version,
                    "version_canonical": canonical_version(version),
                    "is_pep440": True,
                    "is_prerelease": bool(parsed and parsed.is_prerelease),
                    "yanked": False,
                    "has_wheel": True,
                    "files": 1,
                }
            )
    tables["releases"] = contract("releases").table_from_rows(rows)
    store = SnapshotStore(Workspace(home))
    snapshot_id = f"{base.id[:-7]}-bench1"
    tables["package_version_security"] = build_package_version_security(tables, snapshot_id)
    from datetime import UTC, datetime

    published = store.publish(
        tables, base.manifest["sources"], datetime.now(UTC), base, snapshot_id
    )
    refresh(Workspace(home).duckdb, published)
    return len(named), len(rows)


def pins(home: Path, count: int, seed: int = 6) -> list[tuple[str, str]]:
    """``count`` (package, version) pairs: nine in ten known releases, the rest unknown."""
    import pyarrow.parquet as pq

    from aggregators.core.workspace import Workspace
    from aggregators.store.snapshots import SnapshotStore

    snapshot = SnapshotStore(Workspace(home)).latest()
    assert snapshot is not None
    table = pq.read_table(
        snapshot.table_path("package_version_security"), columns=["package", "version"]
    )
    known = list(zip(table.column(0).to_pylist(), table.column(1).to_pylist(), strict=True))
    rng = random.Random(seed)
    return [
        rng.choice(known) if i % 10 else (rng.choice(known)[0], "0.0.0.1") for i in range(count)
    ]


def timed(args: list[str], repeat: int) -> float:
    """Median wall time of a process, output discarded (fails loudly on exit code 2)."""
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        proc = subprocess.run(args, capture_output=True, text=True, check=False)
        times.append(time.perf_counter() - started)
        if proc.returncode not in (0, 1):
            raise SystemExit(f"{args[0]} failed: {proc.stderr.strip()}")
    return statistics.median(times)


def main() -> None:
    """Build the snapshot, measure, print each figure and its ratio to the naive way."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bundle", type=Path, default=BUNDLE)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    if not args.bundle.is_file():
        raise SystemExit(f"advisory-db bundle not found: {args.bundle}")
    import duckdb

    from aggregators.clients.lookup import KnowledgeBase
    from aggregators.core.names import normalize_name
    from aggregators.core.versions import canonical_version
    from aggregators.core.workspace import Workspace

    with tempfile.TemporaryDirectory(prefix="seckb-lookup-") as tmp:
        home = Path(tmp) / "home"
        packages, rows = build(home, args.bundle)
        print(f"snapshot: {packages} packages, {rows:,} package_version_security rows")

        started = time.perf_counter()
        kb = KnowledgeBase.open(home)
        opened = time.perf_counter() - started
        pairs = pins(home, 10_000)
        runs = []
        for _ in range(args.repeat):
            started = time.perf_counter()
            found = kb.lookup_many(pairs)
            runs.append(time.perf_counter() - started)
        api = statistics.median(runs)
        hits = sum(r is not None and r.listed for r in found)
        vulnerable = sum(bool(r and r.vulnerable) for r in found)

        con = duckdb.connect(str(Workspace(home).duckdb), read_only=True)
        started = time.perf_counter()
        naive_hits = sum(
            bool(con.execute(NAIVE_SQL, [normalize_name(p), canonical_version(v)]).fetchall())
            for p, v in pairs
        )
        naive = time.perf_counter() - started
        con.close()
        assert naive_hits == hits, (naive_hits, hits)
        print(f"open KnowledgeBase: {opened:.3f} s")
        print(
            f"10,000 look-ups ({hits:,} known, {vulnerable:,} vulnerable): "
            f"lookup_many {api * 1000:.1f} ms (target < 100 ms) vs one DuckDB query per pin "
            f"{naive:.2f} s: {naive / api:,.0f}x"
        )

        requirements = Path(tmp) / "requirements.txt"
        requirements.write_text(
            "".join(f"{p}=={v}\n" for p, v in pins(home, 200, seed=7)), encoding="utf-8"
        )
        script = Path(tmp) / "naive_audit.py"
        script.write_text(NAIVE_SCRIPT.format(sql=NAIVE_SQL), encoding="utf-8")
        env_home = ["--home", str(home)]
        audit = timed([str(SECKB), "audit", "-r", str(requirements), *env_home], args.repeat)
        audit_json = timed(
            [str(SECKB), "audit", "-r", str(requirements), "--json", *env_home], args.repeat
        )
        naive_process = timed(
            [sys.executable, str(script), str(Workspace(home).duckdb), str(requirements)],
            args.repeat,
        )
        bare = timed([sys.executable, "-c", "pass"], args.repeat)
        print(
            f"seckb audit -r (200 lines), whole process: {audit:.2f} s table / "
            f"{audit_json:.2f} s --json (target < 1 s) vs a process running one DuckDB query "
            f"per pin {naive_process:.2f} s: {naive_process / audit:.1f}x "
            f"(bare interpreter start: {bare:.2f} s)"
        )
        print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")


if __name__ == "__main__":
    main()

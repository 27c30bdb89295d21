"""Re-evaluating watched projects after a publish (the figures of issue 12).

Data root: the real advisory-db bundle at 2023-06-06 (555 commits before its head) ingested with
``--sources advisories``, plus a synthetic PyPI release list (~50 versions per package, as in
``lookup_speed.py``) from which ``package_version_security`` is built and published. 200 projects
of 300 components each (CycloneDX SBOM files; nine components in ten a listed release, one in
ten a ``.post7`` build PyPI does not list, judged from the ranges) are added and evaluated once.
Then the advisory-db moves to its head (2023-12-23) and ``seckb ingest --sources advisories``
publishes a new snapshot (the releases carried forward).

Measured in one run, after that publish:
  re-evaluation  ``run_after_publish`` — every project judged against the new snapshot, the
                 transitions found, three tables and the events document written — in a fresh
                 process: its time inside the process, the whole process, and its peak memory
  baseline       ``seckb audit --sbom P.json --json`` once per project, each a process, as a CI
                 job re-auditing every stored SBOM would do: total time and the largest peak
                 memory of one of them

Usage: .venv/bin/python benchmarks/projects_speed.py [--bundle PATH] [--projects 200]
       [--components 300] [--baseline N (audit only N projects and scale the total up)]
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BUNDLE = ROOT.parent / "shared" / "data" / "advisory-db-2023.bundle"
SECKB = Path(sys.executable).with_name("seckb")
OLD = "4b063fcd1c47ffafa7fa1109524bab3b34e652e1"
HEAD = "46bc8dad4f88a118785f37497f5802db364974a5"
CHILD = """
import json, sys, time
started = time.perf_counter()
from aggregators.core.config import load_settings
from aggregators.clients.projects.watch import run_after_publish
report = run_after_publish(load_settings(env={}, home=sys.argv[1], advisory_db_url=sys.argv[2]))
print(json.dumps({"seconds": time.perf_counter() - started, **report.summary()}))
"""


def git(*args: str, cwd: Path | None = None) -> None:
    subprocess.run(["git", *args], cwd=cwd, check=True, capture_output=True)


def measured(args: list[str]) -> tuple[float, float, str]:
    """Run a process: (wall seconds, its peak RSS in MiB, stdout); exit codes 0 and 1 only."""
    started = time.perf_counter()
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen(args, stdout=out, stderr=err)
        _, status, usage = os.wait4(proc.pid, 0)  # reaped here: its own resource usage
        proc.returncode = os.waitstatus_to_exitcode(status)
        wall = time.perf_counter() - started
        out.seek(0)
        err.seek(0)
        if proc.returncode not in (0, 1):
            raise SystemExit(f"{args[:3]} failed: {err.read().decode()[-2000:]}")
        return wall, usage.ru_maxrss / 1024, out.read().decode()


def sboms(home: Path, folder: Path, projects: int, components: int, seed: int = 12) -> list[Path]:
    """Write ``projects`` CycloneDX files of ``components`` distinct packages each."""
    import pyarrow.parquet as pq

    from aggregators.core.workspace import Workspace
    from aggregators.store.snapshots import SnapshotStore

    snapshot = SnapshotStore(Workspace(home)).latest()
    assert snapshot is not None
    table = pq.read_table(
        snapshot.table_path("package_version_security"), columns=["package", "version"]
    )
    releases: dict[str, list[str]] = {}
    columns = (table.column(0).to_pylist(), table.column(1).to_pylist())
    for package, version in zip(*columns, strict=True):
        releases.setdefault(package, []).append(version)
    rng, names = random.Random(seed), sorted(releases)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for index in range(projects):
        picked = rng.sample(names, min(components, len(names)))
        entries = []
        for i, package in enumerate(picked):
            version = rng.choice(releases[package]) + (".post7" if i % 10 == 9 else "")
            purl = f"pkg:pypi/{package}@{version}"
            entries.append({"type": "library", "name": package, "version": version, "purl": purl})
        path = folder / f"p{index:03d}.json"
        path.write_text(json.dumps({"bomFormat": "CycloneDX", "components": entries}))
        paths.append(path)
    return paths


def prepare(tmp: Path, bundle: Path, args: argparse.Namespace) -> tuple[Path, Path, list[Path]]:
    """The data root, evaluated once at the old commit, then the publish at the head."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from lookup_speed import build

    from aggregators.clients.projects.inputs import CYCLONEDX, read_components
    from aggregators.clients.projects.service import add_project
    from aggregators.clients.projects.watch import run_after_publish
    from aggregators.core.clock import utcnow
    from aggregators.core.config import load_settings
    from aggregators.core.workspace import Workspace
    from aggregators.run.ingest import ingest
    from aggregators.store.projects import ProjectStore

    remote, home = tmp / "remote", tmp / "home"
    git("clone", "-q", "--bare", str(bundle), str(remote))
    git("update-ref", "refs/heads/main", OLD, cwd=remote)
    packages, rows = build(home, remote)
    print(f"snapshot at {OLD[:12]}: {packages} packages, {rows:,} releases")
    paths = sboms(home, tmp / "sboms", args.projects, args.components)
    store = ProjectStore(Workspace(home))
    started = time.perf_counter()
    for path in paths:
        add_project(store, path.stem, read_components(path, CYCLONEDX), None, utcnow())
    print(f"added {len(paths)} projects in {time.perf_counter() - started:.2f} s")
    settings = load_settings(env={}, home=home, advisory_db_url=str(remote))
    started = time.perf_counter()
    first = run_after_publish(settings)
    print(f"first evaluation (in process): {time.perf_counter() - started:.2f} s, {first.counts}")
    git("update-ref", "refs/heads/main", HEAD, cwd=remote)
    report = ingest(settings, "advisories")
    assert report.published and report.snapshot is not None
    print(f"published {report.snapshot.id} at {HEAD[:12]} in {report.seconds:.2f} s")
    return home, remote, paths


def baseline(home: Path, paths: list[Path], count: int) -> tuple[float, float, int]:
    """``seckb audit`` once per project (the first ``count``): total seconds, peak MiB."""
    total, peak = 0.0, 0.0
    for path in paths[:count]:
        wall, rss, _ = measured(
            [str(SECKB), "audit", "--sbom", str(path), "--json", "--home", str(home)]
        )
        total, peak = total + wall, max(peak, rss)
    return total, peak, count


def measure(home: Path, remote: Path, count: int) -> None:
    """The measurements, run in a small process of their own: Linux keeps a process's peak
    memory across ``exec``, so a child forked from the large preparing process would report
    that process's peak as its own."""
    wall, peak, out = measured([sys.executable, "-c", CHILD, str(home), str(remote)])
    result: dict[str, Any] = json.loads(out)
    assert result["evaluated"], result
    paths = sorted((home.parent / "sboms").glob("p*.json"))
    components = sum(len(json.loads(p.read_bytes())["components"]) for p in paths)
    print(
        f"re-evaluation of {len(paths)} projects ({components:,} components): "
        f"{result['seconds']:.2f} s in process, {wall:.2f} s whole process, peak {peak:.0f} MiB; "
        f"events {result['events']}"
    )
    total, audit_peak, done = baseline(home, paths, count or len(paths))
    scaled = total * len(paths) / done
    note = f" (measured on {done}, scaled to {len(paths)})" if done < len(paths) else ""
    print(
        f"baseline: seckb audit once per project: {scaled:.1f} s{note}, "
        f"{total / done:.2f} s per project, peak {audit_peak:.0f} MiB per process"
    )
    print(
        f"ratio: re-evaluation is {scaled / wall:.1f}x faster than the baseline "
        f"(whole process), {scaled / result['seconds']:.1f}x in process"
    )


def main() -> None:
    """Prepare, measure both ways (in a fresh process), print the figures and the ratio."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("--bundle", type=Path, default=BUNDLE)
    parser.add_argument("--projects", type=int, default=200)
    parser.add_argument("--components", type=int, default=300)
    parser.add_argument("--baseline", type=int, default=0, help="audit only N projects")
    parser.add_argument("--measure", nargs=2, type=Path, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.measure:
        measure(args.measure[0], args.measure[1], args.baseline)
        return
    if not args.bundle.is_file():
        raise SystemExit(f"advisory-db bundle not found: {args.bundle}")
    with tempfile.TemporaryDirectory(prefix="seckb-projects-") as tmp:
        home, remote, _paths = prepare(Path(tmp), args.bundle, args)
        sys.stdout.flush()
        command = [sys.executable, __file__, "--measure", str(home), str(remote)]
        subprocess.run([*command, "--baseline", str(args.baseline)], check=True)


if __name__ == "__main__":
    main()

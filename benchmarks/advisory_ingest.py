"""Advisory ingest speed on the real advisory-db bundle (the figures of issue 2).

Measured in one run, on this machine:
  baseline   yaml.safe_load (pure-Python loader) of every advisory file, in one process
  full       whole-process wall time of `seckb ingest --sources advisories` from an empty
             data root (clone from the local bundle, parse, normalize, write, publish)
  re-run     the same command again with no new commit: pipeline time and process time
  update     an incremental run from 300 commits back to the bundle's head (pipeline time)
  peak RSS   of the full-ingest process

Usage: .venv/bin/python benchmarks/advisory_ingest.py [--repeat N] [--bundle PATH]
"""

from __future__ import annotations

import argparse
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
BUNDLE = ROOT.parent / "shared" / "data" / "advisory-db-2023.bundle"
SECKB = Path(sys.executable).with_name("seckb")


def run_process(args: list[str], env: dict[str, str]) -> tuple[float, int, str]:
    """Run a command; return (wall seconds, peak RSS in MiB, stdout)."""
    started = time.perf_counter()
    proc = subprocess.Popen(
        args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - started
    out = proc.stdout.read() if proc.stdout else ""
    err = proc.stderr.read() if proc.stderr else ""
    proc.returncode = os.waitstatus_to_exitcode(status)
    if proc.returncode != 0:
        raise SystemExit(f"{args} failed ({proc.returncode}): {err}")
    return wall, usage.ru_maxrss // 1024, out


def baseline(files: list[Path]) -> float:
    """Seconds to load every file with yaml.safe_load in this process."""
    started = time.perf_counter()
    for path in files:
        with path.open(encoding="utf-8") as handle:
            yaml.safe_load(handle)
    return time.perf_counter() - started


def pipeline_seconds(out: str) -> float:
    """The pipeline time `seckb ingest` prints on its `time:` line."""
    match = re.search(r"^time: ([0-9.]+) s$", out, re.MULTILINE)
    if not match:
        raise SystemExit(f"no time line in output:\n{out}")
    return float(match.group(1))


def main() -> None:
    """Measure and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3, help="full ingests to take the median of")
    parser.add_argument("--bundle", type=Path, default=BUNDLE)
    args = parser.parse_args()
    if not args.bundle.is_file():
        raise SystemExit(f"bundle not found: {args.bundle}")

    with tempfile.TemporaryDirectory(prefix="seckb-bench-") as tmp:
        work = Path(tmp)
        checkout = work / "checkout"
        subprocess.run(["git", "clone", "-q", str(args.bundle), str(checkout)], check=True)
        files = sorted((checkout / "vulns").rglob("*.yaml"))
        env = {k: v for k, v in os.environ.items() if not k.startswith("SECKB_")}
        env["SECKB_ADVISORY_DB_URL"] = str(args.bundle)

        base = baseline(files)
        fulls, peaks = [], []
        for i in range(args.repeat):
            env["SECKB_HOME"] = str(work / f"home-{i}")
            wall, peak, _ = run_process([str(SECKB), "ingest", "--sources", "advisories"], env)
            fulls.append(wall)
            peaks.append(peak)
        full = statistics.median(fulls)
        rerun_wall, _, out = run_process([str(SECKB), "ingest", "--sources", "advisories"], env)
        rerun_pipeline = pipeline_seconds(out)

        remote = work / "remote.git"
        subprocess.run(["git", "clone", "-q", "--bare", str(args.bundle), str(remote)], check=True)
        head = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=remote, check=True, capture_output=True, text=True
        ).stdout.strip()
        subprocess.run(
            ["git", "update-ref", "refs/heads/main", f"{head}~300"], cwd=remote, check=True
        )
        env.update(SECKB_HOME=str(work / "home-update"), SECKB_ADVISORY_DB_URL=str(remote))
        run_process([str(SECKB), "ingest", "--sources", "advisories"], env)
        subprocess.run(["git", "update-ref", "refs/heads/main", head], cwd=remote, check=True)
        _, _, out = run_process([str(SECKB), "ingest", "--sources", "advisories", "-v"], env)
        update = pipeline_seconds(out)

    print(f"machine: {os.cpu_count()} CPUs, Python {sys.version.split()[0]}")
    print(f"advisory files: {len(files)}")
    print(f"baseline yaml.safe_load, one process:        {base:7.2f} s")
    print(
        f"full ingest, whole process (median of {args.repeat}):  {full:7.2f} s "
        f"(runs: {', '.join(f'{x:.2f}' for x in fulls)})"
    )
    print(f"ratio baseline / full ingest:                {base / full:7.1f}x  (target >= 8x)")
    print(f"full ingest within 3 s:                      {'yes' if full <= 3.0 else 'NO'}")
    print(f"peak RSS of the full ingest:                 {max(peaks):7d} MiB")
    print(f"re-run, no new commit: pipeline time         {rerun_pipeline:7.2f} s (target < 0.5 s)")
    print(f"re-run, no new commit: whole process         {rerun_wall:7.2f} s")
    print(f"incremental update over 300 commits:         {update:7.2f} s pipeline time")


if __name__ == "__main__":
    main()

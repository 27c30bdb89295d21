"""Bandit stage speed on real sdists, against plain single-process Bandit in the same run.

Downloads (once, into benchmarks/.cache/) the sdists of requests 2.32.2 and 2.32.3, flask 3.0.3
and Django 5.1.1 and 5.1.2 from PyPI's JSON API, serves them over a loopback HTTP server so
``analyse_releases`` downloads them through HttpClient for real, and measures:

  baseline  ``bandit -r <tree> -f json -q`` (the venv's CLI, one process) on each extracted tree
  cold      ``analyse_releases`` on each release alone with an empty cache (parallelism only),
            and on all five together with an empty cache (parallelism + shared files)
  warm      Django 5.1.2 right after 5.1.1 (cache filled by 5.1.1) vs plain Bandit on 5.1.2
  re-run    all five again with nothing new: Bandit processes started

Usage: .venv/bin/python benchmarks/bandit_speed.py [--workers N]
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import threading
import time
import urllib.parse
import zipfile
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import requests

from aggregators.core.config import load_settings
from aggregators.core.http import client_for
from aggregators.core.workspace import Workspace
from aggregators.sources.bandit.analyse import BanditResult, ScanTarget, analyse_releases

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "benchmarks" / ".cache" / "sdists"
BANDIT = Path(sys.executable).with_name("bandit")
RELEASES = [
    ("requests", "2.32.2"),
    ("requests", "2.32.3"),
    ("flask", "3.0.3"),
    ("django", "5.1.1"),
    ("django", "5.1.2"),
]


def fetch(package: str, version: str) -> dict[str, Any]:
    """The sdist entry of a release (downloading the file once into the cache)."""
    meta = CACHE / f"{package}-{version}.json"
    if meta.exists():
        return dict(json.loads(meta.read_text()))
    url = f"https://pypi.org/pypi/{package}/json"
    answer = requests.get(url, timeout=60)
    answer.raise_for_status()
    files = answer.json()["releases"][version]
    sdist = next(u for u in files if u["packagetype"] == "sdist")
    file_url = urllib.parse.urljoin(url, sdist["url"])
    data = requests.get(file_url, timeout=300).content
    if hashlib.sha256(data).hexdigest() != sdist["digests"]["sha256"]:
        raise SystemExit(f"sha256 mismatch for {file_url}")
    CACHE.mkdir(parents=True, exist_ok=True)
    (CACHE / sdist["filename"]).write_bytes(data)
    entry = {
        "filename": sdist["filename"],
        "sha256": sdist["digests"]["sha256"],
        "size": sdist["size"],
    }
    meta.write_text(json.dumps(entry))
    return entry


def serve(directory: Path) -> tuple[ThreadingHTTPServer, str]:
    """Serve ``directory`` on a loopback port."""

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(directory))
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_address[1]}/"


def extract_tree(archive: Path, dest: Path) -> Path:
    """Extract a (trusted, real) sdist for the plain-Bandit baseline."""
    dest.mkdir(parents=True)
    if archive.suffix == ".zip":
        with zipfile.ZipFile(archive) as zf:
            zf.extractall(dest)
    else:
        with tarfile.open(archive) as tar:
            tar.extractall(dest, filter="data")
    return dest


def plain_bandit(tree: Path) -> tuple[float, int, int]:
    """Seconds, findings and LOC of ``bandit -r tree -f json -q``."""
    started = time.perf_counter()
    proc = subprocess.run(
        [str(BANDIT), "-r", str(tree), "-f", "json", "-q"],
        capture_output=True,
        text=True,
        check=False,
    )
    seconds = time.perf_counter() - started
    report = json.loads(proc.stdout)
    return seconds, len(report["results"]), int(report["metrics"]["_totals"]["loc"])


def ours(home: Path, targets: list[ScanTarget], workers: int) -> tuple[float, BanditResult]:
    """Seconds and result of analyse_releases with data root ``home``."""
    settings = load_settings(env={}, home=home, workers=workers)
    started = time.perf_counter()
    result = analyse_releases(settings, Workspace(settings.home), client_for(settings), targets)
    return time.perf_counter() - started, result


def newest_results(home: Path) -> list[dict[str, Any]]:
    """The rows of the Bandit cache part written last under ``home``."""
    parts = sorted(Workspace(home).bandit_cache.glob("part-*.parquet"), key=os.path.getmtime)
    return pq.read_table(parts[-1], columns=["loc", "analysis_ms"]).to_pylist()


def main() -> None:
    """Run the measurements and print each figure with its ratio."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    args = parser.parse_args()
    entries = {r: fetch(*r) for r in RELEASES}
    server, base = serve(CACHE)
    targets = {
        r: ScanTarget(r[0], r[1], e["filename"], base + e["filename"], e["sha256"], e["size"])
        for r, e in entries.items()
    }
    print(f"machine: {os.cpu_count()} CPUs, workers={args.workers}, bandit CLI {BANDIT}")
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        plain: dict[tuple[str, str], float] = {}
        print("\n(1) cold analysis, empty cache: each release alone")
        print(f"{'release':<18}{'plain s':>9}{'ours s':>9}{'ratio':>8}{'findings':>10}{'loc':>9}")
        cold_total = 0.0
        for n, release in enumerate(RELEASES):
            tree = extract_tree(CACHE / entries[release]["filename"], work / f"tree{n}")
            seconds, found, loc = plain_bandit(tree)
            plain[release] = seconds
            mine, result = ours(work / f"cold{n}", [targets[release]], args.workers)
            cold_total += mine
            scan = result.tables["bandit_scans"].to_pylist()[0]
            mine_found = result.tables["bandit_findings"].num_rows
            print(
                f"{release[0] + ' ' + release[1]:<18}{seconds:>9.1f}{mine:>9.1f}"
                f"{seconds / mine:>7.2f}x{mine_found:>5}/{found:<4}{scan['loc']:>9}"
                f"  ({scan['status']}, plain loc {loc})"
            )
        plain_total = sum(plain.values())
        print(
            f"{'total':<18}{plain_total:>9.1f}{cold_total:>9.1f}{plain_total / cold_total:>7.2f}x"
            "   (target >= 1.7x)"
        )
        together, result = ours(work / "together", list(targets.values()), args.workers)
        print(
            f"all five in one run, empty cache: {together:.1f} s vs plain {plain_total:.1f} s "
            f"= {plain_total / together:.2f}x (includes files shared between releases: "
            f"{result.stats['files_analysed']} analysed of {result.stats['files']})"
        )

        print("\n(2) Django 5.1.2 after 5.1.1 (warm cache), three runs from the same cache")
        seeded = work / "warm"
        ours(seeded, [targets["django", "5.1.1"]], args.workers)
        runs = []
        for n in range(3):
            shutil.copytree(seeded, work / f"warm{n}")
            runs.append(ours(work / f"warm{n}", [targets["django", "5.1.2"]], args.workers))
        warm, result = sorted(runs, key=lambda r: r[0])[1]  # the median run
        scan = result.tables["bandit_scans"].to_pylist()[0]
        base_s = plain["django", "5.1.2"]
        print(
            f"ours {warm:.2f} s (runs {', '.join(f'{s:.2f}' for s, _ in runs)}) vs plain Bandit "
            f"{base_s:.1f} s = {base_s / warm:.1f}x (target >= 20x); files {scan['files']}, from "
            f"cache {scan['files_from_cache']}, analysed {result.stats['files_analysed']}, "
            f"Bandit processes {result.stats['bandit_processes']}"
        )
        slowest = max(newest_results(work / "warm1"), key=lambda r: r["analysis_ms"])
        print(
            f"  of which Bandit on the slowest changed file ({slowest['loc']} lines): "
            f"{slowest['analysis_ms'] / 1000:.2f} s, a floor no cache lowers"
        )

        print("\n(3) re-run with nothing new (all five, cache from the one-run pass)")
        again, result = ours(work / "together", list(targets.values()), args.workers)
        print(
            f"Bandit processes started: {result.stats['bandit_processes']} (target 0); "
            f"{again:.2f} s vs plain {plain_total:.1f} s = {plain_total / again:.0f}x; "
            f"files from cache {result.stats['files_from_cache']}/{result.stats['files']}"
        )
    server.shutdown()


if __name__ == "__main__":
    main()

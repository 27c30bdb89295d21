"""What an operator sees: progress, heartbeat, the run summary, one-line errors, the data root."""

from __future__ import annotations

import io
import json
import logging
import os
import re
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from full_home import full_sources
from rich.console import Console

from aggregators.cli.common import human_bytes
from aggregators.cli.main import main
from aggregators.cli.progress import RichProgress, setup_logging
from aggregators.core.progress import HeartbeatProgress
from helpers import ROOT, AdvisoryRepo, advisory_yaml


@pytest.fixture
def repo(advisory_repo: AdvisoryRepo, monkeypatch: pytest.MonkeyPatch, clean_env: None) -> Path:
    advisory_repo.write("vulns/flask/PYSEC-1.yaml", advisory_yaml("PYSEC-1", versions=("0.1",)))
    advisory_repo.write(
        "vulns/flask/PYSEC-2.yaml", advisory_yaml("PYSEC-2", versions=("0.9-eevee", "0.9-doduo"))
    )
    advisory_repo.commit()
    monkeypatch.setenv("SECKB_ADVISORY_DB_URL", advisory_repo.url)
    return advisory_repo.path


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


# ------------------------------------------------------------------ progress and logging


def test_log_lines_print_above_the_progress_bar(restore_logging: None) -> None:
    """On a terminal a warning clears the bar's line, prints on its own line, and the bar is
    drawn again below it (it used to be glued onto the bar's text)."""
    buffer = io.StringIO()
    console = Console(file=buffer, force_terminal=True, width=100)
    setup_logging(console, verbose=False)
    with RichProgress(console) as progress:
        progress.stage("parsing advisories", 10)
        progress.advance(3)
        time.sleep(0.15)
        logging.getLogger("aggregators.sources.x").warning("something odd in vulns/x.yaml")
        progress.advance(3)
        time.sleep(0.15)
    text = buffer.getvalue()
    line = next(part for part in text.split("\n") if "something odd" in part)
    printed = line.split("\x1b[2K")[-1]  # what follows the last "clear line"
    assert "something odd in vulns/x.yaml" in printed and "━" not in printed
    assert "parsing advisories" in text.split("something odd")[1]  # the bar comes back below


def test_heartbeat_line_has_done_total_rate_and_eta() -> None:
    now = [100.0]
    lines: list[str] = []
    beat = HeartbeatProgress(lines.append, interval=0, clock=lambda: now[0])
    beat.beat()
    assert lines == []  # nothing before the first stage
    beat.stage("scanning sdists with Bandit", 40)
    beat.advance(12)
    beat.detail("120/340 new files analysed")
    now[0] += 30
    beat.beat()
    assert lines == [
        "progress: scanning sdists with Bandit: 12/40 (30%), 0.40/s, ETA 1m10s, 30s elapsed; "
        "120/340 new files analysed"
    ]
    beat.stage("asking PyPI about projects")  # no total: no percentage, no ETA
    beat.advance(500)
    now[0] += 10
    beat.beat()
    assert lines[-1] == "progress: asking PyPI about projects: 500, 50/s, 10s elapsed"


def test_heartbeat_keeps_beating_while_a_stage_is_stuck() -> None:
    lines: list[str] = []
    done = threading.Event()

    def write(line: str) -> None:
        lines.append(line)
        if len(lines) >= 3:
            done.set()

    with HeartbeatProgress(write, interval=0.05) as beat:
        beat.stage("downloading", 5)  # and never advances
        assert done.wait(5)
    assert all(line.startswith("progress: downloading: 0/5 (0%)") for line in lines)


def test_without_a_terminal_ingest_prints_a_heartbeat(
    repo: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """cron, CI: stderr is not a terminal, and a long run says it is alive at a steady
    interval (here every 10 ms, so even this short run beats)."""
    env = {**os.environ, "SECKB_HEARTBEAT_SECONDS": "0.01", "SECKB_ADVISORY_DB_URL": str(repo)}
    done = subprocess.run(
        [sys.executable, "-m", "aggregators.cli.main", "ingest", "--home", str(tmp_path / "h")],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=120,
    )
    beats = [line for line in done.stderr.splitlines() if line.startswith("progress: ")]
    assert beats, done.stderr
    assert all(" elapsed" in line for line in beats)


# ------------------------------------------------------------------ the summary


def test_the_summary_is_one_line_per_source_and_counts_problems_once(
    repo: Path, advisory_repo: AdvisoryRepo, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = str(tmp_path / "home")
    assert main(["ingest", "--home", home, "--sources", "advisories"]) == 0
    first = capsys.readouterr()
    assert "advisories: updated to main@" in first.out and "2 new" in first.out
    assert "tables changed: " in first.out and "advisories 2 (new)" in first.out
    assert "data problems: 2 recorded upstream, 2 new (seckb errors lists them)" in first.out
    assert "advisories warning: 2 × version '…' is not PEP 440; kept as text" in first.out
    assert "warning:" not in first.err  # a first run has nothing "new since" to warn about

    advisory_repo.write("vulns/flask/PYSEC-3.yaml", advisory_yaml("PYSEC-3"))
    advisory_repo.commit()
    assert main(["ingest", "--home", home, "--sources", "advisories"]) == 0
    second = capsys.readouterr()
    assert "1 new" in second.out
    changed = next(line for line in second.out.splitlines() if line.startswith("tables changed"))
    assert "advisories 3 (+1)" in changed
    assert "ingest_errors" not in changed  # untouched tables are not listed
    assert "data problems: 2 recorded upstream, 0 new since the previous snapshot" in second.out
    assert "× version" not in second.out  # the same problems are not listed again
    assert "warning:" not in second.err

    advisory_repo.write(
        "vulns/flask/PYSEC-4.yaml", advisory_yaml("PYSEC-4", versions=("1.0-final",))
    )
    advisory_repo.commit()
    assert main(["ingest", "--home", home, "--sources", "advisories"]) == 0
    third = capsys.readouterr()
    assert "warning: 1 new upstream data problem(s) since the previous snapshot" in third.err
    assert "3 × version '…' is not PEP 440; kept as text, 1 new" in third.out


def test_a_full_run_reads_at_a_glance(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    clean_env: None,
) -> None:
    home = str(tmp_path / "home")
    with full_sources(tmp_path) as env:
        for name, value in env.items():
            monkeypatch.setenv(name, value)
        assert main(["ingest", "--home", home]) == 0
        out = capsys.readouterr().out
        assert main(["ingest", "--home", home, "--sources", "bandit,scorecards", "-v"]) == 0
        verbose = capsys.readouterr().out
    assert "pypi: updated: 2 projects asked (2 answered); 3 releases" in out
    bandit = next(line for line in out.splitlines() if line.startswith("bandit: "))
    assert bandit.startswith("bandit: updated: 3 releases analysed (3 scanned whole), 3 files, ")
    assert re.search(r", \d+ findings, \d+ bytes downloaded$", bandit)  # tiny sdists here
    assert "scorecards: updated: 2 repositories asked (2 scored)" in out
    assert "internals" not in out and "processes" not in out and "cache parts" not in out
    assert "bandit: unchanged: nothing new to analyse; 3 analyses carried forward" in verbose
    assert "scorecards: unchanged: 0 repositories asked, 2 still fresh" in verbose
    assert "  internals: " in verbose


def test_sizes_are_in_human_units() -> None:
    assert [human_bytes(n) for n in (462, 460_702, 12_345_678, 2_100_000_000)] == [
        "462 bytes",
        "460.7 kB",
        "12.3 MB",
        "2.1 GB",
    ]


# ------------------------------------------------------------------ errors in one line


def test_seckb_errors_lists_the_problems_of_the_latest_snapshot(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = str(tmp_path / "home")
    assert main(["errors", "--home", home]) == 2
    assert f"no snapshots yet in {tmp_path / 'home' / 'snapshots'}" in capsys.readouterr().err
    assert main(["ingest", "--home", home, "--sources", "advisories"]) == 0
    capsys.readouterr()
    assert main(["errors", "--home", home]) == 0
    out = capsys.readouterr().out
    assert "0.9-eevee" in out and "vulns/flask/PYSEC-2.yaml" in out
    assert "2 problem(s) in snapshot" in out and "advisories warning: version '…'" in out
    assert main(["errors", "--home", home, "--source", "pypi"]) == 0
    assert "no data problems from pypi recorded" in capsys.readouterr().out
    assert main(["errors", "--home", home, "--source", "advisories", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["schema"] == "seckb.errors/1" and doc["count"] == 2
    assert {e["advisory_id"] for e in doc["errors"]} == {"PYSEC-2"}
    assert doc["by_kind"] == [
        {
            "source": "advisories",
            "level": "warning",
            "kind": "version '…' is not PEP 440; kept as text",
            "count": 2,
        }
    ]
    assert main(["errors", "--home", home, "--source", "nope"]) == 2
    assert "unknown source 'nope'" in capsys.readouterr().err


def test_sql_errors_are_one_line(
    repo: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    home = str(tmp_path / "home")
    assert main(["ingest", "--home", home, "--sources", "advisories"]) == 0
    capsys.readouterr()
    assert main(["sql", "SELECT nope FROM advisories", "--home", home]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1
    assert err.startswith("error: SQL error: Binder Error: Referenced column")
    assert "^" not in err


def test_errors_and_warnings_are_not_wrapped_without_a_terminal(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], clean_env: None
) -> None:
    name = "x" * 150
    assert main(["ingest", "--home", str(tmp_path), "--sources", name]) == 2
    err = capsys.readouterr().err
    assert len(err.strip().splitlines()) == 1 and len(err.strip()) > 160


def test_a_log_warning_is_one_unwrapped_line_without_a_terminal(restore_logging: None) -> None:
    buffer = io.StringIO()
    setup_logging(Console(file=buffer, width=80), verbose=False)
    logging.getLogger("aggregators.sources.x").warning("a long warning " + "w" * 200)
    lines = buffer.getvalue().strip().splitlines()
    assert len(lines) == 1 and lines[0].endswith("w" * 200)


def _run_unprivileged(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "aggregators.cli.main", *args]
    if os.geteuid() == 0:  # root writes anywhere: run as nobody, as a real user would be
        setpriv = shutil.which("setpriv")
        if setpriv is None:
            pytest.skip("running as root and setpriv is not installed")
        command = [setpriv, "--reuid=65534", "--regid=65534", "--clear-groups", *command]
    return subprocess.run(command, capture_output=True, text=True, env=env, cwd=ROOT, timeout=120)


def test_a_read_only_data_root_is_one_line_in_plain_words(repo: Path) -> None:
    base = Path(tempfile.mkdtemp(prefix="seckb-readonly-"))
    try:
        base.chmod(0o755)
        home = base / "home"
        home.mkdir()
        home.chmod(0o555)
        mirror = base / "db.git"
        subprocess.run(["git", "clone", "-q", "--bare", str(repo), str(mirror)], check=True)
        subprocess.run(["chmod", "-R", "a+rX", str(mirror)], check=True)
        env = {"PATH": os.environ["PATH"], "HOME": str(base), "SECKB_ADVISORY_DB_URL": str(mirror)}
        done = _run_unprivileged(["ingest", "--home", str(home), "--sources", "advisories"], env)
    finally:
        (base / "home").chmod(0o755)
        shutil.rmtree(base, ignore_errors=True)
    assert done.returncode == 2, done.stderr
    assert done.stderr == (
        f"error: cannot write to the data root {home}: permission denied ({home / 'cache'})\n"
    )
    assert "Errno" not in done.stderr and "PermissionError" not in done.stderr


# ------------------------------------------------------------------ where the data root is


def test_every_command_says_where_it_looked(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
    clean_env: None,
) -> None:
    """With no --home, the data root is ~/.local/share/seckb wherever seckb runs from, and a
    command that finds nothing says where it looked."""
    monkeypatch.setenv("HOME", str(tmp_path / "user"))
    monkeypatch.delenv("XDG_DATA_HOME", raising=False)
    monkeypatch.chdir(tmp_path)
    expected = tmp_path / "user" / ".local" / "share" / "seckb" / "snapshots"
    assert main(["snapshots"]) == 0
    assert capsys.readouterr().out.strip() == f"no snapshots yet in {expected}"
    for argv in (["query", "flask"], ["errors"], ["sql", "SELECT 1"], ["diff"]):
        assert main(argv) == 2, argv
        err = capsys.readouterr().err
        assert str(expected.parent) in err, (argv, err)

"""Regression: Bandit workers forked from a process that has already queried snapshots (pyarrow,
DuckDB: hundreds of MiB of mapped address space) must still analyse. The memory limit bounds what
a worker adds, not what it inherits."""

from __future__ import annotations

from pathlib import Path

from fakes import make_sdist, serve_project, serving
from kb_snapshots import build_home

from aggregators.cli.main import main
from aggregators.core.config import load_settings
from aggregators.run.ingest import ingest
from helpers import AdvisoryRepo, advisory_yaml


def test_bandit_after_cli_queries_in_the_same_process(
    tmp_path: Path, advisory_repo: AdvisoryRepo, clean_env: None
) -> None:
    home, _ids = build_home(tmp_path / "kb")
    assert main(["recommend", "flask", "--home", str(home)]) == 0
    assert main(["sql", "SELECT count(*) FROM advisories", "--home", str(home)]) == 0
    advisory_repo.write("vulns/flask/PYSEC-1.yaml", advisory_yaml("PYSEC-1", fixed="0.12.3"))
    advisory_repo.commit()
    with serving() as pypi:
        code = "import subprocess\n\ndef run(cmd):\n    subprocess.call(cmd, shell=True)\n"
        serve_project(pypi, "flask", {"0.12.2": make_sdist("flask", "0.12.2", {"app.py": code})})
        settings = load_settings(
            env={},
            home=tmp_path / "home",
            advisory_db_url=advisory_repo.url,
            pypi_url=pypi.url,
            bandit_memory_mb=512,
        )
        report = ingest(settings, "advisories,pypi,bandit")
    assert report.snapshot is not None
    scans = report.snapshot.read("bandit_scans")
    assert scans is not None
    assert scans.column("status").to_pylist() == ["scanned"]

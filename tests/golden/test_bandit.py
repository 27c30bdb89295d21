"""Golden test of the Bandit stage: sdist -> safe extraction -> Bandit per file -> rows."""

from __future__ import annotations

import gzip
import hashlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from golden.bandit.make_sdist import build_tar
from golden.golden import Golden

from aggregators.sources.bandit.engine import analyse_file, bandit_version
from aggregators.sources.bandit.extract import Limits, extract_python_files, stored_path
from aggregators.sources.bandit.rows import ReleaseInfo, analysed_release_rows

HERE = Path(__file__).parent / "bandit"
SDIST = HERE / "input" / "goldenpkg-1.0.tar.gz"
EXPECTED = HERE / "expected"
LIMITS = Limits(max_members=50, max_total_bytes=1 << 20, max_file_bytes=2048)
SCANNED_AT = datetime(2026, 12, 2, 12, 0, tzinfo=UTC)
VARIABLE = ("bandit_version", "duration_ms")
"""Scan row fields left out: they differ between machines and runs, not between outputs."""
TABLES = ("extraction", "bandit_scans", "bandit_findings", "bandit_errors")


@pytest.fixture(scope="module")
def produced(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """Every stage's output for the fixture sdist, keyed by expected file stem."""
    dest = tmp_path_factory.mktemp("extracted")
    extraction = extract_python_files(SDIST, dest, LIMITS)
    results = {
        f.sha256: analyse_file(f.sha256, stored_path(dest, f.sha256)) for f in extraction.files
    }
    info = ReleaseInfo(
        package="goldenpkg",
        version="1.0",
        sdist_filename=SDIST.name,
        sdist_sha256=hashlib.sha256(SDIST.read_bytes()).hexdigest(),
        bandit_version=bandit_version(),
        config_hash="golden-config",
        scanned_at=SCANNED_AT,
    )
    scan, findings, errors = analysed_release_rows(
        info, extraction.files, extraction.skipped, results, files_from_cache=0, duration_ms=0
    )
    return {
        "extraction": extraction,
        "bandit_scans": [{k: v for k, v in scan.items() if k not in VARIABLE}],
        "bandit_findings": findings,
        "bandit_errors": errors,
    }


@pytest.mark.parametrize("table", TABLES)
def test_bandit_rows(table: str, produced: dict[str, Any], golden: Golden) -> None:
    golden.check(EXPECTED / f"{table}.json", produced[table])


def test_sdist_matches_its_builder() -> None:
    """The committed archive is what make_sdist.py builds (compared uncompressed)."""
    assert gzip.decompress(SDIST.read_bytes()) == build_tar(), "re-run make_sdist.py"


def test_every_expected_file_has_an_input(golden: Golden) -> None:
    golden.check_no_orphans(EXPECTED, [f"{table}.json" for table in TABLES])

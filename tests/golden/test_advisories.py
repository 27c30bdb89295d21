"""Golden tests of the advisory source: OSV files -> rows, and rows -> affected versions."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import pytest
from golden.golden import Golden

from aggregators.knowledge.affected_table import build_affected_versions
from aggregators.sources.advisories.osv import ParsedFile, parse_advisory
from aggregators.sources.advisories.source import to_batch

HERE = Path(__file__).parent / "advisories"
INPUT = HERE / "input"
EXPECTED = HERE / "expected"
COMMIT = "46bc8dad4f88a118785f37497f5802db364974a5"
"""HEAD of /work/shared/data/advisory-db-2023.bundle, where the real files come from."""

FILES = sorted(p.relative_to(INPUT).as_posix() for p in (INPUT / "vulns").rglob("*.yaml"))
AFFECTED = "affected_versions.json"


def blob_id(data: bytes) -> str:
    """The git blob id of ``data`` (what the source records as ``source_blob``)."""
    return hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest()


def parse(path: str) -> ParsedFile:
    """Parse one input file under its advisory-db path (``vulns/<package>/<file>``)."""
    data = (INPUT / path).read_bytes()
    return parse_advisory(path, data, COMMIT, blob_id(data))


def expected_name(path: str) -> str:
    """One expected file per input, named after the input's stem."""
    return f"{Path(path).stem}.json"


@pytest.mark.parametrize("path", FILES)
def test_parse_advisory(path: str, golden: Golden) -> None:
    golden.check(EXPECTED / expected_name(path), parse(path))


def test_affected_versions(golden: Golden) -> None:
    tables = to_batch([parse(path) for path in FILES]).tables
    releases: dict[str, list[str]] = json.loads((INPUT / "releases.json").read_text())
    affected = build_affected_versions(
        tables["advisories"], tables["advisory_packages"], tables["advisory_ranges"], releases
    )
    golden.check(EXPECTED / AFFECTED, affected.to_pylist())


def test_every_expected_file_has_an_input(golden: Golden) -> None:
    names = [expected_name(path) for path in FILES]
    assert len(set(names)) == len(names), "two inputs share a stem"
    golden.check_no_orphans(EXPECTED, [*names, AFFECTED])

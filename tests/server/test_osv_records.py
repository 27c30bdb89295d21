"""The ``osv_records`` table: each advisory kept, with its own OSV document as the advisory-db has
it (YAML turned into JSON, timestamps as RFC 3339 text), whichever YAML parser read the file."""

from __future__ import annotations

import json
import subprocess
from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import yaml

from aggregators.core.clock import parse_timestamp
from aggregators.core.config import load_settings
from aggregators.core.workspace import Workspace
from aggregators.run.ingest import ingest
from aggregators.sources.advisories.fastyaml import SafeLoader, load_yaml
from aggregators.sources.advisories.osv import json_ready, parse_advisory, rfc3339
from aggregators.store.snapshots import SnapshotStore


def test_rfc3339() -> None:
    assert (
        rfc3339(datetime(2021, 8, 25, 4, 30, 9, 712538, tzinfo=UTC))
        == "2021-08-25T04:30:09.712538Z"
    )
    assert rfc3339(datetime(2021, 3, 22, 16, 34, tzinfo=UTC)) == "2021-03-22T16:34:00Z"
    plus_two = timezone(timedelta(hours=2))
    assert rfc3339(datetime(2021, 3, 22, 18, 34, tzinfo=plus_two)) == "2021-03-22T16:34:00Z"
    assert rfc3339(datetime(2021, 3, 22, 16, 34)) == "2021-03-22T16:34:00Z"  # naive: UTC
    assert rfc3339(date(2021, 3, 22)) == "2021-03-22"


def test_json_ready_makes_any_safe_yaml_value_json() -> None:
    text = (
        "a: 2021-08-25T04:30:09.712538Z\nb: !!binary aGk=\nc: !!set {x, y}\n1: .inf\n"
        "d: 2020-01-02\n"
    )
    value = json_ready(yaml.load(text, Loader=SafeLoader))
    assert value == {
        "a": "2021-08-25T04:30:09.712538Z",
        "b": "aGk=",
        "c": ["x", "y"],
        "1": "inf",
        "d": "2020-01-02",
    }
    json.dumps(value, allow_nan=False)


ADVISORY = b"""id: PYSEC-2018-66
details: 'Flask before 0.12.3: large memory use'
affected:
- package:
    name: flask
    ecosystem: PyPI
  ranges:
  - type: ECOSYSTEM
    events:
    - introduced: '0'
    - fixed: 0.12.3
aliases:
- CVE-2018-1000656
modified: 2021-08-25T04:30:09.712538Z
published: '2018-08-20T19:31:00Z'
"""


def test_both_yaml_paths_give_the_same_document() -> None:
    fast = json_ready(load_yaml(ADVISORY))
    reference = json_ready(yaml.load(ADVISORY.decode(), Loader=SafeLoader))  # typed timestamp
    assert fast == reference
    parsed = parse_advisory("vulns/flask/PYSEC-2018-66.yaml", ADVISORY, "c0", "b0")
    assert parsed.record is not None
    assert json.loads(parsed.record["record"]) == reference
    assert list(json.loads(parsed.record["record"])) == [
        "id",
        "details",
        "affected",
        "aliases",
        "modified",
        "published",
    ]
    assert parsed.record["modified"] == "2021-08-25T04:30:09.712538Z"
    assert parsed.record["withdrawn"] is None and parsed.record["aliases"] == ["CVE-2018-1000656"]


def test_every_advisory_file_of_the_bundle_is_kept_as_written(bundle: Path, tmp_path: Path) -> None:
    home = tmp_path / "home"
    ingest(load_settings(env={}, home=home, advisory_db_url=str(bundle)), "advisories")
    snapshot = SnapshotStore(Workspace(home)).latest()
    assert snapshot is not None
    records = snapshot.read("osv_records")
    advisories = snapshot.read("advisories")
    assert records is not None and advisories is not None
    assert records.column("id").to_pylist() == advisories.column("id").to_pylist()
    assert records.column("aliases").to_pylist() == advisories.column("aliases").to_pylist()
    checkout = tmp_path / "checkout"
    subprocess.run(["git", "clone", "-q", str(bundle), str(checkout)], check=True)
    exact = 0
    for row in records.to_pylist():
        source = (checkout / row["source_path"]).read_bytes()
        expected = json_ready(yaml.load(source.decode(), Loader=SafeLoader))
        document = json.loads(row["record"])
        exact += document == expected
        # Unquoted timestamps: libyaml (above) types them and they are written back with six
        # fraction digits; the fast path keeps the file's text ("...:05.12345Z"). Same instant.
        for key in ("modified", "published", "withdrawn"):
            if key in expected:
                assert parse_timestamp(document.pop(key)) == parse_timestamp(expected.pop(key))
        assert document == expected, row["id"]
    assert exact > 2500

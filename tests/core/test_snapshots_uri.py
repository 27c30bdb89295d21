"""The Airflow asset's URI: valid (percent-encoded) whatever the data root or store path."""

from __future__ import annotations

from pathlib import Path

import pytest

from aggregators.core.workspace import snapshots_uri


def test_a_data_root_with_a_space_gives_a_valid_file_uri(tmp_path: Path) -> None:
    home = tmp_path / "my data"
    assert snapshots_uri("", home / "snapshots") == (home / "snapshots").as_uri()
    assert "%20" in snapshots_uri("", home / "snapshots")
    assert snapshots_uri(str(home), tmp_path) == (home / "snapshots").as_uri()


def test_an_object_store_uri_keeps_its_bucket_and_encodes_its_prefix() -> None:
    assert snapshots_uri("s3://kb/prod", Path("/x")) == "s3://kb/prod/snapshots"
    assert snapshots_uri("s3://kb/", Path("/x")) == "s3://kb/snapshots"
    assert snapshots_uri("gs://kb/team a/#1", Path("/x")) == "gs://kb/team%20a/%231/snapshots"


def test_airflow_accepts_the_uri(tmp_path: Path) -> None:
    asset = pytest.importorskip("airflow.sdk").Asset
    made = asset(name="seckb_snapshot", uri=snapshots_uri("", tmp_path / "a b" / "snapshots"))
    assert made.uri.startswith("file://") and " " not in made.uri

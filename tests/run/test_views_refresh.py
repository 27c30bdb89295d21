"""``seckb.duckdb`` is rebuilt when ``LATEST`` names another snapshot, and only then — also when
runs publish to a store other than the data root (where there is no local ``LATEST`` file)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from aggregators.core.config import Settings
from aggregators.core.workspace import Workspace
from aggregators.run.ingest import ingest
from helpers import AdvisoryRepo, advisory_yaml


def test_a_no_change_night_does_not_rebuild_the_database(
    advisory_repo: AdvisoryRepo, tmp_path: Path, make_settings: Callable[..., Settings]
) -> None:
    advisory_repo.write("vulns/flask/PYSEC-1.yaml", advisory_yaml("PYSEC-1"))
    advisory_repo.commit()
    settings = make_settings(advisory_repo.url, store_url=str(tmp_path / "store"))
    database = Workspace(settings.home).duckdb
    first = ingest(settings, "advisories")
    assert first.published and database.is_file()
    built = database.stat()
    again = ingest(settings, "advisories")
    assert not again.published
    assert database.stat().st_ino == built.st_ino  # not replaced: nothing moved
    database.unlink()  # lost (or left behind by a crash): rebuilt on the next run
    ingest(settings, "advisories")
    assert database.is_file()
    advisory_repo.write("vulns/flask/PYSEC-2.yaml", advisory_yaml("PYSEC-2"))
    advisory_repo.commit()
    before = database.stat().st_ino
    assert ingest(settings, "advisories").published
    assert database.stat().st_ino != before  # LATEST moved: rebuilt

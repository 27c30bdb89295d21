"""``store_url`` as a local path other than the data root (a mounted share, say): runs publish
there — the snapshots, staged Airflow runs and Bandit cache parts — and keep their scratch in the
data root, with the local semantics (rename into place, ``LATEST`` under an ``flock``)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from aggregators.core.config import Settings
from aggregators.run.ingest import ingest
from aggregators.run.tasks import publish_run, run_source
from aggregators.store.locations import open_published
from helpers import AdvisoryRepo, advisory_yaml


def test_a_local_store_path_holds_what_runs_publish(
    advisory_repo: AdvisoryRepo, make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    advisory_repo.write("vulns/flask/PYSEC-1.yaml", advisory_yaml("PYSEC-1"))
    advisory_repo.commit()
    store = tmp_path / "share"
    settings = make_settings(advisory_repo.url, store_url=str(store))
    report = ingest(settings, "advisories")
    assert report.published and report.snapshot is not None
    assert (store / "snapshots" / "LATEST").read_text().strip() == report.snapshot.id
    assert not (settings.home / "snapshots" / "LATEST").exists()  # the data root is scratch
    reader = make_settings(advisory_repo.url, home=tmp_path / "reader", snapshot_url=str(store))
    assert open_published(reader).id == report.snapshot.id

    advisory_repo.write("vulns/flask/PYSEC-2.yaml", advisory_yaml("PYSEC-2", fixed="2.0"))
    advisory_repo.commit()
    run_source("run-1", "advisories", settings)
    assert (store / "runs" / "run-1" / "advisories" / "result.json").is_file()
    outcome = publish_run("run-1", settings)
    assert outcome["published"]
    assert open_published(reader).id == outcome["snapshot_id"]
